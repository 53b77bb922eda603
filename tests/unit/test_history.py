"""The history store: learning from maildirs, mbox files, folders and notmuch; lookups; trust."""

from __future__ import annotations

import mailbox
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard import history
from sendguard.act import events
from sendguard.history import sources, trust
from sendguard.history.learn import observe_message
from sendguard.history.store import open_for_write, open_read_only, path_in
from sendguard.mail.greetings import fold
from sendguard.mail.message import normalize_address
from tests.support import history_fixtures as hf
from tests.support.history_fixtures import learn_into as learn


def dump(state) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    db = sqlite3.connect(path_in(state))
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    out = {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    db.close()
    return out


def test_nothing_learned_means_no_history(tmp_path):
    assert history.open_for_check(tmp_path) is None
    open_for_write(tmp_path).close()  # schema but no messages
    assert history.open_for_check(tmp_path) is None


def test_sent_and_received_counts(tmp_path):
    state = hf.learned_state(tmp_path)
    store = history.open_for_check(state)
    boss = store.contact(hf.BOSS)
    assert boss.sent == 15 and boss.received == 0
    assert (boss.first, boss.last) == ("thomas", "keller")
    client = store.contact(hf.CLIENT_THOMAS)
    assert client.sent == 6 and client.received == 3
    assert store.contact(hf.ME) is None  # the user is no contact of their own
    pairs = store.pair_counts([boss.id], [store.contact(hf.COLLEAGUE).id])
    assert list(pairs.values()) == [15]


def test_learning_twice_changes_nothing(tmp_path):
    state = tmp_path / "s"
    first = learn(state, hf.history_messages())
    before = dump(state)
    second = learn(state, hf.history_messages())
    assert first.added == len(hf.history_messages()) and second.added == 0
    assert dump(state) == before


@settings(max_examples=15, deadline=None)
@given(order=st.permutations(list(range(8))), repeat=st.integers(min_value=1, max_value=3))
def test_learning_is_order_and_repeat_independent(tmp_path_factory, order, repeat):
    messages = hf.history_messages()[:8]
    a = tmp_path_factory.mktemp("a")
    b = tmp_path_factory.mktemp("b")
    learn(a, messages)
    for _ in range(repeat):
        learn(b, [messages[i] for i in order])
    assert dump(a)["contacts"] == dump(b)["contacts"]
    assert dump(a)["words"] == dump(b)["words"]
    assert dump(a)["pairs"] == dump(b)["pairs"]


@given(st.text(max_size=40))
def test_address_normalisation_is_idempotent(text):
    once = normalize_address(text)
    assert normalize_address(once) == once


@given(st.text(max_size=30))
def test_name_folding_is_idempotent(text):
    assert fold(fold(text)) == fold(text)


def test_maildir_mbox_and_folder_sources(tmp_path):
    messages = hf.history_messages()
    maildir = hf.write_maildir(tmp_path / "Mail" / "sent", messages[:10])
    (maildir / "tmp" / "half-written").write_bytes(b"From: x@y\n\npartial")
    box = mailbox.mbox(tmp_path / "archive.mbox")
    for raw in messages[10:20]:
        box.add(raw)
    box.flush()
    box.close()
    folder = tmp_path / "folder"
    folder.mkdir()
    for i, raw in enumerate(messages[20:]):
        (folder / f"{i}.eml").write_bytes(raw)
    found = [
        raw
        for p in (tmp_path / "Mail", tmp_path / "archive.mbox", folder)
        for f in sources.message_files(p)
        for raw in sources.read_messages(f)
    ]
    assert len(found) == len(messages)
    learner = learn(tmp_path / "state", found)
    assert learner.added == len(messages)


def test_notmuch_query(tmp_path):
    pytest.importorskip("notmuch2")
    mail_root = hf.notmuch_mail_root(tmp_path / "mail", "inbox")
    got = list(sources.notmuch_messages("subject:Lotse", mail_root))
    assert len(got) == 6 and all(b"Lotse" in raw for raw in got)
    learn(tmp_path / "state", got)
    store = history.open_for_check(tmp_path / "state")
    assert store.contact(hf.CLIENT_ANNA).sent == 6 and store.contact(hf.BOSS) is None


def test_nicknames_find_full_names(tmp_path):
    bill = hf.mail(["william.hart@lindenhof.example"], "Plan", "Hi Bill,\n\nplan attached.\n")
    sasha = hf.mail(["olga.ivanova@lindenhof.example"], "План", "Здравствуйте, Ольга!\n\nПлан.\n", n=1)
    learn(tmp_path / "s", [bill, sasha])
    store = history.open_for_check(tmp_path / "s")
    assert [c.addr for c in store.by_first(["bill"])] == ["william.hart@lindenhof.example"]
    assert [c.addr for c in store.by_first([fold("Ольга")])] == ["olga.ivanova@lindenhof.example"]


def test_trust_round_trip(tmp_path):
    state = hf.learned_state(tmp_path)
    trust.trust(state, "Thomas.Kern@Bergwerk.example", "namesake")
    store = history.open_for_check(state)
    assert store.is_trusted(hf.CLIENT_THOMAS, "namesake")
    assert not store.is_trusted(hf.CLIENT_THOMAS, "greeting-mismatch")
    trust.trust(state, hf.CLIENT_ANNA)
    assert history.open_for_check(state).is_trusted(hf.CLIENT_ANNA, "anything")
    assert trust.untrust(state, hf.CLIENT_ANNA) == 1
    assert not history.open_for_check(state).is_trusted(hf.CLIENT_ANNA, "anything")


def test_delivered_messages_update_the_history(tmp_path):
    from sendguard.act.queue import Queue

    queue = Queue(tmp_path / "queue")
    raw = hf.mail(["neu@kunde.example"], "Angebot", "Hallo,\n\nanbei das Angebot.\n")
    entry, lock = queue.create(raw, {"state": "accepted"})
    lock.release()
    events.emit(entry, "delivered", hf.config(), observers=("sendguard.history.observer",))
    from sendguard import paths

    store = open_read_only(paths.state_dir())
    assert store.contact("neu@kunde.example").sent == 1
    events.emit(entry, "delivered", hf.config(), observers=("sendguard.history.observer",))
    assert open_read_only(paths.state_dir()).contact("neu@kunde.example").sent == 1  # idempotent


def _levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[:], i
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
    return row[-1]


@given(st.text(alphabet="abcd.@", max_size=9), st.text(alphabet="abcd.@", max_size=9))
def test_bounded_edit_distance_agrees_with_levenshtein(a, b):
    from sendguard.history.twins import edit_distance

    assert edit_distance(a, b) == min(_levenshtein(a, b), 3)


def test_history_files_are_private(tmp_path):
    state = hf.learned_state(tmp_path)
    for file in state.iterdir():
        assert file.stat().st_mode & 0o077 == 0, file


def test_a_hostile_message_does_not_stop_learning(tmp_path):
    hostile = b"From: x@y.example\nTo: " + b"a:" * 3000 + b"b@c.example\nSubject: x\n\nbody\n"
    learner = learn(tmp_path / "s", [hostile, *hf.history_messages()[:5]])
    # the address parser reads it (b@c.example after 3000 empty groups) where the stdlib's gave up
    assert learner.added + learner.skipped == 6 and learner.added >= 5


def test_how_recently_the_user_heard_from_a_contact(tmp_path):
    """last_received: the contact's own latest mail to the user (last_seen counts the user's too)."""
    state = tmp_path / "s"
    heard = hf.mail([hf.ME], "Granit: Frage", "Hallo Petra,\n\neine Frage.\n", frm=hf.CLIENT_THOMAS, n=1)
    wrote = hf.mail([hf.CLIENT_THOMAS], "Re: Granit: Frage", "Hallo Thomas,\n\nAntwort.\n", n=5)
    learn(state, [heard, wrote])
    thomas = history.open_for_check(state).contact(hf.CLIENT_THOMAS)
    assert thomas.last_received == 1_700_000_000.0 + 3600
    assert thomas.last_sent == thomas.last_seen == 1_700_000_000.0 + 5 * 3600


def test_a_history_from_before_last_received_is_read_and_then_migrated(tmp_path):
    state = tmp_path / "s"
    learn(state, [hf.mail([hf.CLIENT_THOMAS], "Granit", "Hallo Thomas,\n\nok.\n")])
    db = sqlite3.connect(path_in(state))
    db.execute("ALTER TABLE contacts DROP COLUMN last_received")  # as schema 2 wrote it
    db.commit()
    db.close()
    old = history.open_for_check(state).contact(hf.CLIENT_THOMAS)
    assert old.sent == 1 and old.last_received == 0.0
    learn(state, [hf.mail([hf.ME], "Re: Granit", "Hallo Petra,\n\ndanke.\n", frm=hf.CLIENT_THOMAS, n=2)])
    new = history.open_for_check(state).contact(hf.CLIENT_THOMAS)
    assert new.sent == 1 and new.received == 1 and new.last_received == 1_700_000_000.0 + 2 * 3600


@pytest.mark.parametrize(
    ("sender", "learned"),
    [
        # an encoded name holding an address: the address is the one in angle brackets
        (
            "=?utf-8?q?ceo=40nordwerk.example?= <attacker@evil.example>",
            ("attacker@evil.example", "ceo@nordwerk.example"),
        ),
        # "Surname, Given name" encoded (as Outlook writes it): one mailbox, not a lost message
        ("=?utf-8?q?M=C3=BCller=2C_Hans?= <hans@kunde.example>", ("hans@kunde.example", "Müller, Hans")),
        ('"Berger, Maria" <m.berger@nordwerk.example>', ("m.berger@nordwerk.example", "Berger, Maria")),
    ],
)
def test_names_are_decoded_after_the_addresses_are_read(sender, learned):
    raw = (
        f"From: {sender}\nTo: =?utf-8?q?boss=40nordwerk.example=2C_x?= <kai@nordwerk.example>\n"
        "Subject: s\nMessage-ID: <n@x.example>\n\nbody\n"
    ).encode()
    observed = observe_message(raw, {"me@nordwerk.example"}, ["nordwerk.example"])
    assert observed is not None
    assert (observed.sender, observed.sender_name) == learned
    assert observed.recipients == [("kai@nordwerk.example", "boss@nordwerk.example, x")]


def senders_kept(tmp_path, monkeypatch, senders: int, kept: int) -> list[Path]:  # type: ignore[no-untyped-def]
    """``senders`` state directories with a learned history each, in a process that keeps at
    most ``kept`` histories open (and nothing kept yet)."""
    from sendguard.history import store

    monkeypatch.setattr(store, "MAX_OPEN", kept)
    monkeypatch.setattr(store, "_KEPT", store._Kept())
    states = [tmp_path / f"sender{n}" for n in range(senders)]
    for state in states:
        state.mkdir()
        learn(state, [hf.mail(["kollege@nordwerk.example"], "Plan", "Hallo,\n\nder Plan.\n")])
    return states


def test_a_store_a_check_reads_stays_open_while_another_thread_opens_other_histories(tmp_path, monkeypatch):
    """A milter worker checks on its main thread while its notice thread reads another sender's
    history (senders.notice_address: where a login's notice goes). Making room for that one
    closed the store kept longest, which may be the very one the check was reading: its rules
    then failed on a closed database and the message was held as not checkable."""
    import threading

    from sendguard.history import store

    states = senders_kept(tmp_path, monkeypatch, senders=3, kept=2)
    checking = open_read_only(states[0])
    assert open_read_only(states[1]) is not None

    found: list[list[str]] = []
    other = threading.Thread(target=lambda: found.append(open_read_only(states[2]).sent_from()))
    other.start()
    other.join()
    try:
        assert found == [[hf.ME]]
        assert checking.contact("kollege@nordwerk.example").sent == 1
    finally:
        for kept in store._KEPT.stores.values():
            store._close(kept[1])


def test_a_process_reading_many_histories_keeps_a_bounded_number_of_files_open(tmp_path, monkeypatch):
    """The milter's workers read one history per sender: the stores they no longer keep close
    their connections at once, not when the cyclic collector next runs (a worker checking for
    2000 senders held over 1000 descriptors, past a service's default limit of 1024)."""
    import gc
    import os

    from sendguard.history import store

    states = senders_kept(tmp_path, monkeypatch, senders=20, kept=4)

    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_files()
    gc.disable()  # as between two runs of the collector in a busy worker
    try:
        for state in states:
            assert open_read_only(state).contact("kollege@nordwerk.example").sent == 1
        held = open_files() - before
    finally:
        gc.enable()
        for kept in store._KEPT.stores.values():
            store._close(kept[1])
    assert held <= 3 * store.MAX_OPEN, f"{held} descriptors for {store.MAX_OPEN} stores kept"
