"""Hand a kept message to the transport, exactly once, and record what its exit proves.

Call :func:`deliver` only while holding the entry's lock. The transport gets the envelope that
was checked and the bytes that were kept (without Bcc); its exit status becomes ``delivered``,
``deferred``, ``failed`` or ``interrupted`` (ARCHITECTURE.md, "Exactly once").
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping
from typing import Any

from sendguard import faults
from sendguard.act import aliases
from sendguard.act import queue as q
from sendguard.clock import now_iso
from sendguard.config.schema import Config
from sendguard.errors import DeliveryError, ResourceError
from sendguard.exitcodes import ExitCode
from sendguard.mail.addresses import MAX_HEADER_BYTES, without_bcc

# sysexits codes with which a sendmail-compatible transport says it did not take the message.
REFUSED = frozenset({64, 65, 66, 67, 68, 69, 77, 78})
_SMTP_REPLY = re.compile(r"server message: ([2-5])\d\d")  # msmtp's report of the server's reply
_DEFERRED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def transport_argv(config: Config, meta: q.Meta, environ: Mapping[str, str] | None = None) -> list[str]:
    """The transport command line for a queued entry. msmtp gets ``--aliases=`` after every
    other option: its aliases were expanded before the check (act/aliases.py), never again."""
    recipients = meta.get("recipients", [])
    options = meta.get("options", [])
    if not recipients and meta.get("envelope"):
        # kept before recipients were listed (its options may say -t): the envelope checked
        from sendguard.sendpath.args import without_read_recipients

        recipients, options = meta["envelope"], without_read_recipients(options)
    if not recipients:  # never let the transport find recipients of its own (-t)
        raise DeliveryError(
            f"message {meta.get('id', '?')} names no recipients sendguard could read; it is not sent",
            exit_code=ExitCode.DATAERR,
            hints=["fix it in your mail program and send it again"],
        )
    command = config.transport.command
    unset = [aliases.UNSET] if aliases.is_msmtp(command, environ) else []
    return [*command, *options, *unset, "--", *recipients]


def outcome(returncode: int, stderr: str) -> q.State:
    """What a transport's exit proves about the message (see the module docstring)."""
    if returncode == 0:
        return q.DELIVERED
    if returncode == ExitCode.TEMPFAIL:
        return q.DEFERRED
    if returncode in REFUSED:
        replies = set(_SMTP_REPLY.findall(stderr))
        return q.DEFERRED if replies == {"4"} else q.FAILED
    return q.INTERRUPTED


class _SignalsWait:
    """Hold SIGTERM/SIGHUP until the transport's outcome is on disk, then deliver them."""

    def __enter__(self) -> _SignalsWait:
        self.pending: list[int] = []
        self.old: dict[int, Any] = {}
        try:
            for signum in _DEFERRED_SIGNALS:
                self.old[signum] = signal.signal(signum, self._note)
        except ValueError:  # not the main thread: signals are not ours to hold
            pass
        return self

    def _note(self, signum: int, _frame: Any) -> None:
        self.pending.append(signum)

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.old.items():
            signal.signal(signum, handler)
        for signum in self.pending:
            signal.raise_signal(signum)


