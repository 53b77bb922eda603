"""A reader's kept counts carried over learned batches (history.store.HistoryStore.carry): the
store after a change answers every word, pair and vocabulary lookup as a store read afresh."""

from __future__ import annotations

import random
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendguard.config.schema import parse
from sendguard.history.forget import forget
from sendguard.history.store import HistoryStore, open_for_write, open_read_only, path_in
from tests.support import history_fixtures as hf
from tests.support import judgement_world as jw

CFG = parse(jw.CONFIG_TEXT)
EXTRA_WORDS = ["never", "heard", "zebra"]


def received(raw: bytes, i: int) -> bytes:
    """The same text as mail the user received from its first recipient (pairs, vocabulary)."""
    head, body = raw.split(b"\n\n", 1)
    lines = dict(line.split(b": ", 1) for line in head.split(b"\n"))
    sender = lines[b"To"].split(b", ")[0]
    head = b"\n".join(
        [b"From: " + sender, b"To: " + jw.ME.encode(), b"Subject: " + lines[b"Subject"], b"Date: " + lines[b"Date"]]
        + [b"Message-ID: <r%d@elsewhere.example>" % i]
    )
    return head + b"\n\n" + body


def mail(n: int, seed: int = 5) -> list[bytes]:
    sent = jw.messages(jw.world(teams=6), n, seed=seed)
    return [received(raw, i) if i % 3 == 2 else raw for i, raw in enumerate(sent)]


