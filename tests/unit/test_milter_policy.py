"""The milter's policy without a milter: bytes in, an outcome out (sendguard.milter.policy)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendguard.config.schema import parse
from sendguard.errors import UsageError
from sendguard.milter import senders
from sendguard.milter.policy import (
    ACCEPT,
    QUARANTINE,
    REJECT,
    TEMPFAIL,
    Policy,
    Transaction,
    smtp_text,
    without_received,
)
from sendguard.milter.spec import parse_listen, postfix_form
from sendguard.model import Verdict
from tests.conftest import make_message

BASE = """\
[organization]
domains = ["nordwerk.example"]

[log]
notmuch = false
"""
HOLD_OUTSIDE = BASE + '[rules.external-recipient]\naction = "hold"\n'


def tx(raw: bytes, to: str = "anna@kundenfirma.example", sender: str = "me@nordwerk.example") -> Transaction:
    return Transaction(sender=sender, envelope_from=sender, recipients=[to], raw=raw, queue_id="4ABC123DEF")


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("inet:8891@127.0.0.1", "inet:8891@127.0.0.1"),
        ("inet6:8891@[::1]", "inet6:8891@[::1]"),
        ("unix:/run/sendguard/milter.sock", "unix:/run/sendguard/milter.sock"),
        ("local:/run/m.sock", "unix:/run/m.sock"),
    ],
)
def test_listen_specs_as_libmilter_writes_them(spec, expected):
    assert parse_listen(spec) == expected


@pytest.mark.parametrize("spec", ["", "8891", "inet:99999@127.0.0.1", "unix:relative.sock", "tcp:1@x"])
def test_a_bad_listen_spec_is_a_usage_error(spec):
    with pytest.raises(UsageError):
        parse_listen(spec)


def test_postfix_writes_the_same_socket_differently():
    assert postfix_form("inet:8891@127.0.0.1") == "inet:127.0.0.1:8891"
    assert postfix_form("unix:/run/m.sock") == "unix:/run/m.sock"
    assert postfix_form("unix:/var/spool/postfix/sg/m.sock", "/var/spool/postfix/") == "unix:/sg/m.sock"
    assert postfix_form("unix:/run/m.sock", "/var/spool/postfix") == "unix:/run/m.sock"


def test_the_sender_is_the_login_else_the_envelope_sender():
    assert senders.key_of("D.Wolff@Nordwerk.example", "bounce@x.example") == "d.wolff@nordwerk.example"
    assert senders.key_of("", "<Me@Nordwerk.example>") == "me@nordwerk.example"
    assert senders.key_of(None, "") == ""


@given(st.text(max_size=80))
def test_a_sender_directory_never_leaves_the_senders_directory(key):
    name = senders.dir_name(key)
    assert name and "/" not in name and not name.startswith(".") and "\0" not in name


@given(st.text(max_size=2000))
def test_an_smtp_reply_line_is_short_printable_ascii(text):
    line = smtp_text(text)
    assert len(line) <= 480
    assert all(" " <= c <= "~" for c in line)


def test_received_lines_do_not_count_for_the_fingerprint():
    raw = b"Received: from x\n\tby y; Fri\nFrom: a@b\nReceived: again\nSubject: s\n\nReceived: body stays\n"
    assert without_received(raw) == b"From: a@b\nSubject: s\n\nReceived: body stays\n"


def test_a_pass_is_accepted_and_learned_into_the_senders_history(tmp_path):
    policy = Policy(parse(BASE), tmp_path)
    outcome = policy.judge(tx(make_message(to="kollege@nordwerk.example"), to="kollege@nordwerk.example"))
    assert outcome.action == ACCEPT and outcome.verdict == Verdict.PASS and outcome.header == ""
    assert (senders.sender_dir(tmp_path, "me@nordwerk.example") / "history.sqlite").exists()


def test_a_warning_adds_a_header_and_nothing_else(tmp_path):
    policy = Policy(parse(BASE + '[rules.external-recipient]\naction = "warn"\n'), tmp_path)
    outcome = policy.judge(tx(make_message()))
    assert outcome.action == ACCEPT and outcome.header.startswith("warn: ") and "external-recipient" in outcome.header


def test_a_hold_is_rejected_with_the_way_out_and_the_identical_resend_confirms_it_once(tmp_path):
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    message = make_message()
    first = policy.judge(tx(message))
    assert first.action == REJECT and (first.code, first.xcode) == ("550", "5.7.1")
    assert "Send it again unchanged within 10 minutes to send it anyway" in first.lines[-1]
    assert first.entry_id in first.lines[-1] and first.lines[0].startswith("Why: ")
    # Postfix's Received line and the client's Date and Message-ID differ on the resend
    again = b"Received: by mx id 9XYZ; now\n" + message.replace(b"09:00:00", b"09:02:00").replace(b"<test-", b"<r-")
    second = policy.judge(tx(again))
    assert second.action == ACCEPT and second.entry_id == first.entry_id
    assert second.header.startswith("confirmed by the sender")
    assert policy.judge(tx(again)).action == REJECT


def test_another_sender_cannot_confirm_someone_elses_hold(tmp_path):
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    message = make_message()
    assert policy.judge(tx(message)).action == REJECT
    assert policy.judge(tx(message, sender="other@nordwerk.example")).action == REJECT


def test_a_hold_after_the_time_limit_keeps_nothing_and_confirms_nothing(tmp_path):
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    cancelled = threading.Event()
    cancelled.set()
    assert policy.judge(tx(make_message()), cancelled).action == TEMPFAIL
    assert policy.queue.entries() == []
    assert policy.judge(tx(make_message())).action == REJECT


def test_quarantine_keeps_a_copy_with_the_postfix_queue_id(tmp_path):
    policy = Policy(parse(HOLD_OUTSIDE + '[milter]\nhold = "quarantine"\nnotice = false\n'), tmp_path)
    outcome = policy.judge(tx(make_message()))
    assert outcome.action == QUARANTINE and "anna@kundenfirma.example" in outcome.reason
    (entry,) = policy.queue.entries()
    assert entry.meta["postfix_queue_id"] == "4ABC123DEF" and entry.state == "quarantined"


def test_a_block_has_no_way_out(tmp_path):
    policy = Policy(parse(BASE + '[block]\naddresses = ["anna@kundenfirma.example"]\n'), tmp_path)
    outcome = policy.judge(tx(make_message()))
    assert outcome.action == REJECT and outcome.verdict == Verdict.BLOCK
    assert "blocked" in outcome.lines[-1] and "Send it again" not in " ".join(outcome.lines)


def test_each_sender_is_checked_as_its_own_identity_under_the_current_configuration(tmp_path):
    policy = Policy(parse(BASE), tmp_path)
    first = policy.config_for(tx(b"x", sender="me@nordwerk.example"))
    assert first.identity.addresses == ["me@nordwerk.example"]
    assert policy.config_for(tx(b"y", sender="me@nordwerk.example")) is first  # kept per sender
    assert policy.config_for(tx(b"x", sender="you@nordwerk.example")).identity.addresses == ["you@nordwerk.example"]
    policy.config = parse(BASE + '[rules.external-recipient]\naction = "warn"\n')
    again = policy.config_for(tx(b"x", sender="me@nordwerk.example"))
    assert again is not first and again.rules == policy.config.rules
    assert again.identity.addresses == ["me@nordwerk.example"]
