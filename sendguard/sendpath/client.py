"""The resident checker's client: ``sendguard-sendmail`` offers each mail to a warm server.

A fresh Python costs more per mail than msmtp itself; warm, a check takes a few milliseconds.
When no server answers, the caller runs the send path itself and starts one for the next mail.
This module is imported on every mail, so it needs nothing of sendguard's but ``ids`` and
``faults``. Protocol, trust and the exactly-once hand-over: ARCHITECTURE.md, "The resident
checker" and "Exactly once".
"""

from __future__ import annotations

import io
import os
import sys

from sendguard import faults
from sendguard.ids import new_id

# Fixed header: "SG1" + the length of the marshalled request description.
_MAGIC = b"SG1"
_ENV_KEYS = ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
_DISABLE = "SENDGUARD_RESIDENT"  # "0"/"off"/"no": this process neither asks nor starts one
PID_FILE = "resident.pid"  # in the state dir, while a server for it runs
CONNECT_TIMEOUT = 2.0  # seconds; then the mail is checked in the caller's process
_NOT_IN_NAME = (_DISABLE, "SENDGUARD_CONFIG", "SENDGUARD_KILL_AT")  # config: named apart; kill points: tests


def enabled(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    return environ.get(_DISABLE, "").strip().lower() not in ("0", "off", "no", "false")


def config_location(config_path: str | os.PathLike[str] | None) -> str:
    """The config file this call means, absolute (a relative --config is the caller's)."""
    if config_path is None and os.environ.get("SENDGUARD_CONFIG"):
        config_path = os.environ["SENDGUARD_CONFIG"]
    return os.path.abspath(config_path) if config_path is not None else ""


def runtime_dir(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The private directory the socket lives in: ``$XDG_RUNTIME_DIR/sendguard`` when
    ``$XDG_RUNTIME_DIR`` is ours and 0700, else the state directory (``paths.state_dir``)."""
    import stat

    base = environ.get("XDG_RUNTIME_DIR", "")
    if base and os.path.isabs(base):
        try:
            st = os.stat(base)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077:
            return os.path.join(base, "sendguard")
    data = environ.get("XDG_DATA_HOME", "")
    if not (data and os.path.isabs(data)):
        data = os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "sendguard")


def socket_path(config: str) -> str:
    """The socket of the server for this user, interpreter, package and config."""
    # sys.prefix and the real interpreter: bin/python and bin/python3 of one venv are one server.
    parts = [
        str(os.getuid()),
        sys.prefix,
        os.path.realpath(sys.executable),
        os.path.dirname(os.path.realpath(__file__)),
        config,
    ]
    parts += [f"{k}={os.environ.get(k, '')}" for k in _ENV_KEYS]
    parts += sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("SENDGUARD_") and k not in _NOT_IN_NAME)
    name = _digest("\0".join(parts).encode("utf-8", "surrogateescape")).decode()
    return os.path.join(runtime_dir(), f"resident-{name}.sock")


def at_path(sock, path: str, method: str) -> None:  # type: ignore[no-untyped-def]
    """``sock.connect(path)`` or ``sock.bind(path)``, also for a path longer than a socket
    address may be (108 bytes): through the directory's descriptor in /proc/self/fd."""
    if len(os.fsencode(path)) < 100:
        getattr(sock, method)(path)
        return
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_CLOEXEC)
    try:
        getattr(sock, method)(f"/proc/self/fd/{fd}/{os.path.basename(path)}")
    finally:
        os.close(fd)


def _digest(data: bytes) -> bytes:
    # The built-in SHA-256 module: hashlib would load OpenSSL (milliseconds, on every mail).
    try:
        from _sha256 import sha256  # Python ≤ 3.11
    except ImportError:
        from _sha2 import sha256  # type: ignore[no-redef,unused-ignore]  # Python ≥ 3.12
    digest: str = sha256(data).hexdigest()
    return digest[:32].encode()


def _peer_uid(sock) -> int:  # type: ignore[no-untyped-def]
    import _socket

    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # struct ucred: pid, uid, gid
    return int.from_bytes(creds[4:8], sys.byteorder)


# --- the client: every mail -------------------------------------------------------------------


def ask_server(argv: list[str], raw: bytes, config: str, entry_id: str) -> int | None:
    """Offer the message to a running server; its exit code, or None if it did not finish (there
    is none, it declined, or it stopped): then the caller runs the send path with ``entry_id``."""
    import _socket
    import marshal

    try:
        stderr_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr to hand over: check it here
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            at_path(sock, socket_path(config), "connect")
        except OSError:
            return None  # nobody listening (the usual first mail after a pause), or it is stuck
        sock.settimeout(None)
        if _peer_uid(sock) != os.getuid():
            return None  # not ours (it cannot be, in our private directory): never hand it mail
        from sendguard.sendpath import caller  # only os: reads /proc

        request = marshal.dumps(
            {
                "argv": argv,
                "config": config,
                "env": dict(os.environ),
                "cwd": _cwd(),
                "size": len(raw),
                "caller": caller.detect(),  # the mail program is our parent, not the server's
                "entry_id": entry_id,
            }
        )
        head = _MAGIC + len(request).to_bytes(4, "big") + request
        fds = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, stderr_fd.to_bytes(4, sys.byteorder))]
        try:
            sent = sock.sendmsg([head], fds)
            sock.sendall(head[sent:] + raw if sent < len(head) else raw)
        except OSError:
            pass  # it went away: what it did with the message, the queue says (the id)
        faults.point("client-after-request")
        return _read_code(sock)
    finally:
        sock.close()


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:  # run from a deleted directory: the transport starts in /
        return "/"


