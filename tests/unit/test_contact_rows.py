"""A contact's row as later mail completes it: a name learned later fills in what was missing,
a longer first name replaces an initial, and nothing a later message lacks is lost. Learning
writes a contact's names only when they change (each write rewrites its name indexes), and its
counts without ``sent`` when it was not written to: the row must be what writing always gives."""

from __future__ import annotations

from pathlib import Path

from sendguard.history.learn import Learner
from sendguard.history.store import HistoryStore, open_for_write

ME = "me@home.example"


def learn(state: Path, *raws: str) -> None:
    """Each message in a batch of its own, so every one goes through an existing row."""
    db = open_for_write(state)
    for n, raw in enumerate(raws):
        with Learner(db, [ME], ["home.example"]) as learner:
            learner.add(
                f"Message-ID: <m{n}-{hash(raw)}@home.example>\nDate: Mon, 7 Dec 2026 10:0{n}:00 +0000\n{raw}".encode()
            )
    db.close()


def sent(to: str) -> str:
    return f"From: {ME}\nTo: {to}\nSubject: figures\n\nthe figures\n"


def received(sender: str) -> str:
    return f"From: {sender}\nTo: {ME}\nSubject: figures\n\nthe figures\n"


def contact(state: Path, addr: str):  # type: ignore[no-untyped-def]
    db = open_for_write(state)
    try:
        return HistoryStore(db).contact(addr)
    finally:
        db.close()


def test_a_name_learned_later_completes_the_row_and_is_kept(tmp_path):
    learn(
        tmp_path,
        sent("k.berger@client.example"),
        sent("Katrin Berger <k.berger@client.example>"),
        sent("k.berger@client.example"),
        received("K. Berger <k.berger@client.example>"),
    )
    c = contact(tmp_path, "k.berger@client.example")
    assert (c.first, c.last) == ("katrin", "berger")
    assert c.name == "K. Berger"  # the newest display name given
    assert (c.sent, c.received, c.seen) == (3, 1, 4)


def test_a_last_name_fills_in_once(tmp_path):
    learn(tmp_path, sent("anna@client.example"), sent("Anna Maier <anna@client.example>"))
    c = contact(tmp_path, "anna@client.example")
    assert (c.first, c.last) == ("anna", "maier")


def test_counts_of_mail_received_keep_the_contact_found_by_its_name(tmp_path):
    learn(
        tmp_path,
        sent("Katrin Berger <k.berger@client.example>"),
        received("Katrin Berger <k.berger@client.example>"),
        received("Katrin Berger <k.berger@client.example>"),
    )
    db = open_for_write(tmp_path)
    try:
        found = HistoryStore(db).by_first(["katrin"], limit=5)
    finally:
        db.close()
    assert [(c.addr, c.sent, c.received) for c in found] == [("k.berger@client.example", 1, 2)]
