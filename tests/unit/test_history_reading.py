"""Learning with readers on the other cores (history.reading): the history and the learner's
counts are those learning each message in turn gives, also for broken mail, copies and a run
interrupted by Ctrl-C."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from sendguard.config.schema import parse
from sendguard.history import reading
from sendguard.history.learn import Learner
from sendguard.history.reading import Reading
from sendguard.history.store import open_for_write, open_read_only
from tests.support import judgement_world as jw
from tests.support.history_fixtures import tables_of

CFG = parse(jw.CONFIG_TEXT)


CHUNK = 16


def mail() -> list[bytes]:
    """Enough for several chunks and a partial one, with what learning skips among it."""
    raws = jw.messages(jw.world(), 8 * CHUNK + 7)
    broken = [
        b"no header block at all",
        b"From: \nTo: anna.berger@home.example\nSubject: nobody\n\nwho sent this?\n",
        b"From: =?x-unknown?q?a?= <a@b.example>\nDate: Mon, 99 Zzz 99999 99:99:99\nTo: c@d.example\n\nx\n",
    ]
    return raws[:70] + broken + raws[:5] + raws[70:]  # five copies of mail read before


def learn(state: Path, raws: list[bytes], reader: bool) -> Learner:
    db = open_for_write(state)
    with (
        Learner(db, CFG.identity.addresses, CFG.organization.domains) as learner,
        Reading(learner, reader, CHUNK) as r,
    ):
        for raw in raws:
            r.add(raw)
    db.close()
    return learner


def test_readers_learn_the_history_learning_in_turn_gives(tmp_path):
    raws = mail()
    alone = learn(tmp_path / "alone", raws, False)
    beside = learn(tmp_path / "beside", raws, True)
    assert (beside.added, beside.skipped, beside.received) == (alone.added, alone.skipped, alone.received)
    assert alone.skipped >= 5 + 2  # the copies and the unusable ones
    assert tables_of(tmp_path / "beside") == tables_of(tmp_path / "alone")


def test_the_counts_are_whole_after_drain(tmp_path):
    raws = jw.messages(jw.world(), CHUNK + 3)
    db = open_for_write(tmp_path)
    with Learner(db, CFG.identity.addresses, CFG.organization.domains) as learner, Reading(learner, True, CHUNK) as r:
        for raw in raws:
            r.add(raw)
        r.drain()
        assert learner.added == len(raws)
    db.close()


def test_a_run_interrupted_by_ctrl_c_keeps_every_message_read(tmp_path):
    raws = jw.messages(jw.world(), CHUNK * (reading.AHEAD + 2) + 1)
    db = open_for_write(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with (
            Learner(db, CFG.identity.addresses, CFG.organization.domains) as learner,
            Reading(learner, True, CHUNK) as r,
        ):
            for raw in raws:
                r.add(raw)
            raise KeyboardInterrupt
    db.close()
    store = open_read_only(tmp_path)
    assert store is not None and store.meta("messages") == len(raws)


def test_a_reader_that_dies_costs_nothing_learned(tmp_path):
    """Killed mid-run (out of memory, an operator): what it held is read by the learner itself."""
    raws = mail()
    alone = learn(tmp_path / "alone", raws, False)
    db = open_for_write(tmp_path / "beside")
    with Learner(db, CFG.identity.addresses, CFG.organization.domains) as learner, Reading(learner, True, CHUNK) as r:
        for n, raw in enumerate(raws):
            if n == 3 * CHUNK + 5:
                assert r.process is not None and r.process.pid is not None
                os.kill(r.process.pid, signal.SIGKILL)
            r.add(raw)
    db.close()
    assert (learner.added, learner.skipped, learner.received) == (alone.added, alone.skipped, alone.received)
    assert tables_of(tmp_path / "beside") == tables_of(tmp_path / "alone")