def _read_code(sock) -> int | None:  # type: ignore[no-untyped-def]
    """The server's ``X code``; None when the connection ends without one (``K`` and ``R``
    lines say what it did so far; the queue says it again, under our id)."""
    buffer = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except OSError:
            chunk = b""
        buffer += chunk
        while b"\n" in buffer:
            line, _, buffer = buffer.partition(b"\n")
            word, _, value = line.decode("ascii", "replace").partition(" ")
            if word == "X":
                return int(value) if value.isdigit() else 75  # garbled: it did not say "sent"
            if word == "R":
                return None  # it declined (stale, or the config turned it off): check it here
        if not chunk:
            return None


def _may_be_mode(argv: list[str]) -> bool:
    """Cheap test: could ``argv`` ask for something other than sending (--help, -bp, -q, -bv...)?
    False for every call a mail program makes, so the mail path imports nothing more."""
    for word in argv:
        if word == "--":
            return False
        if word in ("--help", "--version") or (word[:1] == "-" and word[1:2] != "-" and ("b" in word or "q" in word)):
            return True
    return False


def sane_stdio() -> None:
    """Open /dev/null on fd 0, 1 or 2 where the caller left it closed, as Postfix's sendmail
    does: else the first file sendguard opens (a queue file) takes that number, and what is
    written to "stderr", by msmtp too, lands in it. A closed stdin then reads as an empty
    message (exit 65); a closed stderr is one that shows nothing, like /dev/null."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
        if getattr(sys, name) is None:  # Python found it closed at start-up
            setattr(sys, name, open(fd, mode, closefd=False, encoding="utf-8", errors="backslashreplace"))  # noqa: SIM115


DATAERR = 65  # ExitCode.DATAERR, without importing it on every mail


def endless_device(fd: int) -> bool:
    """Is ``fd`` a device that is no message and may never end (/dev/zero, a disk)? A terminal
    (a person typing) and /dev/null (an empty message) are not."""
    import stat

    st = os.fstat(fd)
    if stat.S_ISBLK(st.st_mode):
        return True
    return stat.S_ISCHR(st.st_mode) and not os.isatty(fd) and st.st_rdev != os.stat(os.devnull).st_rdev


def read_stdin() -> bytes | None:
    """The message on stdin, to EOF whatever the flags; None, after one line on stderr, when
    stdin cannot be read (open for writing only, an I/O error) or is an endless device. Nothing
    is kept then: nothing whole was read, and the mail program still has its message."""
    try:
        if endless_device(0):
            problem = "standard input is a device, not a message"
        else:
            return sys.stdin.buffer.read()
    except OSError as err:
        problem = f"standard input cannot be read: {err.strerror or err}"
    try:
        sys.stderr.write(f"sendguard: error: {problem}; nothing was sent or kept.\n")
    except (OSError, ValueError, AttributeError):  # no stderr: the code says it
        pass
    return None


def send(argv: list[str], config_path: str | os.PathLike[str] | None = None) -> int:
    """One mail from stdin, through the resident checker if there is one, else in this process."""
    sane_stdio()
    config = config_location(config_path)
    if _may_be_mode(argv):
        from sendguard.sendpath import modes

        try:
            code = modes.run(argv, config)
            sys.stdout.flush()  # a full stdout fails here, not silently at exit
        except OSError as err:
            if err.filename:  # the state dir, not the output
                raise
            from sendguard.exitcodes import ExitCode

            try:
                sys.stderr.write(f"sendguard: error: cannot write the output: {err.strerror}\n")
            except (OSError, ValueError):  # the help or -bp into /dev/full
                pass
            return int(ExitCode.CANTCREAT)
        if code is not None:
            return code
    raw = read_stdin()
    if raw is None:
        return DATAERR
    entry_id = new_id()
    if enabled() and sys.stderr is not None:  # no stderr to pass: check it here, where None is fine
        code = ask_server(argv, raw, config, entry_id)
        if code is not None:
            return code
    from pathlib import Path

    from sendguard.sendpath.path import SendPath

    path = SendPath(Path(config) if config else None, sys.stderr, detach_observers=True)
    path.entry_id = entry_id  # the server may have kept it under this id before it stopped
    code = path.run(argv, io.BytesIO(raw))
    if path.config is not None and path.config.sendmail.resident and enabled():
        start_server(config)
    return code


def start_server(config: str) -> None:
    """Start a server for the next mail, detached; if another won the race, it just exits."""
    from sendguard.detached import spawn_module

    try:
        spawn_module("sendguard.sendpath.server", config)
    except OSError:
        return  # the next mail is checked in its own process, as this one was


def main() -> None:
    """Entry point of ``sendguard-sendmail``."""
    exit_now(send(sys.argv[1:]))


def exit_now(code: int) -> None:
    """End the process without tearing the interpreter down.

    Module cleanup and garbage collection at exit cost about 10 ms of CPU per mail (measured:
    bench/README.md), and nothing on the send path needs them: queue writes are fsynced when
    made, locks are file descriptors the kernel drops, observers close their databases.
    atexit handlers still run and stdio is flushed; if another thread is alive, exit normally.
    """
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # the caller closed its end (or it was None)
            continue
    os._exit(code)


# --- the server's pid file (written by sendguard.runner): for `sendguard doctor`, the demo and tests ---


def running_server(pid_file: os.PathLike[str] | str) -> int | None:
    """The pid of the resident checker named in ``pid_file``, if it is alive and is one."""
    try:
        with open(pid_file, encoding="ascii") as text:
            pid = int(text.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            alive = b"sendguard.sendpath.server" in cmdline.read()
    except (OSError, ValueError):
        return None
    return pid if alive else None


def stop_servers(config: str, timeout: float = 10.0) -> bool:
    """Stop every resident checker of ours started for ``config`` (absolute path, or "" for
    the default), including one still starting up and not yet in its pid file (the demo's and
    the tests' clean-up). True if none is left."""
    from sendguard.detached import stop_processes

    wanted = [b"-P", b"-m", b"sendguard.sendpath.server", os.fsencode(config)]
    return stop_processes(lambda args: args[1:5] == wanted, timeout)
