"""The lifecycle every background process of sendguard shares: own, start, work until idle, stop, clean up.

The resident checker, the undo worker and the incident indexer differ in what they own, how they
wait for work and what one piece of work is; a :class:`Runner` subclass says only that. Taking
the lock, the pid file, SIGTERM, the idle timeout, logging a failure and cleaning up are here,
once (ARCHITECTURE.md, "Processes").
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any


class Stop(BaseException):
    """SIGTERM while waiting for work: unwinds at once. A BaseException, like SystemExit, so the
    broad ``except Exception`` fallbacks of a warm-up or a config loader do not swallow it."""


class Runner:
    """One background process. Subclasses override :meth:`next_work` and :meth:`work`, and where
    they own more than a lock file, :meth:`own` and :meth:`release`."""

    name = "runner"  # in log lines
    # Stop after this many seconds without work; None: no limit (the work says when it is done).
    idle: float | None = None
    # run() takes ownership again, up to this often, for work that came while it let go.
    max_rounds = 1
    # The pid file names the last process even after it ended (else: removed when it stops).
    keep_pid_file = False
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self,
        *,
        lock_path: Path | None = None,
        pid_path: Path | None = None,
        lock_fd: int | None = None,
        wait_for_lock: bool = False,
    ) -> None:
        self.lock_path = lock_path
        self.pid_path = pid_path
        self._inherited = lock_fd  # a lock already held for us by whoever started us
        self._held: int | None = None
        self.wait_for_lock = wait_for_lock  # the first time only: later rounds never wait
        self.busy = False
        self.stopping = False
        self.code = 0  # the exit status run() returns

    # --- what a subclass says ---------------------------------------------------------------

    def own(self) -> bool:
        """Take what makes this the only instance; False: another one has it (then run() exits)."""
        if self.lock_path is not None and not self._lock():
            return False
        if self.pid_path is not None:
            write_pid_file(self.pid_path)
        return True

    def start(self) -> None:
        """Once, after owning: warm up. May set ``code`` and call :meth:`stop`."""

    def next_work(self, timeout: float | None) -> Any:
        """The next piece of work, or None when none came within ``timeout`` seconds (None: no
        limit). A None before the timeout is harmless: the idle clock runs on."""
        raise NotImplementedError

    def work(self, item: Any) -> bool:
        """Do one piece of work; False: stop after it. An exception ends the process (logged)."""
        raise NotImplementedError

    def more_after_release(self) -> bool:
        """After letting go: did work arrive that no other instance will see? Then run() owns again."""
        return False

    def release(self) -> None:
        """Give up what :meth:`own` took. Called once per ownership, whatever happened."""
        if self.pid_path is not None and not self.keep_pid_file:
            remove_pid_file(self.pid_path)
        if self._held is not None:
            os.close(self._held)
            self._held = None

    def log(self, line: str) -> None:
        """Where this process says what went wrong (its stderr is /dev/null unless redirected)."""
        print(line, file=sys.stderr, flush=True)

    # --- the life ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop at the next point between two pieces of work."""
        self.stopping = True

    def run(self) -> int:
        """The whole process: own, start, serve, release; SIGTERM stops it cleanly. Returns ``code``."""
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        started = False
        try:
            for _ in range(self.max_rounds):
                owned = False
                try:
                    owned = self.own()
                    if not owned:
                        break
                    if not started:
                        started = True
                        self.start()
                    self.serve()
                except Stop:
                    self.stopping = True
                except Exception as err:  # noqa: BLE001 — one line in the log, not a traceback nobody sees
                    self.log(f"{self.name} stopped: {type(err).__name__}: {err}")
                    self.code = self.code or 1
                    self.stopping = True
                finally:
                    if owned:
                        self.release()
                if self.stopping or not self.more_after_release():
                    break
        finally:
            signal.signal(signal.SIGTERM, previous)
        return self.code

    def serve(self) -> None:
        """Work until idle, until :meth:`work` says stop, or until :meth:`stop`."""
        deadline = None if self.idle is None else self.clock() + self.idle
        while not self.stopping:
            remaining = None if deadline is None else deadline - self.clock()
            if remaining is not None and remaining <= 0:
                return
            item = self.next_work(remaining)
            if item is None:
                continue
            self.busy = True
            try:
                more = self.work(item)
            finally:
                self.busy = False
            if not more:
                return
            deadline = None if self.idle is None else self.clock() + self.idle

    def let_others_in(self) -> bool:
        """Let go of the lock and take it again without waiting, so an instance blocked on it gets
        its turn between two pieces of work. False: it took it (and this one should stop)."""
        if self._held is not None:
            os.close(self._held)
            self._held = None
        return self._lock()

    def _lock(self) -> bool:
        assert self.lock_path is not None
        fd, self._inherited = self._inherited, None
        if fd is None:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if self.wait_for_lock else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
        self.wait_for_lock = False
        self._held = fd
        return True

    def _on_sigterm(self, _signum: int, _frame: FrameType | None) -> None:
        # Between two pieces of work, stop at once; during one, finish it first (a mail killed
        # mid-delivery would be left "interrupted" for a person to sort out).
        if not (self.busy or self.stopping):
            raise Stop
        self.stopping = True


def lock_held(path: os.PathLike[str] | str) -> bool:
    """Whether some process holds the lock file ``path`` (probed without waiting; a lock file
    that cannot even be opened is held by nobody)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def write_pid_file(path: os.PathLike[str] | str) -> None:
    """Write our pid to ``path`` atomically (readers never see half a number)."""
    tmp = f"{os.fspath(path)}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as out:
        out.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def remove_pid_file(path: os.PathLike[str] | str) -> None:
    """Remove ``path`` if it still names us (a successor may have written its own)."""
    try:
        with open(path, encoding="ascii") as text:
            ours = int(text.read().strip() or 0) == os.getpid()
        if ours:
            os.unlink(path)
    except (OSError, ValueError):
        return
