"""Refit the judgement once the history it was fitted on has grown (``train.refresh``).

``sendguard learn`` refits when it ends; mail learned otherwise (delivered through the send
path, let through by the milter) would leave the judgement fitted on the history of the day of
the last ``learn``. So the send path's detached observer (``act/events.py``, after the observers'
lock is released: the next mail waits for the history, not for a refit) and the milter's workers
call this after learning. While the judgement is fresh it costs two rows read. One refit at a
time per history: a second caller finding the lock taken leaves the work to the first.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from sendguard import paths
from sendguard.history import judgement as jm
from sendguard.history.store import open_for_write, open_read_only

LOCK_NAME = ".fit.lock"


def refit(state_dir: Path, config: Any, own: Any = None) -> jm.Judgement | None:
    """The new judgement, or None when it was fresh or another process is refitting it."""
    from sendguard.decide.train import stale

    store = open_read_only(state_dir)
    if store is None or not stale(store.db, config):
        return None  # the common case: no lock, no write
    db = open_for_write(state_dir)
    try:
        return refit_on(db, state_dir, config, own)
    finally:
        db.close()


def refit_on(db: Any, state_dir: Path, config: Any, own: Any = None) -> jm.Judgement | None:
    """``refit`` on a connection the caller has open for writing (the milter's workers, right
    after learning, on the thread that learns: it reads none of the stores the checks share)."""
    from sendguard.decide.train import refresh, stale

    if not stale(db, config):
        return None
    fd = os.open(state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        return refresh(db, config, own=own)
    finally:
        os.close(fd)


def observe(entry: Any, event: str, config: Any) -> None:
    """After a delivery has been learned (``history/observer.py``)."""
    if event != "delivered" or not config.history.learn_delivered:
        return
    refit(paths.state_dir(create=True), config)
