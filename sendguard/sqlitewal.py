"""Switching a sqlite file to WAL when other processes may be opening it at the same moment."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable


def use_wal(db: sqlite3.Connection, wait: float, sleep: Callable[[float], None] = time.sleep) -> None:
    """Put ``db``'s file in WAL mode, trying again for up to ``wait`` seconds while it is busy.

    Two processes switching one new file at once can deadlock inside sqlite, which then answers
    one of them "database is locked" at once, without calling its busy handler: the connection's
    own timeout never applies, so the retry is here."""
    deadline = time.monotonic() + wait
    pause = 0.002
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if err.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        sleep(pause)
        pause = min(pause * 2, 0.05)
