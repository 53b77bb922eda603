"""sendmail's modes besides sending: ``--help``, ``--version``, ``-bp`` (list the queue) and
``-q`` (deliver what is due), as sendmail and msmtpq offer them. None of them reads a message or
keeps anything; a mode sendguard does not offer (-bv, -bs, ...) exits 64 with one line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from sendguard.errors import SendguardError, UsageError
from sendguard.exitcodes import ExitCode
from sendguard.sendpath.args import UnsupportedMode, parse

USAGE = """\
usage: sendguard-sendmail [SENDMAIL-OPTIONS] [--] [RECIPIENT...] < MESSAGE

Reads one message on stdin, checks it, and hands it to the transport (msmtp) or holds it.
Options are passed to the transport as given; -t also takes recipients from To, Cc and Bcc.

  -bp          list sendguard's queue (what is held, deferred or waiting)
  -q           deliver what is due now (deferred, released, past its undo window)
  --help       this text
  --version    the version

Held mail: sendguard review, sendguard release ID, sendguard discard ID.
"""


def run(argv: list[str], config: str, out: TextIO | None = None, err: TextIO | None = None) -> int | None:
    """Handle ``argv`` if it asks for a mode other than sending; None: it is a mail, send it."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = parse(argv)
    except UnsupportedMode as error:
        err.write(f"sendguard: error: {error.message}; nothing was read or kept.\n")
        return int(ExitCode.USAGE)
    except UsageError:
        return None  # a malformed mail call: the send path keeps the message and says so
    if args.mode == "send":
        return None
    if args.mode == "help":
        out.write(USAGE)
        return int(ExitCode.OK)
    if args.mode == "version":
        from sendguard import __version__

        out.write(f"sendguard-sendmail (sendguard) {__version__}\n")
        return int(ExitCode.OK)
    try:
        return _queue_mode(args.mode, Path(config) if config else None, out)
    except SendguardError as error:
        lines = error.details()
        err.write("".join([f"sendguard: error: {lines[0]}\n", *(f"  {line}\n" for line in lines[1:])]))
        return int(error.exit_code)


def _queue_mode(mode: str, config_path: Path | None, out: TextIO) -> int:
    from sendguard.act import listing
    from sendguard.act import queue as q

    queue = q.Queue.default()
    if mode == "list":
        shown = 0
        for entry in listing.entries(queue):
            out.write("".join(f"{line}\n" for line in listing.text_lines(entry)))
            shown += 1
        out.write(f"{shown} kept (sendguard review shows them)\n" if shown else "sendguard's queue is empty\n")
        return int(ExitCode.OK)
    from sendguard.act.ops import run_due
    from sendguard.config import schema as config_mod

    report = run_due(queue, config_mod.load(config_path, required=config_path is not None))
    out.write("".join(f"{line}\n" for line in report.lines) or "nothing was due\n")
    return report.exit_code
