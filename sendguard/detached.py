"""Start a detached helper process (the incident indexer, the undo worker) without waiting.

``os.posix_spawn`` instead of subprocess: the send path never imports subprocess (its import
cost), and the child gets its own session (``setsid``) and /dev/null for stdin, stdout and
stderr, so it outlives sendmail and never writes into the mail program's terminal.

Every other descriptor is closed in the child *before* exec. Close-on-exec is not enough: the
kernel lets the parent of a vfork-style spawn go on before the child's exec has closed those
descriptors, so for some milliseconds the child still held the caller's queue-entry flock — and
a second ``oops`` or ``release`` right after found the entry "being handled by another process".

A long-running parent (the review screen, ``queue run``) reaps its earlier children on each
spawn, so none lingers as a zombie; only pids started here are waited for.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

_started: set[int] = set()


def _reap() -> None:
    for pid in list(_started):
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _started.discard(pid)


def _open_fds() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: close-on-exec alone has to do
        return []


PASSED_FD = 3  # where a descriptor handed to the child (``pass_fd``) appears in it
# -P: ``python -m`` would put the caller's directory first on sys.path, and a sendguard/ there
# (a checkout, or anything in a repository git send-email runs in) would be run instead of the
# installed one — measured: the resident checker came from the checkout and, under another
# name, was never reached.
SAFE_PATH = ("-P",)


def spawn_module(module: str, *args: str, env: Mapping[str, str] | None = None, pass_fd: int | None = None) -> int:
    """Run ``python -m MODULE ARGS...`` detached (in ``env``, default ours); returns its pid.

    ``pass_fd``: one descriptor the child gets as fd 3 — e.g. a held flock, which then belongs
    to the child from its first instruction, with no moment in which nobody holds it."""
    _reap()
    actions: list[tuple] = [(os.POSIX_SPAWN_CLOSE, fd) for fd in _open_fds() if fd > 2 and fd != pass_fd]  # type: ignore[type-arg]
    if pass_fd is not None:
        actions.append((os.POSIX_SPAWN_DUP2, pass_fd, PASSED_FD))  # dup2 clears close-on-exec
        if pass_fd != PASSED_FD:
            actions.append((os.POSIX_SPAWN_CLOSE, pass_fd))
    actions += [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    pid = os.posix_spawn(
        sys.executable,
        [sys.executable, *SAFE_PATH, "-m", module, *args],
        os.environ if env is None else env,
        file_actions=actions,
        setsid=True,
    )
    _started.add(pid)
    return pid


def stop_processes(matches: Callable[[list[bytes]], bool], timeout: float = 10.0) -> bool:
    """SIGTERM every process of this user whose argv (as bytes) ``matches``, and wait for them,
    bounded; True if none is left. For clean-ups that must also find a helper still starting up,
    before it wrote any pid file (the demo's throwaway world, the tests' resident checkers)."""
    import signal
    import time

    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != os.getuid():
                continue
            with open(f"/proc/{name}/cmdline", "rb") as cmdline:
                args = cmdline.read().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if matches(args):
            pids.append(int(name))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if process_alive(pid)]
        time.sleep(0.02)
    return not pids


def process_alive(pid: int) -> bool:
    """Alive, as opposed to gone or a zombie nobody reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
