"""The notice mails: learning skips every one of them."""

from __future__ import annotations

from sendguard.act import notice_texts
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


def test_learning_skips_every_notice_sendguard_mails(tmp_path):
    """The milter's come from postmaster, which the MTA qualifies: learned, they would count as
    mail received from postmaster@ about the person's own message."""
    own = hf.ME
    notices = [
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
    assert (learner.added, learner.skipped) == (1, 2)
