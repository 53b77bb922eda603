import sqlite3
import threading

import pytest

from sendguard.sqlitewal import use_wal


def busy_file(tmp_path):
    """A new file another connection holds an exclusive lock on, and a connection that is told
    "database is locked" at once (as sqlite answers one side of a deadlock)."""
    path = tmp_path / "f.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    return holder, sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)


def test_a_busy_file_is_tried_again_until_it_is_free(tmp_path):
    holder, db = busy_file(tmp_path)
    waiting, freed, failed = threading.Event(), threading.Event(), []

    def pause(_seconds):
        waiting.set()
        assert freed.wait(60)

    def switch():
        try:
            use_wal(db, 60, sleep=pause)
        except sqlite3.Error as err:
            failed.append(err)
            waiting.set()

    worker = threading.Thread(target=switch)
    worker.start()
    assert waiting.wait(60)
    holder.execute("COMMIT")
    freed.set()
    worker.join(60)
    assert failed == []
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_file_still_busy_when_the_wait_is_over_is_an_error(tmp_path):
    _, db = busy_file(tmp_path)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(db, 0)


def test_an_error_other_than_busy_is_not_tried_again(tmp_path):
    (tmp_path / "f.sqlite").write_bytes(b"not a database" * 100)
    db = sqlite3.connect(tmp_path / "f.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        use_wal(db, 60)