def deliver(entry: q.Entry, config: Config, *, env: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
    """Run the transport for ``entry``; raise DeliveryError if it did not deliver (the entry is
    kept), ResourceError if the delivery could not even be recorded as begun (nothing ran).

    ``env`` and ``cwd``: the caller's, when this runs for someone else (the resident checker
    delivers for its client, whose PATH, GPG agent and DISPLAY msmtp's passwordeval needs)."""
    argv = transport_argv(config, entry.meta, env)
    faults.point("before-sending")
    try:
        stdin = _transport_input(entry)
    except OSError as err:
        raise ResourceError(f"the message could not be prepared for the transport ({err.strerror or err})") from None
    try:
        try:
            entry.save(state=q.SENDING, event="sending", transport=argv)
        except OSError as err:
            raise ResourceError(f"the message could not be marked as sending ({err.strerror or err})") from None
        faults.point("after-sending")
        _run_transport(entry, config, argv, stdin, env, cwd)
    finally:
        os.close(stdin)


def _transport_input(entry: q.Entry) -> int:
    """A descriptor to give the transport as stdin (a file, never a pipe: a caller that dies
    mid-send cannot cut it short): the kept file, or without its Bcc fields an unnamed copy.
    The Bcc fields never reach the recipients, whatever the transport's own settings
    (msmtp's remove_bcc_headers can be turned off in its config). Only the header block is
    read into memory: the body is copied file to file by the kernel, so delivering a 200 MB
    mail does not hold a second copy of it beside the one the check read."""
    source = os.open(entry.message_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        head = os.pread(source, MAX_HEADER_BYTES, 0)
        kept = without_bcc(head, MAX_HEADER_BYTES)
        if len(kept) == len(head):  # removing a field only ever shortens it: nothing to remove
            fd, source = source, -1  # the kept file itself: the caller closes it
            return fd
        fd = os.open(entry.path, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(kept)
            while view:
                view = view[os.write(fd, view) :]
            offset, size = len(head), os.fstat(source).st_size
            while offset < size:
                copied = os.sendfile(fd, source, offset, size - offset)
                if copied == 0:
                    raise OSError("the kept message shrank while it was copied")
                offset += copied
            os.lseek(fd, 0, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return fd
    finally:
        if source >= 0:
            os.close(source)


def _run_transport(
    entry: q.Entry, config: Config, argv: list[str], stdin: int, env: Mapping[str, str] | None, cwd: str | None
) -> None:
    with _SignalsWait():
        try:
            proc = subprocess.run(
                argv,
                stdin=stdin,
                capture_output=True,
                timeout=config.transport.timeout,
                check=False,
                env=env,
                cwd=cwd,
            )
        except FileNotFoundError:
            entry.save(state=q.DEFERRED, event="transport missing", transport_error=f"{argv[0]}: not found")
            raise DeliveryError(
                f"the transport {argv[0]!r} was not found; the message is kept as {entry.id}",
                exit_code=ExitCode.TEMPFAIL,
                hints=["install it or set [transport] command, then run `sendguard queue run`"],
            ) from None
        except PermissionError:
            entry.save(
                state=q.DEFERRED, event="transport not executable", transport_error=f"{argv[0]}: permission denied"
            )
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
        except OSError as err:  # it could not be started (no memory, no processes left): it never ran
            entry.save(state=q.DEFERRED, event="transport could not start", transport_error=str(err))
            raise DeliveryError(
                f"the transport could not be started ({err.strerror or err}); the message is kept as {entry.id}",
                exit_code=ExitCode.TEMPFAIL,
                hints=["`sendguard queue run` tries again"],
            ) from None
        faults.point("after-transport")
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        state = outcome(proc.returncode, stderr)
        if state == q.DELIVERED:
            try:
                entry.save(
                    state=q.DELIVERED,
                    event="delivered",
                    delivered=now_iso(time.time()),
                    transport_exit=0,
                    durable=False,
                )  # a power cut leaves "sending": interrupted, never resent (Entry.save)
            except OSError:
                pass  # it left; "sending" on disk is shown as interrupted and never resent
            return
        how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        try:
            entry.save(
                state=state, event=f"transport {how}", transport_exit=proc.returncode, transport_error=stderr[-2000:]
            )
        except OSError:
            pass  # "sending" on disk: shown as interrupted, never resent
    if state == q.DEFERRED:
        code, hint = int(ExitCode.TEMPFAIL), "`sendguard queue run` tries again"
    elif state == q.FAILED:
        code, hint = proc.returncode, f"fix the cause, then `sendguard release {entry.id}`"
    else:
        code = int(ExitCode.TEMPFAIL)
        hint = f"it may have left: check your sent mail, then `sendguard release {entry.id}` or `discard` it"
    what = f"the transport {'was ' + how if proc.returncode < 0 else 'failed (' + how + ')'}"
    said = [line.rstrip() for line in stderr.split("\n") if line.strip()]
    raise DeliveryError(
        # several lines (msmtp's reason, the server's reply, its account): each on its own line
        f"{what}; the message is kept as {entry.id}:\n" + "\n".join(said)
        if len(said) > 1
        else f"{what}: {stderr or 'no message'}; the message is kept as {entry.id}",
        exit_code=code,
        stderr=stderr,
        hints=[hint],
    )
