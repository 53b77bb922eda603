"""After a decision or a state change: tell the observers (history, incident log).

:func:`emit` runs them here and now (CLI, review, queue run: the order of events matters there).
:class:`ObserverWorker` runs them in a child forked *before* the rules open SQLite (a connection
open at fork time breaks the child's), for the sendmail entry points, which exit right after.
:func:`settle` waits, bounded, until no worker is at work, for readers that must see what the
observers wrote. LATER (the judgement's refit) runs after them, with their lock released: no
reader needs to wait for it. An observer that breaks is logged to ``observers.log``; the
message's fate is unchanged. See ARCHITECTURE.md, "Processes" and rule 5 of the send path.
"""

from __future__ import annotations

import fcntl
import functools
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OBSERVERS: tuple[str, ...] = ("sendguard.history.observer", "sendguard.incidents.observer", "sendguard.act.supersede")
LATER: tuple[str, ...] = ("sendguard.decide.refit",)
"""Run after OBSERVERS, outside their lock: work no reader has to wait for (settle)."""
LOCK_NAME = ".observers.lock"
ERROR_LOG = "observers.log"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def emit(
    entry: Any,
    event: str,
    config: Any,
    *,
    observers: tuple[str, ...] | None = None,
    warn: Callable[[str], None] = _to_stderr,
) -> None:
    for name in (*OBSERVERS, *LATER) if observers is None else observers:
        try:
            importlib.import_module(name).observe(entry, event, config)
        except Exception as err:  # noqa: BLE001 — the log must never cost the user a message
            warn(f"sendguard: warning: {name} could not record {event!r} for {entry.id}: {err}")


class ObserverWorker:
    """A forked child that runs the observers for one event of this process, off its clock.

    :meth:`start` forks it (before any rule opens SQLite, see the module docstring); it waits
    for its job on a pipe. :meth:`emit` hands it the entry and the event and returns once the
    child has taken the observers lock. If this process ends without a job (an error, a hold
    in the undo window), the child reads EOF and exits."""

    def __init__(self, pid: int, job_fd: int, ack_fd: int) -> None:
        self.pid = pid
        self.job_fd = job_fd
        self.ack_fd = ack_fd

    @classmethod
    def start(cls, config: Any) -> ObserverWorker | None:
        """Fork the worker; None where a child cannot be had (no fork, another thread alive:
        forking a threaded process can deadlock the child; the fork failed)."""
        threading = sys.modules.get("threading")
        if not hasattr(os, "fork") or (threading is not None and threading.active_count() > 1):
            return None
        for stream in (sys.stdout, sys.stderr):  # or the child could write the parent's buffer again
            try:
                stream.flush()
            except (OSError, ValueError):
                continue
        job_read, job_write = os.pipe()
        ack_read, ack_write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            for fd in (job_read, job_write, ack_read, ack_write):
                os.close(fd)
            return None
        if pid:
            os.close(job_read)
            os.close(ack_write)
            return cls(pid, job_write, ack_read)
        try:  # the child
            _become_detached(keep=(job_read, ack_write))
            _work(job_read, ack_write, config)
        finally:
            os._exit(0)  # no atexit handlers, no teardown: they belong to the parent

    def emit(self, entry: Any, event: str, config: Any) -> None:
        """Hand ``event`` for ``entry`` to the worker; run the observers here if it cannot take it."""
        job = json.dumps({"path": str(entry.path), "meta": entry.meta, "event": event}).encode()
        taken = False
        try:
            view = memoryview(job)
            while view:
                view = view[os.write(self.job_fd, view) :]
            os.close(self.job_fd)
            self.job_fd = -1
            taken = os.read(self.ack_fd, 1) == b"1"
        except OSError:  # the worker is gone (EPIPE): do it here
            taken = False
        finally:
            for fd in (self.job_fd, self.ack_fd):
                if fd >= 0:
                    os.close(fd)
            self.job_fd = self.ack_fd = -1
        if not taken:
            emit(entry, event, config)


def _work(job_fd: int, ack_fd: int, config: Any) -> None:
    """The worker's life: read one job to EOF, take the observers lock, acknowledge, observe."""
    chunks = []
    while chunk := os.read(job_fd, 1 << 16):
        chunks.append(chunk)
    if not chunks:  # the parent ended without an event for us
        return
    job = json.loads(b"".join(chunks))
    from sendguard.act.queue import Entry

    entry = Entry(Path(job["path"]), job["meta"])
    state_dir = entry.path.parent.parent  # STATE/queue/ID
    lock_fd = os.open(state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)  # OSError: no ack, the parent does it
    fcntl.flock(lock_fd, fcntl.LOCK_SH)
    os.write(ack_fd, b"1")
    os.close(ack_fd)
    warn = functools.partial(_log_failure, state_dir)
    emit(entry, job["event"], config, observers=OBSERVERS, warn=warn)
    os.close(lock_fd)  # settle() and the next mail's check wait no longer
    emit(entry, job["event"], config, observers=LATER, warn=warn)


def _become_detached(keep: tuple[int, ...]) -> None:
    """In the child: own session, /dev/null for 0-2, every other descriptor but ``keep`` closed
    (a pipe of the caller's left open here would keep the caller waiting for EOF)."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:  # the descriptor listdir used, already gone
                continue


def _log_failure(state_dir: Path, line: str) -> None:
    """Append one line to the state dir's observers.log (a detached child has no stderr)."""
    try:
        fd = os.open(state_dir / ERROR_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:  # nowhere left to say it; the queue entry is the truth about the message
        return
    try:
        os.write(fd, f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {line}\n".encode())
    finally:
        os.close(fd)


def settle(state_dir: Path, timeout: float = 10.0) -> bool:
    """Wait until no detached observer is at work in ``state_dir``, at most ``timeout`` seconds.
    True when none is (any more), False when the wait timed out."""
    try:
        fd = os.open(state_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:  # never created: no child has ever run here
        return True
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.002)
    finally:
        os.close(fd)
