"""Near-identical names as confusable contacts (history.twins, store.near_names, rules.namesake).

A small history of its own: Petra Lang (lindenhof.example) writes about salaries with her
colleague Kathrin Meier and about the Granit project with the client Katrin Maier
(bergwerk.example). The two share neither first name, last name, typed prefix nor a near
address; only their names are a spelling apart.
"""

from __future__ import annotations

import sqlite3

from sendguard.decide.check import check_message, envelope_for
from sendguard.history.learn import Learner
from sendguard.history.store import (
    SCHEMA_VERSION,
    open_for_write,
    open_read_only,
    path_in,
)
from sendguard.history.twins import confusables, near_name
from sendguard.mail.message import OutgoingMessage
from tests.support import history_fixtures as hf

KATHRIN = "k.meier@lindenhof.example"
KATRIN = "katrin.maier@bergwerk.example"
NAMES = {hf.ME: "Petra Lang", KATHRIN: "Kathrin Meier", KATRIN: "Katrin Maier", hf.COLLEAGUE: "Mia Sommer"}

SALARIES = (
    "Hallo Kathrin,\n\ndie Gehälter und Personalkosten der Abteilung liegen über Budget; "
    "die Umstrukturierung besprechen wir mit Mia.\n\nGruß\nPetra"
)
GRANIT = "Hallo Katrin,\n\nder Meilenstein für Granit ist erreicht, die Abnahme folgt.\n\nGruß\nPetra"


def mail(to: list[str], subject: str, body: str, n: int, cc: list[str] = (), frm: str = hf.ME) -> bytes:  # type: ignore[assignment]
    return hf.mail(to, subject, body, cc=cc, frm=frm, n=n, msgid=f"near{n}@test.example", names=NAMES)


def history() -> list[bytes]:
    out = [mail([KATHRIN], "Personalkosten Abteilung", SALARIES, n, cc=[hf.COLLEAGUE]) for n in range(8)]
    out += [mail([KATRIN], "Granit Meilenstein", GRANIT, n) for n in range(8, 14)]
    out += [mail([hf.ME], "Re: Personalkosten", "Hallo Petra,\n\nverstanden.\n\nKathrin", 14, frm=KATHRIN)]
    return out


def learned(tmp_path, older: bool = False):  # type: ignore[no-untyped-def]
    state = tmp_path / "state"
    cfg = hf.config()
    db = open_for_write(state)
    if older:  # an older history file: the same tables without the name-key indexes
        for (index,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'contacts_name_key%'"
        ).fetchall():
            db.execute(f"DROP INDEX {index}")
    with Learner(db, cfg.identity.addresses, cfg.organization.domains) as learner:
        for raw in history():
            learner.add(raw)
    db.close()
    return state


def run(state, raw):  # type: ignore[no-untyped-def]
    message = OutgoingMessage(raw)
    return check_message(
        message, hf.config(), envelope=envelope_for(message, (), False), state_dir=state, now=1_800_000_000.0
    ).decision


def namesake(decision):  # type: ignore[no-untyped-def]
    return [f for f in decision.findings if f.rule == "namesake"]


def test_near_names_are_a_spelling_apart_and_long_enough():
    assert near_name("jon smyth", "john smith")
    assert near_name("katrin maier", "kathrin meier")
    assert not near_name("anna li", "anne lu")  # two letters of seven: another person
    assert not near_name("katrin maier", "karin mayer-vogt")


def test_the_near_name_twin_is_a_confusable_contact(tmp_path):
    store = open_read_only(learned(tmp_path))
    twins = {c.addr: why for c, why in confusables(store, KATRIN, "Katrin Maier")}
    assert twins == {KATHRIN: "a near-identical name"}


def test_salary_mail_to_the_client_with_a_near_name_finds_the_colleague(tmp_path):
    d = run(learned(tmp_path), mail([KATRIN], "Personalkosten Abteilung", SALARIES, 100, cc=[hf.COLLEAGUE]))
    found = namesake(d)
    assert [f.recipient for f in found] == [KATRIN]
    assert found[0].suggestion == KATHRIN
    assert "a near-identical name" in found[0].message


def test_project_mail_to_the_client_is_not_questioned(tmp_path):
    d = run(learned(tmp_path), mail([KATRIN], "Granit Abnahme", GRANIT, 100))
    assert namesake(d) == []


def test_salary_mail_to_the_colleague_is_not_questioned(tmp_path):
    d = run(learned(tmp_path), mail([KATHRIN], "Personalkosten Abteilung", SALARIES, 100, cc=[hf.COLLEAGUE]))
    assert namesake(d) == []


def test_an_older_history_file_answers_the_same_and_gets_the_index_on_the_next_write(tmp_path):
    state = learned(tmp_path, older=True)
    store = open_read_only(state)
    assert [c.addr for c, _ in confusables(store, KATRIN, "Katrin Maier")] == [KATHRIN]
    open_for_write(state).close()
    db = sqlite3.connect(path_in(state))
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"contacts_name_key_first", "contacts_name_key_last"} <= indexes
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (str(SCHEMA_VERSION),)
    db.close()
