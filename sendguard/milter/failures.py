"""How often the check of each message failed lately, on disk in the milter's state directory.

One sqlite file in WAL mode, one row a message (lifecycle.Failures' key): the counts outlive a
restart of the milter and are shared by every milter process on the same state directory. Rows
older than the window go whenever a failure is noted and at the hourly maintenance. Anything
wrong with the file is :class:`Unavailable`; the caller then counts in memory (ARCHITECTURE.md,
"The milter").
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from sendguard import paths, sqlitewal

FILE = "check-failures.sqlite"
# How long noting a failure may wait for another process writing the file. It runs after a
# failed check, before its reply: a busy file costs at most this, then the count in memory.
BUSY = 1.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    key TEXT PRIMARY KEY,
    times TEXT NOT NULL,
    kept TEXT NOT NULL DEFAULT '',
    last REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS failures_last ON failures(last);
"""


CLAIM = "claim:"
"""``kept`` while one process keeps the copy of a refused message: ``claim:TOKEN:WHEN``."""
CLAIM_FOR = 120.0
"""Seconds a claim stands: one older is a keeper that died before it noted its copy."""


def claim_of(token: str, now: float) -> str:
    return f"{CLAIM}{token}:{now!r}"


def taken(kept: str, now: float) -> bool:
    """Whether ``kept`` is a copy kept already or another keeper's claim that stands (else the
    caller may claim: nothing there, or a claim whose keeper died)."""
    return bool(kept) and (not kept.startswith(CLAIM) or live_claim(kept, now))


def live_claim(kept: str, now: float) -> bool:
    """Whether ``kept`` is another keeper's claim that still stands at ``now``."""
    if not kept.startswith(CLAIM):
        return False
    try:
        when = float(kept.rpartition(":")[2])
    except ValueError:
        return False
    return now - when < CLAIM_FOR


class Unavailable(Exception):
    """The file cannot be opened, read or written (locked too long, corrupt, no room)."""


class FailureStore:
    """``times``: when the message's check failed within the window (a JSON list); ``kept``: the
    copy kept when it was refused ('' before). One connection, opened at first use and kept (a
    connection's last close checkpoints the WAL: ~10 ms a failure, measured), shared by the
    process's threads under a lock that none waits for longer than ``busy``; dropped and opened
    again after any error."""

    def __init__(self, root: Path, window: float, busy: float = BUSY) -> None:
        self.path = root / FILE
        self.window = window
        self.busy = busy
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        # Private by its mode, not by the umask: that is the process's, and libmilter creates
        # the socket Postfix connects to while the maintenance thread may be here.
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        paths.create_private_file(self.path)  # its WAL files take its mode
        db = sqlite3.connect(self.path, timeout=self.busy, isolation_level=None, check_same_thread=False)
        try:
            sqlitewal.use_wal(db, self.busy)
            db.execute("PRAGMA synchronous=NORMAL")  # a power cut may lose the last count: one more 451
            db.executescript(SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    @contextlib.contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """The connection, for one transaction; Unavailable for anything wrong with the file."""
        if not self._lock.acquire(timeout=self.busy):
            raise Unavailable(f"{self.path}: another thread has had it for {self.busy:g} s")
        try:
            if self._db is None:
                self._db = self._connect()
            yield self._db
        except (sqlite3.Error, OSError, ValueError, TypeError) as err:
            self._close()  # rolls back what was begun
            raise Unavailable(f"{self.path}: {type(err).__name__}: {err}") from err
        finally:
            self._lock.release()

    def _close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def close(self) -> None:
        with self._lock:
            self._close()

    def add(self, key: str, now: float) -> tuple[list[float], str]:
        """Note a failure of ``key`` at ``now``: its failures within the window (this one last)
        and the copy kept when it was refused."""
        with self._using() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM failures WHERE last < ?", (now - self.window,))
            row = db.execute("SELECT times, kept FROM failures WHERE key = ?", (key,)).fetchone()
            earlier, kept = (json.loads(row[0]), str(row[1])) if row else ([], "")
            times = [float(t) for t in earlier if now - float(t) <= self.window] + [now]
            db.execute(
                "INSERT OR REPLACE INTO failures (key, times, kept, last) VALUES (?, ?, ?, ?)",
                (key, json.dumps(times), kept, now),
            )
            db.execute("COMMIT")
        return times, kept

    def claim(self, key: str, token: str, now: float) -> str:
        """Become the one that keeps the copy of ``key``'s refusal: '' when this caller now holds
        the claim, else what is there (the copy kept, or another keeper's claim that stands)."""
        with self._using() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT kept FROM failures WHERE key = ?", (key,)).fetchone()
            kept = str(row[0]) if row else ""
            if taken(kept, now):
                db.execute("COMMIT")
                return kept
            db.execute("UPDATE failures SET kept = ? WHERE key = ?", (claim_of(token, now), key))
            db.execute("COMMIT")
        return ""

    def keep(self, key: str, entry_id: str) -> None:
        """Note the copy kept when ``key`` was refused: its later tries reuse it."""
        with self._using() as db:
            db.execute("UPDATE failures SET kept = ? WHERE key = ?", (entry_id, key))

    def prune(self, now: float) -> None:
        """Remove the messages that did not fail within the window; nothing when there is no file."""
        if self.path.exists():
            with self._using() as db:
                db.execute("DELETE FROM failures WHERE last < ?", (now - self.window,))
