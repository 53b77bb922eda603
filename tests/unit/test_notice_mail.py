"""The notice mails: whom the send path's goes to, what it says, and that learning skips them all."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.act import notice_texts
from sendguard.act.notice_mail import recipient
from sendguard.history.learn import Learner
from sendguard.history.store import open_for_write
from tests.support import history_fixtures as hf

META = {
    "subject": "Falke status",
    "recipients": ["anna@kundenfirrna.example"],
    "created": "2026-12-05T14:00:00+00:00",
    "findings": [
        {"severity": "hold", "message": "anna@kundenfirrna.example looks like a client's domain", "suggestion": "anna@kundenfirma.example"},
        {"severity": "info", "message": "first mail to this address", "suggestion": None},
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("sender", "own", "to"),
    [
        ("Me <ME@nordwerk.example>", ["me@nordwerk.example", "dana@nordwerk.example"], "me@nordwerk.example"),
        ("dana@nordwerk.example", ["me@nordwerk.example", "dana@nordwerk.example"], "dana@nordwerk.example"),
        # From someone else (a shared mailbox, a typo): the first own address
        ("Team <team@nordwerk.example>", ["me@nordwerk.example"], "me@nordwerk.example"),
        ("", ["me@nordwerk.example"], "me@nordwerk.example"),
        # none, or none that is one plain address: no notice mail
        ("me@nordwerk.example", [], None),
        ("x@y.example", ["Me <me@nordwerk.example>"], None),
        ("x@y.example", ["a@b.example, c@d.example"], None),
    ],
)
def test_the_notice_goes_to_the_identity_the_message_is_from_else_the_first(sender, own, to):
    assert recipient(sender, own) == to


def test_the_send_paths_notice_offers_release_discard_and_review_not_a_resend():
    mail = notice_texts.kept_by_sendmail(
        "me@nordwerk.example", META, "ID1", blocked=False, now=0, sendguard="/opt/sg/bin/sendguard", aerc=True
    )
    head, _, body = mail.decode().partition("\n\n")
    assert "Subject: Held, not sent: Falke status" in head and "X-Sendguard-Notice: held" in head
    assert "From: sendguard <me@nordwerk.example>" in head and "@nordwerk.example>\n" in head.split("Message-ID:")[1]
    flat = " ".join(body.split())
    assert "looks like a client's domain; did you mean anna@kundenfirma.example?" in flat
    assert "first mail to this address" not in flat, "only what weighs"
    assert "/opt/sg/bin/sendguard release ID1" in body and "/opt/sg/bin/sendguard discard ID1" in body
    assert ":term /opt/sg/bin/sendguard review" in body
    assert "send it again unchanged" not in flat and "a resend is no yes" in flat


@settings(max_examples=100, deadline=None)
@given(subject=st.text(), reason=st.text(), recipient=st.text(), blocked=st.booleans())
def test_no_message_text_makes_a_header_or_a_control_character(subject, reason, recipient, blocked):
    import re

    meta = {"subject": subject, "recipients": [recipient], "findings": [{"severity": "hold", "message": reason}]}
    head, _, body = notice_texts.kept_by_sendmail("me@x.example", meta, "ID1", blocked=blocked, now=0).partition(
        b"\n\n"
    )
    names = [line.split(b":", 1)[0] for line in head.split(b"\n") if line[:1] not in (b" ", b"\t")]
    assert names == [
        b"From", b"To", b"Subject", b"Date", b"Message-ID", b"Auto-Submitted", b"X-Sendguard-Notice",
        b"MIME-Version", b"Content-Type", b"Content-Transfer-Encoding",
    ]  # fmt: skip
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", body.decode())


def test_learning_skips_every_notice_sendguard_mails(tmp_path):
    """The send path's notice comes from the person's own address: learned, it would count as a
    mail they sent, in their voice. The milter's come from postmaster, which the MTA qualifies."""
    own = hf.ME
    notices = [
        notice_texts.kept_by_sendmail(own, META, "ID1", blocked=False, now=0),
        notice_texts.kept_by_sendmail(own, META, "ID2", blocked=True, now=0),
        notice_texts.held(own, META, "ID3", window=600, now=0).replace(
            b"<postmaster>", b"<postmaster@lindenhof.example>"
        ),
        notice_texts.quarantined(own, META, "ID4", "4ABC").replace(b"<postmaster>", b"<postmaster@lindenhof.example>"),
    ]
    cfg = hf.config()
    db = open_for_write(tmp_path)
    with Learner(db, cfg.identity.addresses, cfg.organization.domains) as learner:
        for raw in notices:
            assert learner.add(raw) is False
        # the same mail without the mark is learned: the mark is what skips it
        assert learner.add(notices[0].replace(b"X-Sendguard-Notice: held\n", b"")) is True
    db.close()
    assert (learner.added, learner.skipped) == (1, 4)
