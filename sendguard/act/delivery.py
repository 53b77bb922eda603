"""Act: hand a kept message to the transport, exactly once, and record what happened.

The transport (``[transport] command``, msmtp by default) gets the bytes that were kept
(without Bcc fields), the caller's sendmail options (without -t: the recipients checked are
the recipients sent), and the recipients after ``--``, so an address that begins with ``-``
is never read as an option. Its exit code comes back unchanged.

Only call :func:`deliver` while holding the entry's lock (queue.py). The state goes
``sending`` before the transport starts and ``delivered`` / ``deferred`` / ``failed`` after;
a crash in between leaves ``sending``, which queue.py reports as interrupted, never resends.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping

from sendguard.act import queue as q
from sendguard.clock import now_iso
from sendguard.config.schema import Config
from sendguard.errors import DeliveryError
from sendguard.exitcodes import ExitCode
from sendguard.mail.addresses import without_bcc


def transport_argv(config: Config, meta: q.Meta) -> list[str]:
    """The transport command line for a queued entry."""
    argv = [*config.transport.command, *meta.get("options", [])]
    recipients = meta.get("recipients", [])
    if recipients:
        argv += ["--", *recipients]
    return argv


def deliver(entry: q.Entry, config: Config, *, env: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
    """Run the transport for ``entry``; raise DeliveryError if it failed (the entry is kept).

    ``env`` and ``cwd``: the caller's, when this runs for someone else (the resident checker
    delivers for its client, whose PATH, GPG agent and DISPLAY msmtp's passwordeval needs)."""
    argv = transport_argv(config, entry.meta)
    entry.save(state=q.SENDING, event="sending", transport=argv)
    # The Bcc fields never reach the recipients, whatever the transport's own settings
    # (msmtp's remove_bcc_headers can be turned off in its config).
    raw = without_bcc(entry.raw())
    try:
        proc = subprocess.run(
            argv, input=raw, capture_output=True, timeout=config.transport.timeout, check=False, env=env, cwd=cwd
        )
    except FileNotFoundError:
        entry.save(state=q.DEFERRED, event="transport missing", transport_error=f"{argv[0]}: not found")
        raise DeliveryError(
            f"the transport {argv[0]!r} was not found; the message is kept as {entry.id}",
            exit_code=ExitCode.TEMPFAIL,
            hints=["install it or set [transport] command, then run `sendguard queue run`"],
        ) from None
    except PermissionError:
        entry.save(state=q.DEFERRED, event="transport not executable", transport_error=f"{argv[0]}: permission denied")
        raise DeliveryError(
            f"the transport {argv[0]!r} cannot be run (permission denied); kept as {entry.id}",
            exit_code=ExitCode.TEMPFAIL,
        ) from None
    except subprocess.TimeoutExpired:
        # It may have handed the message over before hanging: never resend without a person.
        entry.save(state=q.INTERRUPTED, event="transport timed out")
        raise DeliveryError(
            f"the transport took longer than {config.transport.timeout:g} s; the message "
            f"{entry.id} may or may not have left",
            exit_code=ExitCode.TEMPFAIL,
            hints=["check your sent mail, then `sendguard release` or `sendguard discard` it"],
        ) from None
    stderr = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode == 0:
        entry.save(
            state=q.DELIVERED, event="delivered", delivered=now_iso(time.time()), transport_exit=0, durable=False
        )  # a power cut leaves "sending": interrupted, never resent (Entry.save)
        return
    state = q.DEFERRED if proc.returncode == ExitCode.TEMPFAIL else q.FAILED
    entry.save(
        state=state,
        event=f"transport exit {proc.returncode}",
        transport_exit=proc.returncode,
        transport_error=stderr[-2000:],
    )
    hint = (
        "`sendguard queue run` tries again"
        if state == q.DEFERRED
        else f"fix the cause, then `sendguard release {entry.id}`"
    )
    raise DeliveryError(
        f"the transport failed (exit {proc.returncode}): {stderr or 'no message'}; the message is kept as {entry.id}",
        exit_code=proc.returncode,
        stderr=stderr,
        hints=[hint],
    )
