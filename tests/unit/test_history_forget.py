"""Forgetting a message takes back exactly what learning added for it, and keeps it out."""

from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendguard.history.forget import forget, forget_raw, is_forgotten
from sendguard.history.learn import Learner
from sendguard.history.store import open_for_write, path_in
from sendguard.mail.voice import address_form, closing_of, usual, voice_of
from tests.support import history_fixtures as hf
from tests.support.history_fixtures import learn_into as learn

# What forgetting cannot and need not restore: first-name forms learnt for a new contact (they
# are a dictionary of names, not evidence) and its own bookkeeping (what was forgotten, and the
# changes readers carry their kept counts over).
NOT_COMPARED = {"alias", "forgotten", "changes"}

INTERNAL_NOTE = (
    "Hallo Thomas,\n\nzur Umstrukturierung: die Personalkosten der Abteilung müssen sinken, "
    "zwei Stellen fallen weg. Gibst du dein OK?\n\nGruß\nPetra"
)


def dump(state) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    db = sqlite3.connect(path_in(state))
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    out = {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables if t not in NOT_COMPARED}
    db.close()
    return out


def forget_message(state, raw: bytes):  # type: ignore[no-untyped-def]
    cfg = hf.config()
    db = open_for_write(state)
    try:
        return forget_raw(db, raw, cfg.identity.addresses, cfg.organization.domains)
    finally:
        db.close()


MISTAKES = [
    # the namesake mistake: the client contact, known from their own mail
    hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, msgid="mistake@x.example", n=100),
    # with a colleague in Cc: pairs between known contacts
    hf.mail([hf.CLIENT_THOMAS], "Personalkosten", INTERNAL_NOTE, cc=[hf.COLLEAGUE], msgid="m2@x.example", n=101),
    # to a stranger: a contact that only this message made
    hf.mail(["stranger@elsewhere.example"], "Personalkosten", INTERNAL_NOTE, msgid="m3@x.example", n=102),
]


def test_learn_then_forget_is_as_if_never_learned(tmp_path):
    for i, raw in enumerate(MISTAKES):
        state = tmp_path / f"s{i}"
        learn(state, hf.history_messages())
        before = dump(state)
        assert learn(state, [raw]).added == 1
        assert dump(state) != before
        done = forget_message(state, raw)
        assert done.learned and done.contacts >= 1
        assert dump(state) == before


def test_a_forgotten_message_is_never_learned_again(tmp_path):
    state = tmp_path / "s"
    learn(state, hf.history_messages())
    learn(state, [MISTAKES[0]])
    forget_message(state, MISTAKES[0])
    after = dump(state)
    again = learn(state, [MISTAKES[0]])  # the Sent folder learned once more
    assert again.added == 0 and dump(state) == after
    # forgetting again (or by its Message-ID, with or without <>) changes nothing
    db = open_for_write(state)
    assert not forget(db, "<mistake@x.example>").learned
    assert is_forgotten(db, "mistake@x.example") and is_forgotten(db, "<MISTAKE@x.example>")
    db.close()
    assert dump(state) == after


def test_a_message_forgotten_before_it_was_learned_stays_out(tmp_path):
    state = tmp_path / "s"
    learn(state, hf.history_messages())
    before = dump(state)
    db = open_for_write(state)
    assert not forget(db, "<mistake@x.example>").learned
    db.close()
    assert learn(state, [MISTAKES[0]]).added == 0
    assert dump(state) == before


def test_a_message_forgotten_while_a_learner_holds_it_is_not_learned(tmp_path):
    """The milter's workers gather what they let through and learn it in a batch: a ``forget``
    (``sendguard forget --as``) that commits between a message's arrival in the batch and the
    batch's write keeps it out all the same."""
    state = tmp_path / "s"
    learn(state, hf.history_messages())
    before = dump(state)
    cfg = hf.config()
    db = open_for_write(state)
    learner = Learner(db, cfg.identity.addresses, cfg.organization.domains)
    assert learner.add(MISTAKES[0]) and learner.add(MISTAKES[1])  # waiting in the batch
    other = open_for_write(state)
    assert not forget(other, "<mistake@x.example>").learned  # not yet learned: kept out
    other.close()
    learner.finish()
    db.close()
    learned = sqlite3.connect(path_in(state))
    ids = {r[0] for r in learned.execute("SELECT msgid FROM messages")}
    ledger = {r[0] for r in learned.execute("SELECT msgid FROM ledger")}
    learned.close()
    assert "mistake@x.example" not in ids and "mistake@x.example" not in ledger
    assert "m2@x.example" in ids  # the rest of the batch is learned
    forget_message(state, MISTAKES[1])
    assert dump(state) == before