def learn(state, raws: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    hf.learn_into(state, raws, CFG)


def universe(state) -> tuple[list[int], list[str]]:  # type: ignore[no-untyped-def]
    db = sqlite3.connect(path_in(state))
    ids = [r[0] for r in db.execute("SELECT id FROM contacts ORDER BY id")]
    words = [r[0] for r in db.execute("SELECT word FROM vocab ORDER BY word")]
    db.close()
    return ids, words + EXTRA_WORDS


def ask(store: HistoryStore, rng: random.Random, ids: list[int], words: list[str]) -> None:
    """Some lookups, so the store keeps their answers."""
    some_ids = rng.sample(ids, max(1, len(ids) // 2))
    some_words = rng.sample(words, max(1, len(words) // 2))
    store.contact_words(some_ids, some_words)
    store.pair_counts(some_ids, rng.sample(ids, max(1, len(ids) // 2)))
    store.vocab(some_words)


def assert_answers_afresh(state, store: HistoryStore) -> None:  # type: ignore[no-untyped-def]
    """Every id's counts of every word, every pair, the whole vocabulary: as sqlite says now."""
    ids, words = universe(state)
    fresh = HistoryStore(sqlite3.connect(f"file:{path_in(state)}?mode=ro", uri=True))
    wanted = set(words)
    kept = store.contact_words(ids, words)
    plain = fresh.contact_words(ids, words)
    assert {i: {w: n for w, n in kept[i].items() if w in wanted} for i in ids} == plain
    assert store.pair_counts(ids, ids) == fresh.pair_counts(ids, ids)
    assert store.vocab(words) == fresh.vocab(words)
    fresh.db.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.integers(1, 10), min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_kept_counts_carried_over_learned_batches_are_what_sqlite_says(tmp_path_factory, batches, seed):
    state = tmp_path_factory.mktemp("carry")
    raws = mail(40 + sum(batches))
    learn(state, raws[:40])
    rng = random.Random(seed)
    store = open_read_only(state)
    assert store is not None
    at = 40
    for n in batches:
        ask(store, rng, *universe(state))
        learn(state, raws[at : at + n])
        at += n
        carried = open_read_only(state)
        assert carried is not None and carried is not store
        assert not store.keeps_lookups  # its counts handed over to the new store
        store = carried
    assert_answers_afresh(state, store)


def asked(state, n: int, seed: int) -> tuple[HistoryStore, list[bytes]]:  # type: ignore[no-untyped-def]
    """A store of 45 learned messages that was asked some lookups, and ``n`` messages in all."""
    raws = mail(n)
    learn(state, raws[:45])
    store = open_read_only(state)
    assert store is not None
    ask(store, random.Random(seed), *universe(state))
    return store, raws


def assert_read_afresh(state, store: HistoryStore) -> None:  # type: ignore[no-untyped-def]
    """The store after the change carried nothing over, and answers as sqlite says."""
    after = open_read_only(state)
    assert store.keeps_lookups  # kept where they were: the new store reads afresh
    assert after is not None
    assert_answers_afresh(state, after)


LAST = "(SELECT max(seq) FROM changes)"


def alter(state, statement: str, *args: object) -> None:  # type: ignore[no-untyped-def]
    """One statement on the history file, as another program (or version) would write it."""
    db = sqlite3.connect(path_in(state))
    with db:
        db.execute(statement, args)
    db.close()


def take_out_last_note(state) -> None:  # type: ignore[no-untyped-def]
    """As if the last batch were learned by a version that does not note its changes."""
    alter(state, f"DELETE FROM changes WHERE seq = {LAST}")


def test_nothing_is_carried_over_a_forget(tmp_path):
    store, raws = asked(tmp_path, 50, seed=1)
    learn(tmp_path, raws[45:])
    db = open_for_write(tmp_path)
    assert forget(db, "<s5-46@home.example>").learned
    db.close()
    assert_read_afresh(tmp_path, store)


def test_nothing_is_carried_over_a_change_it_has_no_note_of(tmp_path):
    store, raws = asked(tmp_path, 50, seed=2)
    learn(tmp_path, raws[45:])
    take_out_last_note(tmp_path)
    assert_read_afresh(tmp_path, store)


def test_nothing_is_carried_over_a_batch_an_earlier_version_noted(tmp_path):
    """Schema 5 noted a batch in ``data`` as triples, and leaves ``notes`` empty."""
    store, raws = asked(tmp_path, 50, seed=7)
    learn(tmp_path, raws[45:])
    old = '{"w":[[1,"budget",2]],"p":[],"v":[["budget",1,1,0]]}'
    alter(tmp_path, f"UPDATE changes SET data = ?, notes = NULL WHERE seq = {LAST}", old)
    assert_read_afresh(tmp_path, store)


def test_a_file_without_the_notes_column_is_read_afresh(tmp_path):
    """A file of schema 5 that this version has only read so far (learning adds the column)."""
    store, raws = asked(tmp_path, 50, seed=8)
    learn(tmp_path, raws[45:])
    alter(tmp_path, "ALTER TABLE changes DROP COLUMN notes")
    assert_read_afresh(tmp_path, store)
    after = open_read_only(tmp_path)
    assert after is not None and after.db is store.db  # the same connection reads on, not a new one


def test_nothing_is_carried_over_a_change_without_a_note_between_two_with_one(tmp_path):
    store, raws = asked(tmp_path, 60, seed=3)
    learn(tmp_path, raws[45:50])
    learn(tmp_path, raws[50:55])
    take_out_last_note(tmp_path)
    learn(tmp_path, raws[55:])  # noted, under the number the one taken out had
    assert_read_afresh(tmp_path, store)


def test_a_store_far_behind_reads_afresh(tmp_path, monkeypatch):
    from sendguard.history import store as store_module

    store, raws = asked(tmp_path, 60, seed=4)
    learn(tmp_path, raws[45:])
    db = sqlite3.connect(path_in(tmp_path))
    (noted,) = db.execute("SELECT length(notes) FROM changes ORDER BY seq DESC LIMIT 1").fetchone()
    db.close()
    monkeypatch.setattr(store_module, "MAX_CARRIED", noted - 1)
    assert_read_afresh(tmp_path, store)


def test_counts_read_after_a_change_the_store_was_not_made_at_are_not_carried(tmp_path):
    """A batch committed while a store lives: what it reads after is the newer history, so
    carrying it over that batch's change would count the batch twice."""
    raws = mail(60)
    learn(tmp_path, raws[:45])
    store = open_read_only(tmp_path)
    assert store is not None
    store.vocab(["budget"])
    learn(tmp_path, raws[45:52])  # committed; the store is not asked for anew
    ids, words = universe(tmp_path)
    store.contact_words(ids, words)  # read at the newer history
    store.vocab(words)
    learn(tmp_path, raws[52:])
    assert_read_afresh(tmp_path, store)


def test_nothing_is_carried_over_a_batch_too_large_to_note(tmp_path, monkeypatch):
    """A first ``learn``'s batches note only that they changed the counts."""
    from sendguard.history import learn as learn_module

    store, raws = asked(tmp_path, 50, seed=5)
    monkeypatch.setattr(learn_module, "MAX_NOTED_CHANGES", 0)
    learn(tmp_path, raws[45:])
    assert_read_afresh(tmp_path, store)


@pytest.mark.parametrize(
    "data",
    [
        '{"w":[[1,"budget",2]],"p":[],"v":[["budget",1,1,0]]}',  # an earlier version's triples
        '{"words":[[1,"budget plan",[2]]],"pairs":[],"vocab":["budget",[1],[1],[0]]}',  # two words, one count
        '{"words":[],"pairs":[],"vocab":["budget plan",[1,1],[1],[0,0]]}',  # a column short
        "not json",
    ],
)
def test_a_note_in_another_form_is_not_guessed_at(tmp_path, data):
    store, raws = asked(tmp_path, 50, seed=6)
    learn(tmp_path, raws[45:])
    alter(tmp_path, f"UPDATE changes SET notes = ? WHERE seq = {LAST}", data)
    assert_read_afresh(tmp_path, store)
