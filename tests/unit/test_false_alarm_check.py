"""A false alarm marked by a person makes that rule milder for that contact on the next check."""

from __future__ import annotations

from sendguard.config import schema as config_mod
from sendguard.decide import false_alarms
from sendguard.decide.check import check_message, envelope_for
from sendguard.mail.message import OutgoingMessage
from sendguard.model import Verdict
from tests.conftest import make_message

CONFIG = """
[organization]
domains = ["nordwerk.example"]
[rules.audience-size]
threshold = 2
"""


def _check(raw: bytes, state_dir):
    message = OutgoingMessage(raw)
    config = config_mod.parse(CONFIG)
    return check_message(message, config, envelope=envelope_for(message, [], False), state_dir=state_dir, now=0)


def test_marked_rule_no_longer_holds_that_contact_alone(tmp_path):
    to = ", ".join(f"p{i}@d{i}.example" for i in range(4))
    raw = make_message(to=to, body="Hello all,\n\nsee you.\n")
    held = _check(raw, tmp_path)
    assert held.decision.verdict == Verdict.HOLD
    meta = {"id": "x", "envelope": held.envelope, "findings": [f.to_json() for f in held.decision.findings]}
    assert false_alarms.record(tmp_path, meta, now=0)
    assert _check(raw, tmp_path).decision.verdict == Verdict.WARN
    other = make_message(to=", ".join(f"q{i}@e{i}.example" for i in range(4)), body="Hello all,\n")
    assert _check(other, tmp_path).decision.verdict == Verdict.HOLD, "other contacts keep the full weight"


def test_a_false_alarm_never_weakens_what_the_mail_carries(tmp_path):
    from sendguard.decide.check import check_message as check
    from sendguard.model import Finding, Severity

    meta = {
        "id": "x",
        "envelope": ["anna@kundenfirma.example"],
        "findings": [
            {"rule": "internal-to-outside", "severity": "warn", "recipient": "anna@kundenfirma.example"},
            {"rule": "secrets", "severity": "hold", "recipient": None},
        ],
    }
    assert false_alarms.record(tmp_path, meta, now=0) == [], "about that message, not about the contact"
    old = {("internal-to-outside", "anna@kundenfirma.example"): 1}  # a mark an older version wrote
    finding = Finding("internal-to-outside", Severity.WARN, "x", recipient="anna@kundenfirma.example")
    assert false_alarms.demote([finding], old) == [finding]
    assert check  # the send path consults the same module


def test_only_a_missing_marks_file_means_no_marks(tmp_path):
    import pytest

    assert false_alarms.load(tmp_path / "nowhere") == {}
    (tmp_path / false_alarms.FILE_NAME).mkdir()
    with pytest.raises(IsADirectoryError):
        false_alarms.load(tmp_path)  # read as before: an unreadable file is not "no marks"
