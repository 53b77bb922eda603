"""The send path's notice mail: a hold the mail program cannot show reaches the person's inbox.

aerc 0.14 throws away everything sendmail writes and shows only ``exit status 75``; a desktop
notification needs a desktop, and the notices file waits for the next ``sendguard`` command. The
inbox is where the person looks, on every device. So a message held or blocked for a caller that
shows nothing (``render.caller_shows``) is also mailed to the person's own address, through their
own transport, as sendguard delivers (``delivery.transport_argv``: the caller's options, one
recipient after ``--``).

The send path only starts it (:func:`mail_later`): a detached process (``detached.spawn_module``)
that gets its job on a pipe (fd 3: nothing of it in a command line others can read), so neither
the mail program nor the resident checker's next mail waits for the transport. One notice per
kept message: the child claims it with a file in the entry's directory, made with O_EXCL, before
the transport runs. What goes wrong is one entry in the notices file (act/notices.py); the exit
code and the kept message are settled before the child starts.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sendguard import detached

CLAIM = "notice-mail.json"
"""In the entry's directory: the notice mail for it was started (to whom, when, how it went)."""
MAX_JOB = 60_000  # a pipe takes 64 kB without a reader: the job is written before the child runs


def recipient(sender: str, own: Sequence[str]) -> str | None:
    """Whom the notice goes to: the message's From when it is one of the person's own
    addresses (``[identity] addresses``), else the first of those; None when that is not one
    plain address (no notice mail then: the other notices still happen)."""
    from sendguard.act.notice_texts import deliverable
    from sendguard.mail.addresses import parse_address_list

    mailboxes = parse_address_list(sender).mailboxes
    addr = mailboxes[0].addr.lower() if mailboxes else ""
    own = [a.strip() for a in own if a.strip()]
    chosen = next((a for a in own if a.lower() == addr), own[0] if own else "")
    return chosen if deliverable(chosen) else None


def mail_later(
    entry_path: Path,
    to: str,
    config_path: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    aerc: bool = False,
) -> bool:
    """Start the detached child that mails the notice for the entry at ``entry_path``; True if
    it started. ``env`` and ``cwd``: the caller's (the transport's passwordeval needs them)."""
    job = json.dumps(
        {
            "entry": str(entry_path),
            "to": to,
            "config": str(config_path) if config_path else "",
            "cwd": cwd or os.getcwd(),
            "aerc": aerc,
        }
    ).encode()
    if len(job) > MAX_JOB:
        return False
    read, write = os.pipe()
    try:
        os.write(write, job)
        os.close(write)
        write = -1
        detached.spawn_module(__name__, env=env, pass_fd=read)
    except OSError:
        return False  # no process to be had: the desktop and the notices file still say it
    finally:
        for fd in (read, write):
            if fd >= 0:
                os.close(fd)
    return True


def _sendguard_command(env: Mapping[str, str]) -> str:
    """The ``sendguard`` the person runs: the one beside this Python (a venv), else on PATH."""
    import shutil

    beside = Path(sys.executable).with_name("sendguard")
    if beside.is_file():
        return str(beside)
    return shutil.which("sendguard", path=env.get("PATH")) or "sendguard"


def _claim(entry_path: Path) -> int | None:
    """The claim file's descriptor, or None: a notice for this entry was started already."""
    try:
        return os.open(entry_path / CLAIM, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None


def _note(fd: int, record: dict[str, Any]) -> None:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode() + b"\n", 0)
    except OSError:
        return  # the claim is what counts; the record is for a person reading the entry


def send(job: dict[str, Any]) -> str:
    """Mail the notice of ``job`` (see :func:`mail_later`): "sent", "already" (claimed before),
    or why not. Raises nothing: this runs where nobody would see an exception."""
    import subprocess
    import time

    from sendguard.act import notice_texts, notices
    from sendguard.act import queue as q
    from sendguard.act.delivery import transport_argv
    from sendguard.config import schema as config_mod
    from sendguard.errors import SendguardError
    from sendguard.printable import printable

    entry_path, to = Path(job["entry"]), str(job["to"])
    state_dir = entry_path.parent.parent  # STATE/queue/ID
    entry_id = entry_path.name

    def failed(why: str) -> str:
        notices.add(  # no id: it must not stand in for the hold's own notice (latest_per_message)
            state_dir,
            "notice-mail-failed",
            "",
            printable(f"sendguard could not mail you the notice about {entry_id}"),
            [printable(line) for line in why.split("\n") if line.strip()][:6]
            + [f"sendguard queue list · sendguard review · sendguard release {entry_id}"],
        )
        return why

    if not entry_path.is_dir():
        return "gone"  # discarded and pruned meanwhile
    try:
        meta = q.read_meta(entry_path)
        config = config_mod.load(Path(job["config"]) if job["config"] else None, required=bool(job["config"]))
    except (OSError, ValueError, SendguardError) as err:
        return failed(f"its message or the config could not be read: {err}")
    if meta.get("state") not in (q.HELD, q.BLOCKED):
        return "no longer held"  # released or discarded meanwhile: the mailbox needs no word of it
    fd = _claim(entry_path)
    if fd is None:
        return "already"
    try:
        record: dict[str, Any] = {"to": to, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        _note(fd, record)
        env = dict(os.environ)
        try:
            text = notice_texts.kept_by_sendmail(
                to,
                meta,
                entry_id,
                blocked=meta.get("state") == q.BLOCKED,
                now=time.time(),
                sendguard=_sendguard_command(env),
                aerc=bool(job.get("aerc")),
            )
            argv = transport_argv(config, {"options": list(meta.get("options", [])), "recipients": [to]}, env)
            proc = subprocess.run(
                argv,
                input=text,
                capture_output=True,
                timeout=config.transport.timeout,
                check=False,
                cwd=job["cwd"] if os.path.isdir(job.get("cwd") or "") else None,
            )
        except subprocess.TimeoutExpired:
            outcome = f"the transport took longer than {config.transport.timeout:g} s"
        except (OSError, ValueError, SendguardError) as err:
            outcome = f"the transport could not be run: {err}"
        else:
            said = proc.stderr.decode("utf-8", "replace").strip()
            outcome = "sent" if proc.returncode == 0 else f"the transport failed (exit {proc.returncode}): {said}"
        _note(fd, {**record, "outcome": outcome, "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    finally:
        os.close(fd)
    return outcome if outcome == "sent" else failed(f"to {to}: {outcome}")


def main() -> None:
    """The detached child: its job on fd 3 (``detached.PASSED_FD``)."""
    chunks = []
    while chunk := os.read(detached.PASSED_FD, 1 << 16):
        chunks.append(chunk)
    os.close(detached.PASSED_FD)
    job = json.loads(b"".join(chunks))
    try:
        send(job)
    except Exception as err:  # noqa: BLE001 — nobody sees this process: say it where the person looks
        from sendguard.act import notices

        entry = Path(job["entry"])
        notices.add(
            entry.parent.parent,
            "notice-mail-failed",
            "",
            f"sendguard could not mail you the notice about {entry.name}",
            [f"internal error: {type(err).__name__}", f"sendguard queue list · sendguard release {entry.name}"],
        )


if __name__ == "__main__":
    main()
