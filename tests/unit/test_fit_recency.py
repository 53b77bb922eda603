"""Recency as evidence of whom a message is for: how long since the user and a contact were in
touch, whichever of them wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from sendguard.history.fit import AGE_CAP, FitModel, MessageView
from sendguard.history.learn import Learner
from sendguard.history.store import HistoryStore, open_for_write
from sendguard.mail.message import OutgoingMessage

ME = "me@corp.example"
WROTE_TO = "anna.berg@corp.example"  # the user wrote to her 30 days ago
WROTE_BACK = "anna.brandt@client.example"  # the user wrote to her a year ago; she answered yesterday
SILENT = "anna.bauer@corp.example"  # the user wrote to her a year ago, nothing since
COPIED = "anna.bell@corp.example"  # only copied on mail the user received yesterday
NOW = datetime(2001, 10, 1, 10, 0, tzinfo=UTC)


def mail(frm: str, to: str, days_ago: float, n: int, cc: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = f"note {n}"
    msg["Message-ID"] = f"<{n}@corp.example>"
    msg["Date"] = format_datetime(NOW - timedelta(days=days_ago))
    msg.set_content("The figures for Monday.\n")
    return bytes(msg)


@pytest.fixture
def model(tmp_path):  # type: ignore[no-untyped-def]
    db = open_for_write(tmp_path)
    with Learner(db, [ME], ["corp.example"]) as learner:
        learner.add(mail(ME, WROTE_TO, 30, 1))
        learner.add(mail(ME, WROTE_BACK, 365, 2))
        learner.add(mail(WROTE_BACK, ME, 1, 3, cc=COPIED))
        learner.add(mail(ME, SILENT, 365, 4))
    store = HistoryStore(db)
    message = OutgoingMessage(mail(ME, WROTE_BACK, 0, 99))
    return FitModel(store, MessageView(message, [WROTE_BACK]), when=NOW.timestamp())


def age(model: FitModel, addr: str) -> float:
    contact = model.store.contact(addr)
    assert contact is not None
    return model.age(contact)


def test_answering_someone_who_wrote_yesterday_is_current(model):  # type: ignore[no-untyped-def]
    # before: a year since the user last wrote to her, so a colleague written to last month
    # looked like this week's conversation and she like an old autocomplete pick
    assert age(model, WROTE_BACK) < age(model, WROTE_TO) < age(model, SILENT)
    assert age(model, WROTE_BACK) == pytest.approx(0.693, abs=0.01)  # log(1 + 1 day)


def test_someone_only_copied_was_never_in_touch(model):  # type: ignore[no-untyped-def]
    # being copied on someone else's mail is no exchange with the user
    assert age(model, COPIED) == AGE_CAP > age(model, SILENT)


def test_a_date_years_ahead_does_not_make_its_sender_current(tmp_path):  # type: ignore[no-untyped-def]
    # a wrong clock on the other side: learned as it arrives, "in touch" until 2031 before
    db = open_for_write(tmp_path)
    when = NOW.timestamp()
    with Learner(db, [ME], ["corp.example"], now=when) as learner:
        learner.add(mail(ME, SILENT, 365, 1))
        learner.add(mail(SILENT, ME, -5 * 365, 2))
        learner.add(mail(WROTE_TO, ME, -0.5, 3))  # half a day ahead: time zones, a clock off a little
    store = HistoryStore(db)
    model = FitModel(store, MessageView(OutgoingMessage(mail(ME, SILENT, 0, 99)), [SILENT]), when=when)
    silent, wrote = store.contact(SILENT), store.contact(WROTE_TO)
    assert silent is not None and wrote is not None
    assert (silent.received, silent.last_received) == (1, 0.0)
    assert wrote.last_received == when + 0.5 * 86400
    assert model.age(silent) > model.age(wrote)  # a year since the user wrote to them, as before
