"""Postfix's hold queue as the review screen lists it: Postfix's ids, the milter's reasons."""

from __future__ import annotations

from sendguard.recover.review_data import postfix_rows
from tests.support import tui_snapshot_app as data


def test_rows_join_postfixs_hold_queue_with_the_milters_copies(tmp_path):
    data.build_milter_copies(tmp_path / "queue")
    rows = postfix_rows("", tmp_path, held=data.postfix_hold_queue())
    assert [r.id for r in rows] == [data.POSTFIX_WRONG_ID, data.POSTFIX_PDF_ID, data.POSTFIX_OTHER_ID]  # newest first
    wrong, pdf, other = rows
    assert wrong.state == "held" and wrong.verdict == "hold"
    assert wrong.subject == "Personalkosten Abteilung"
    assert wrong.reason.startswith("m.berger@kundenfirma.example may be the wrong person")
    assert wrong.copy_id == "20261127-085800-111111"
    assert wrong.created == data.NOW - 120
    # whose history judged it: the login, not the envelope sender
    assert pdf.sender == "j.krause"
    assert pdf.recipients == ("ops@outside.example", "cfo@outside.example")
    assert pdf.matches("j.krause pdf") and pdf.matches("cfo@outside")
    # held by something else: listed, with what Postfix knows, and said so
    assert other.copy_id == "" and other.subject == ""
    assert other.sender == "newsletter@nordwerk.example"
    assert other.reason == "sendguard has no copy of it: held by something else"


def test_a_copy_of_a_message_no_longer_held_is_not_listed(tmp_path):
    data.build_milter_copies(tmp_path / "queue")
    held = [i for i in data.postfix_hold_queue() if i["queue_id"] != data.POSTFIX_WRONG_ID]
    assert [r.id for r in postfix_rows("", tmp_path, held=held)] == [data.POSTFIX_PDF_ID, data.POSTFIX_OTHER_ID]


def test_a_decided_copy_is_never_joined_again(tmp_path):
    """Postfix reuses queue ids: a copy released or deleted once must not lend its reason to
    another message that gets the same id later."""
    from sendguard.act.queue import Queue

    data.build_milter_copies(tmp_path / "queue")
    entry = Queue(tmp_path / "queue").get("20261127-085800-111111")
    entry.save(postfix_decision="released", event="released from Postfix's hold queue")
    rows = {r.id: r for r in postfix_rows("", tmp_path, held=data.postfix_hold_queue())}
    assert rows[data.POSTFIX_WRONG_ID].copy_id == ""
    assert rows[data.POSTFIX_WRONG_ID].reason == "sendguard has no copy of it: held by something else"
    assert rows[data.POSTFIX_PDF_ID].copy_id == "20261127-083500-222222"
