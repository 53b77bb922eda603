"""Start a detached helper process (the incident indexer, the undo worker) without waiting.

``os.posix_spawn`` instead of subprocess: the send path never imports subprocess (its import
cost), and the child gets its own session (``setsid``) and /dev/null for stdin, stdout and
stderr, so it outlives sendmail and never writes into the mail program's terminal. Python
opens files non-inheritable, so no queue lock leaks into the child.

A long-running parent (the review screen, ``queue run``) reaps its earlier children on each
spawn, so none lingers as a zombie; only pids started here are waited for.
"""

from __future__ import annotations

import os
import sys

_started: set[int] = set()


def _reap() -> None:
    for pid in list(_started):
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _started.discard(pid)


def spawn_module(module: str, *args: str) -> int:
    """Run ``python -m MODULE ARGS...`` detached; returns its pid."""
    _reap()
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    pid = os.posix_spawn(
        sys.executable, [sys.executable, "-m", module, *args], os.environ, file_actions=actions, setsid=True
    )
    _started.add(pid)
    return pid