def test_forget_by_message_id_uses_the_ledger(tmp_path):
    state = tmp_path / "s"
    learn(state, hf.history_messages())
    before = dump(state)
    learn(state, [MISTAKES[1]])
    db = open_for_write(state)
    assert forget(db, "m2@x.example").learned
    db.close()
    assert dump(state) == before


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    picks=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=6, unique=True),
)
def test_forgetting_any_learned_messages_leaves_the_rest_as_learned_alone(tmp_path_factory, picks):
    """Learning all, then forgetting some of the user's own messages, equals learning only the
    others (counts, pairs, words, vocabulary, domains, last-written times)."""
    messages = hf.history_messages()
    own = [i for i, m in enumerate(messages) if b"From: Petra Lang" in m]
    picks = [own[p % len(own)] for p in picks]
    rest = [m for i, m in enumerate(messages) if i not in picks]
    root = tmp_path_factory.mktemp("forget")
    learn(root / "only", rest)
    learn(root / "all", messages)
    for p in picks:
        forget_message(root / "all", messages[p])
    expected, got = dump(root / "only"), dump(root / "all")
    # contact ids are given in order of first appearance: compare contacts by address
    for table in ("contacts",):
        expected[table] = sorted(r[1:] for r in expected[table])
        got[table] = sorted(r[1:] for r in got[table])
    ids_only = _ids(root / "only")
    ids_all = _ids(root / "all")
    for table, cols in (("pairs", (0, 1)), ("words", (0,)), ("senders", (0,)), ("participants", (1,))):
        expected[table] = sorted(_by_addr(r, cols, ids_only) for r in expected[table])
        got[table] = sorted(_by_addr(r, cols, ids_all) for r in got[table])
    assert got == expected


def _ids(state) -> dict[int, str]:  # type: ignore[no-untyped-def]
    db = sqlite3.connect(path_in(state))
    out = dict(db.execute("SELECT id, addr FROM contacts"))
    db.close()
    return out


def _by_addr(row: tuple, cols: tuple[int, ...], ids: dict[int, str]) -> tuple:  # type: ignore[type-arg]
    return tuple(ids.get(v, v) if i in cols else v for i, v in enumerate(row))


def test_voice_reads_greeting_closing_and_form():
    assert voice_of("Hallo Markus,\n\ngibst du dein OK?\n\nViele Grüße\nDaniel\n") == {
        "greeting": "Hallo Markus,",
        "closing": "Viele Grüße",
        "form": "du",
        "language": "de",
    }
    formal = voice_of(
        "Sehr geehrter Herr Brandt,\n\nanbei das Angebot, das wir Ihnen zugesagt haben.\n\nMit freundlichen Grüßen\nDaniel Wolff\n"
    )
    assert formal == {
        "greeting": "Sehr geehrter Herr Brandt,",
        "closing": "Mit freundlichen Grüßen",
        "form": "sie",
        "language": "de",
    }
    assert (
        voice_of("Hi Anna,\n\nthe numbers.\n\nBest regards,\nDaniel\n-- \nNordwerk GmbH\n")["closing"] == "Best regards"
    )
    assert address_form("Bonjour Claire,\n\npouvez-vous confirmer votre accord ?") == "vous"
    assert address_form("Sie kommen morgen. Die Zahlen") == ""  # "Sie" at a sentence start says nothing
    assert closing_of("Hallo,\n\nText.\n\nDaniel") == ""
    assert usual(
        [
            {"greeting": "Hallo Markus,", "form": "du"},
            {"greeting": "Hi Markus,", "form": ""},
            {"greeting": "Hallo Markus,"},
        ]
    ) == {
        "greeting": "Hallo Markus,",
        "closing": "",
        "form": "du",
    }
