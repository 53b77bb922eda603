"""The greeting as evidence of whom a message is for, where the recipient's first name is unknown."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from sendguard.history.fit import FitModel, MessageView
from sendguard.history.learn import Learner
from sendguard.history.store import HistoryStore, open_for_write
from sendguard.mail.message import OutgoingMessage

ME = "me@corp.example"
INITIAL = "k..heathman@corp.example"  # how Exchange wrote a middle initial: the first name unknown
KAREN = "karen.smith@corp.example"
BILL = "william.brown@corp.example"
UNNAMED = "tajmajulie@mail.example"


def mail(to: str, body: str, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = ME
    msg["To"] = to
    msg["Subject"] = f"note {n}"
    msg["Message-ID"] = f"<{n}@corp.example>"
    msg["Date"] = "Mon, 01 Oct 2001 10:00:00 -0000"
    msg.set_content(body)
    return bytes(msg)


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    db = open_for_write(tmp_path)
    with Learner(db, [ME], ["corp.example"]) as learner:
        for n, to in enumerate([INITIAL, KAREN, BILL, UNNAMED] * 3):
            learner.add(mail(to, "See the attached figures.\n", n))
    return HistoryStore(db)


def greeted(store: HistoryStore, to: str, greeting: str) -> dict[str, bool]:
    message = OutgoingMessage(mail(to, f"{greeting}\n\nthe figures for Monday are in.\n", 99))
    model = FitModel(store, MessageView(message, [to]))
    contacts = [store.contact(a) for a in (INITIAL, KAREN, BILL, UNNAMED)]
    fits = model.fits([c for c in contacts if c is not None], [to])
    return {f.contact.addr: f.greeting for f in fits.values()}


def test_a_greeting_that_may_name_an_initial_counts_for_it(store):  # type: ignore[no-untyped-def]
    # "Karen," to k..heathman: it cannot be checked, so it is no evidence for the other Karen
    found = greeted(store, INITIAL, "Karen,")
    assert found[INITIAL] and found[KAREN]
    assert not found[BILL]


def test_a_greeting_that_cannot_name_the_initial_does_not_count(store):  # type: ignore[no-untyped-def]
    found = greeted(store, INITIAL, "Bill,")
    assert not found[INITIAL]
    assert found[BILL]  # the history knows Bill as a short form of William


def test_an_unknown_first_name_is_greeted_only_by_a_name_its_address_holds(store):  # type: ignore[no-untyped-def]
    assert greeted(store, UNNAMED, "Julie,")[UNNAMED]
    assert not greeted(store, UNNAMED, "Karen,")[UNNAMED]
