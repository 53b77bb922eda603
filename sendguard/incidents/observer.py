"""The incident log's hook in ``events.OBSERVERS``: write a record, start the indexer, return.

Runs on the send path, after the decision is carried out. It writes one file (record.py) and
starts a detached indexer process (sendguard.detached: posix_spawn, no subprocess module), no
notmuch2 import, no waiting. If an indexer is already at work (its lock is held) none is started: that
one looks for new markers again before it exits.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from sendguard.incidents import pending_dir
from sendguard.incidents.record import record

INDEXER_MODULE = "sendguard.incidents.indexer"


def observe(entry: Any, event: str, config: Any) -> None:
    if not config.log.enabled:
        return
    record(entry, event, config)
    if config.log.notmuch:
        try:
            spawn_indexer(entry.path.parent.parent)
        except OSError:
            pass  # the record is written and marked pending: the next indexer or `sendguard log` takes it


def indexer_lock_path(state_dir: Path) -> Path:
    return pending_dir(state_dir) / ".indexer.lock"


def indexer_running(state_dir: Path) -> bool:
    """True when an indexer holds its lock (it will pick up markers written meanwhile)."""
    from sendguard.runner import lock_held

    return lock_held(indexer_lock_path(state_dir))


def spawn_indexer(state_dir: Path) -> int | None:
    """Start ``python -m sendguard.incidents.indexer --locked STATE_DIR`` detached, holding the
    indexer lock for it; its pid, or None when an indexer is already at work.

    The lock is taken here and handed over (fd 3), not taken by the child once it has started:
    a Python start and the notmuch2 import take ~100 ms, and mail sent meanwhile (a git series)
    would each start another indexer that only finds the lock taken and leaves — ~100 ms of CPU
    per mail on a 2-core machine, measured."""
    from sendguard.detached import spawn_module

    try:
        fd = os.open(indexer_lock_path(state_dir), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None  # one is at work; it looks for new markers again before it exits
        return spawn_module(INDEXER_MODULE, "--locked", str(state_dir), pass_fd=fd)
    finally:
        os.close(fd)  # the child's copy keeps the lock
