"""A Learner gives sqlite a larger page cache while it writes, and gives it back: a connection
kept open (a milter worker's, per sender) must not keep the learning's pages afterwards."""

from __future__ import annotations

import pytest

from sendguard.history.learn import CACHE_KIB, Learner
from sendguard.history.store import open_for_write
from tests.support import judgement_world as jw


def cache_size(db: object) -> int:
    (size,) = db.execute("PRAGMA cache_size").fetchone()  # type: ignore[attr-defined]
    return int(size)


def test_the_cache_is_larger_while_learning_and_given_back(tmp_path):
    db = open_for_write(tmp_path)
    db.execute("PRAGMA cache_size = -500")
    with Learner(db, ["me@home.example"], ["home.example"]) as learner:
        assert cache_size(db) == -CACHE_KIB
        for raw in jw.messages(jw.world(), 20):
            learner.add(raw)
    assert learner.added == 20
    assert cache_size(db) == -500
    db.close()


def test_the_cache_is_given_back_when_learning_is_interrupted(tmp_path):
    db = open_for_write(tmp_path)
    before = cache_size(db)
    with pytest.raises(KeyboardInterrupt), Learner(db, ["me@home.example"], ["home.example"]) as learner:
        learner.add(jw.messages(jw.world(), 1)[0])
        raise KeyboardInterrupt
    assert cache_size(db) == before
    assert db.execute("SELECT count(*) FROM messages").fetchone() == (1,)  # what was read is learned
    db.close()
