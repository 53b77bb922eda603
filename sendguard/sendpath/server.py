"""The resident checker's server: ``python -m sendguard.sendpath.server CONFIG``.

A :class:`~sendguard.runner.Runner` started detached by a mail that found none. It serves one
mail at a time with the same SendPath as the in-process path, and stops when idle, when the
config turns it off, or when its code changed on disk (ARCHITECTURE.md, "The resident checker").
"""

from __future__ import annotations

import functools
import io
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, TextIO, cast

from sendguard import faults
from sendguard.ids import valid as valid_id
from sendguard.runner import Runner
from sendguard.sendpath import client as resident

# A request description larger than this is not from our client (the environment is the bulk).
MAX_REQUEST = 4 << 20


class _ClientStderr(io.TextIOBase):
    """The client's stderr, passed over the socket. A client that went away must not turn a
    delivered message into an internal error: what cannot be written is dropped."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", closefd=True)

    def write(self, text: str) -> int:
        try:
            self._file.write(text)
        except OSError:
            pass  # the caller is gone; the message's fate is on disk, not on its terminal
        return len(text)

    def flush(self) -> None:
        try:
            self._file.flush()
        except (OSError, ValueError):  # ValueError: already closed
            pass  # as above

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass  # as above
        super().close()


class _Stamp:
    """The files this server's code came from, with their mtimes, to notice an upgrade. The send
    path itself (its messages, the delivery) is imported by the first request, after the stamp
    was taken: a module loaded later counts as changed when its file is newer than the stamp."""

    def __init__(self) -> None:
        self.taken = time.time_ns()
        self.files = {path: _mtime(path) for path in self._sources()}

    @staticmethod
    def _sources() -> list[str]:
        paths = [sys.executable, __file__]  # this module runs as __main__ (python -m): not named below
        for name, module in list(sys.modules.items()):
            if name == "sendguard" or name.startswith("sendguard."):
                path = getattr(module, "__file__", None)
                if path:
                    paths.append(path)
        return paths

    def changed(self) -> bool:
        if any(_mtime(path) != mtime for path, mtime in self.files.items()):
            return True
        return any(_mtime(path) > self.taken for path in self._sources() if path not in self.files)


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def _warm_up(config_path: Path | None) -> Any:
    """Import and exercise everything a check needs, so the first client does not pay for it.
    Returns the config it loaded."""
    from sendguard import paths
    from sendguard.act import (
        events,  # noqa: F401
    )
    from sendguard.config import schema as config_mod
    from sendguard.decide.check import check_message
    from sendguard.mail.message import OutgoingMessage

    config = config_mod.load(config_path, required=config_path is not None)
    sample = (
        b"From: warm-up <warm-up@example.invalid>\nTo: someone@example.invalid\nSubject: warm-up\n"
        b"Content-Type: text/plain; charset=utf-8\n\nHello,\nnothing to see.\n"
    )
    check_message(
        OutgoingMessage(sample),
        config,
        envelope=["someone@example.invalid"],
        state_dir=paths.state_dir(),
        options=(),
        now=time.time(),
    )
    for name in (*events.OBSERVERS, *events.LATER, "sendguard.sendpath.path"):
        __import__(name)
    from sendguard.history import twins

    twins.warm()  # the sample has no near address to compare
    from sendguard.act import queue as q

    q.Queue.default().clean_leftovers()  # what processes that died while keeping a message left
    return config


def _idle_seconds(config: Any) -> float | None:
    """How long to wait for the next mail; None: stop now (the config turned us off)."""
    return float(max(1, config.sendmail.resident_idle)) if config.sendmail.resident else None


LATER_IDLE = 0.3  # seconds without mail after which the work after the observers is done


class Server(Runner):
    """Serves one mail at a time until idle, told to stop, or its code changed on disk."""

    name = "resident checker"

    def __init__(self, config: str, listener: socket.socket | None = None, loaded: Any = None) -> None:
        super().__init__()
        self.config = config
        self.config_path = Path(config) if config else None
        self.listener = listener
        self.where = ""  # the socket file we bound (ours to remove: we hold its lock)
        self.stamp = _Stamp()
        self.later: list[tuple[Any, str, Any]] = []
        """Events whose LATER work (the judgement's refit) waits until no mail comes for LATER_IDLE."""
        if loaded is not None:
            self._follow(loaded)

    def _follow(self, config: Any) -> None:
        """Take the idle time from the config each mail's check loaded (no second load per mail)."""
        idle = _idle_seconds(config)
        if idle is None:
            self.stop()  # the config turned us off (a changed stamp is noticed per mail, in handle)
        else:
            self.idle = idle

    def own(self) -> bool:
        """Our socket in the private directory, unless a server for it already runs (its lock file
        says so); a socket file left by a killed one is replaced."""
        from sendguard import paths

        where = resident.socket_path(self.config)
        try:
            if not _private_dir(os.path.dirname(where)):
                return False  # not ours: never listen where someone else can reach
            self.pid_path = paths.state_dir(create=True) / resident.PID_FILE
            self.lock_path = Path(where[: -len(".sock")] + ".lock")
            if not super().own():
                return False  # another server for the same user and config is already there
            try:
                self.listener = _bind(where)
            except OSError:
                super().release()
                raise
        except OSError as err:
            self.log(f"not serving: cannot listen: {err}")
            self.code = 1
            return False
        self.where = where
        return True

    def start(self) -> None:
        loaded = _warm_up(self.config_path)
        self.stamp = _Stamp()  # after the warm-up: every module a check loads
        self._follow(loaded)

    def release(self) -> None:
        if self.listener is not None:
            self.listener.close()
        if self.where:
            try:
                os.unlink(self.where)  # ours: we hold its lock
            except OSError:
                pass  # already gone
        super().release()

    def next_work(self, timeout: float | None) -> socket.socket | None:
        assert self.listener is not None
        if self.later:  # the next mail first, if it is already coming
            timeout = LATER_IDLE if timeout is None else min(timeout, LATER_IDLE)
        self.listener.settimeout(timeout)
        try:
            conn, _ = self.listener.accept()
        except TimeoutError:
            self._run_later()
            return None
        if resident._peer_uid(conn) != os.getuid():
            conn.close()  # not our user: say nothing, and it buys no time
            return None
        return conn

    def work(self, item: socket.socket) -> bool:
        with item as conn:
            try:
                return self.handle(conn)
            except Exception as err:  # noqa: BLE001 — one client's failure must not end the others' service
                import traceback

                self.log(f"{type(err).__name__}: {err}\n{traceback.format_exc()}")
                return True

    def handle(self, conn: socket.socket) -> bool:
        """Serve one client (of our uid: next_work checked); False: stop serving after it."""
        conn.settimeout(30)  # a client that stalls mid-request must not stall everyone's mail
        request, stdin, stderr_fd = self._receive(conn)
        if request is None:
            return True
        faults.point("server-after-receive")
        stderr = _ClientStderr(stderr_fd)
        try:
            if self.stamp.changed():
                conn.sendall(b"R\n")
                return False
            return self._run(conn, request, stdin, stderr)
        finally:
            stderr.close()

    def _receive(self, conn: socket.socket) -> tuple[dict[str, Any] | None, list[bytes], int]:
        """The request, the message and the client's stderr. The message is read straight into
        the one bytes object that is checked and kept (a buffered read of its exact size): no
        list of chunks joined into a second copy. It comes in a list that ``_run`` empties, so
        nothing holds it once the send path is done (the observers read the kept file)."""
        import marshal

        # The fixed head only: the descriptor comes with its first byte, and nothing of the
        # message is read into a buffer that would have to be joined to the rest.
        data, ancillary, _flags, _addr = conn.recvmsg(7, socket.CMSG_SPACE(4))
        fds = [
            int.from_bytes(cdata[:4], sys.byteorder)
            for level, kind, cdata in ancillary
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
        ]
        if len(fds) != 1 or not data or not resident._MAGIC.startswith(data[:3]):
            for fd in fds:
                os.close(fd)
            return None, [], -1
        stream = conn.makefile("rb")
        try:
            data += self._read_exactly(stream, 7 - len(data))
            if not data.startswith(resident._MAGIC):
                os.close(fds[0])
                return None, [], -1
            length = int.from_bytes(data[3:7], "big")
            if length > MAX_REQUEST:
                os.close(fds[0])
                return None, [], -1
            request = marshal.loads(self._read_exactly(stream, length))
            raw = self._read_exactly(stream, int(request["size"]))
        except BaseException:
            os.close(fds[0])
            raise
        finally:
            stream.close()  # the socket stays open: makefile's object only drops its reference
        return request, [raw], fds[0]

    @staticmethod
    def _read_exactly(stream: Any, size: int) -> bytes:
        data: bytes = stream.read(size)  # BufferedReader: reads into one bytes object of this size
        if len(data) != size:
            raise ConnectionError("the client went away mid-request")
        return data

    def _run(self, conn: socket.socket, request: dict[str, Any], stdin: list[bytes], stderr: _ClientStderr) -> bool:
        from sendguard import paths
        from sendguard.act import events
        from sendguard.act import queue as q
        from sendguard.sendpath.path import SendPath

        queue = q.Queue.default()
        queue.on_kept = lambda entry: _tell(conn, f"K {entry.id}\n")
        path = SendPath(
            self.config_path,
            cast(TextIO, stderr),
            queue=queue,
            environ=request["env"],
            cwd=request["cwd"],
            observe_later=[],
            checker="resident",
            caller=request.get("caller") or {},
        )
        if valid_id(request.get("entry_id")):
            path.entry_id = request["entry_id"]  # the client's: it looks there if we stop
        code = path.run(list(request["argv"]), io.BytesIO(stdin.pop()))  # the only reference: gone after
        stderr.flush()
        faults.point("server-before-answer")
        _tell(conn, f"X {int(code)}\n")
        conn.close()
        path.mail_notices()  # detached: the next mail does not wait for their transport
        state_dir = paths.state_dir()
        for entry, event, config in path.observe_later or []:
            events.emit(
                entry, event, config, observers=events.OBSERVERS, warn=lambda line: events._log_failure(state_dir, line)
            )
            self.later.append((entry, event, config))
        if path.config is None:
            return False  # it could not be loaded (the mail was kept, the error explained): stop
        self._follow(path.config)
        return True

    def _run_later(self) -> None:
        from sendguard import paths
        from sendguard.act import events

        warn = functools.partial(events._log_failure, paths.state_dir())
        for entry, event, config in self.later:
            events.emit(entry, event, config, observers=events.LATER, warn=warn)
        self.later.clear()

    def log(self, line: str) -> None:
        from sendguard import paths

        try:
            state = paths.state_dir(create=True)
            with open(state / "resident.log", "a", encoding="utf-8") as log:
                log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
        except OSError:
            return  # nowhere to say it; the client has had its answer either way


def _tell(conn: socket.socket, line: str) -> None:
    try:
        conn.sendall(line.encode("ascii"))
    except OSError:
        pass  # the client is gone; what happened to the message is in the queue


def main(argv: list[str]) -> int:
    config = argv[0] if argv else ""
    # Not the first caller's directory: it may be deleted or on a disk someone wants to unmount
    # for as long as we live. Every path we use is absolute (the client sends its own cwd).
    os.chdir("/")
    return Server(config).run()


def _private_dir(directory: str) -> bool:
    """Make ``directory`` (0700); False when it belongs to someone else."""
    old = os.umask(0o077)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    finally:
        os.umask(old)
    st = os.stat(directory)
    if st.st_uid != os.getuid():
        return False
    if st.st_mode & 0o077:
        os.chmod(directory, 0o700)
    return True


def _bind(where: str) -> socket.socket:
    try:
        os.unlink(where)
    except FileNotFoundError:
        pass  # no server ran here before, or it cleaned up
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        resident.at_path(listener, where, "bind")
        listener.listen(16)
    except OSError:
        listener.close()
        raise
    return listener


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
