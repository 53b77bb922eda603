"""The milter's policy without a milter: bytes in, an outcome out (sendguard.milter.policy)."""

from __future__ import annotations

import threading
import time
from typing import Any

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
from tests.support.milter import answer

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
    outcome = answer(policy, tx(make_message(to="kollege@nordwerk.example"), to="kollege@nordwerk.example"))
    assert outcome.action == ACCEPT and outcome.verdict == Verdict.PASS and outcome.header == ""
    assert (senders.sender_dir(tmp_path, "me@nordwerk.example") / "history.sqlite").exists()


def test_a_warning_adds_a_header_and_nothing_else(tmp_path):
    policy = Policy(parse(BASE + '[rules.external-recipient]\naction = "warn"\n'), tmp_path)
    outcome = answer(policy, tx(make_message()))
    assert outcome.action == ACCEPT and outcome.header.startswith("warn: ") and "external-recipient" in outcome.header


def test_a_hold_is_rejected_with_the_way_out_and_the_identical_resend_confirms_it_once(tmp_path):
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    message = make_message()
    first = answer(policy, tx(message))
    assert first.action == REJECT and (first.code, first.xcode) == ("550", "5.7.1")
    # one reason, one line; what happened and the way out come first: mutt on an 80-column
    # terminal shows "SMTP session failed: 550 5.7.1 " and the next 49 characters only
    (line,) = first.lines
    assert line.startswith("Held; send again within 10 min to send anyway. anna@kundenfirma.example ")
    assert len("SMTP session failed: 550 5.7.1 Held; send again within 10 min to send anyway.") <= 80
    assert line.endswith(f"(sendguard {first.entry_id})")
    # Postfix's Received line and the client's Date and Message-ID differ on the resend
    again = b"Received: by mx id 9XYZ; now\n" + message.replace(b"09:00:00", b"09:02:00").replace(b"<test-", b"<r-")
    second = answer(policy, tx(again))
    assert second.action == ACCEPT and second.entry_id == first.entry_id
    assert second.header.startswith("confirmed by the sender")
    assert answer(policy, tx(again)).action == REJECT


def test_a_hold_whose_550_never_reached_the_client_is_held_again_by_its_retry_not_confirmed(tmp_path):
    """The check kept the copy, but its 550 never went to Postfix (the worker died, or was
    killed past the time limit): the client got a 451 and retries the identical message. That
    retry is the first the sender hears of the hold, so it is held again, the same copy, and
    only the resend after that 550 confirms it."""
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    message = make_message()
    first = policy.judge(tx(message))  # kept; the reply never handed over (no told)
    assert first.action == REJECT and first.untold
    retry = answer(policy, tx(b"Received: by mx id 9XYZ; now\n" + message))
    assert retry.action == REJECT and retry.entry_id == first.entry_id, "held again, not sent"
    assert retry.lines == first.lines
    (entry,) = policy.queue.entries()
    assert entry.state == "held" and entry.meta["told"] is True
    assert len(policy.deferred) == 2, "the hold notice again: the first may never have gone out"
    again = message.replace(b"09:00:00", b"09:02:00").replace(b"<test-", b"<r-")
    confirmed = answer(policy, tx(again))
    assert confirmed.action == ACCEPT and confirmed.entry_id == first.entry_id
    assert [e.state for e in policy.queue.entries()] == ["confirmed"]


class Clock:
    """Time as ``Queue.locked`` sees it while another holder has the copy's lock: each wait
    moves the clock on, and the holder lets go at the first wait (``lets_go``) or never."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, lock: Any, lets_go: bool) -> None:
        from sendguard.act import queue as q

        self.now, self.waits, self.lock, self.lets_go = 0.0, 0, lock, lets_go
        monkeypatch.setattr(q.time, "sleep", self.sleep)
        monkeypatch.setattr(q.time, "monotonic", lambda: self.now)

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.waits += 1
        if self.lets_go and self.waits == 1:
            self.lock.release()


RESEND = b"Received: by mx id 9XYZ; now\n"


@pytest.mark.parametrize("step", ["told", "confirming resend", "retry of an untold hold"])
def test_each_step_on_a_held_copy_waits_out_a_note_another_thread_is_making_on_it(tmp_path, monkeypatch, step):
    """The worker notes on the copy that its notice went out, under the copy's lock, while the
    adapter notes the 550 as told and the client's resend arrives. Giving up at once on that
    lock left the copy untold, or held the confirming resend as a new message of its own."""
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    message = make_message()
    first = policy.judge(tx(message)) if step != "confirming resend" else answer(policy, tx(message))
    (entry,) = policy.queue.entries()
    clock = Clock(monkeypatch, policy.queue.try_lock(entry), lets_go=True)
    if step == "told":
        assert policy.told(first.entry_id)
        assert policy.queue.get(first.entry_id).meta["told"] is True
    elif step == "confirming resend":
        confirmed = policy.judge(tx(RESEND + message))
        assert confirmed.action == ACCEPT and confirmed.entry_id == first.entry_id
    else:
        retry = policy.judge(tx(RESEND + message))
        assert retry.action == REJECT and retry.entry_id == first.entry_id, "held again, the same copy"
    assert clock.waits == 1 and len(policy.queue.entries()) == 1


def test_a_resend_whose_time_runs_out_waiting_for_the_copy_leaves_it_held_for_the_retry(tmp_path, monkeypatch):
    """The confirming resend waits for the copy's lock (NOTING) and may reach its worker's
    margin meanwhile: its reply would come past the deadline, and the client gets a 451. Then
    the copy must still be held, so that the client's retry confirms it rather than being held
    as a new message (the copy already confirmed, by a message that was never accepted)."""

    class RunsOut:
        def is_set(self) -> bool:
            return clock.waits > 0

    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    message = make_message()
    first = answer(policy, tx(message))
    (entry,) = policy.queue.entries()
    clock = Clock(monkeypatch, policy.queue.try_lock(entry), lets_go=True)
    assert policy.judge(tx(RESEND + message), RunsOut()).action == TEMPFAIL
    assert clock.waits == 1 and [e.state for e in policy.queue.entries()] == ["held"]
    retry = answer(policy, tx(RESEND + message))
    assert retry.action == ACCEPT and retry.entry_id == first.entry_id


def test_the_next_patch_of_a_confirmed_series_waits_out_a_note_on_the_confirmed_copy(tmp_path, monkeypatch):
    """The first hold's notice may be noted on its copy (under its lock) only once that copy is
    confirmed: sendmail is slow, the sender quick to run git send-email again. The next patch
    waits that out; giving up at once held it as a new message, breaking the series."""
    now = [time.time()]
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path, clock=lambda: now[0])
    assert answer(policy, tx(_patch(1, ""))).action == REJECT
    first = answer(policy, tx(_patch(1, "", run=2)))
    assert first.action == ACCEPT
    (entry,) = policy.queue.entries()
    clock = Clock(monkeypatch, policy.queue.try_lock(entry), lets_go=True)
    second = answer(policy, tx(_patch(2, "2-1@nordwerk.example", run=2)))
    assert second.action == ACCEPT and second.entry_id == first.entry_id
    assert clock.waits == 1 and len(policy.queue.entries()) == 1
    assert policy.queue.get(first.entry_id).meta["series"] == ["<2-1@nordwerk.example>", "<2-2@nordwerk.example>"]


def test_told_gives_up_on_a_copy_another_holds_for_longer(tmp_path, monkeypatch):
    """The 550 is set already: past the wait it goes out, and the resend is held again."""
    from sendguard.milter.policy import NOTING

    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    first = policy.judge(tx(make_message()))
    (entry,) = policy.queue.entries()
    clock = Clock(monkeypatch, policy.queue.try_lock(entry), lets_go=False)
    assert not policy.told(first.entry_id)
    assert NOTING <= clock.now < NOTING + 0.1
    assert policy.queue.get(first.entry_id).meta["told"] is False


def test_a_hold_from_the_send_path_without_the_told_flag_confirms_as_before(tmp_path):
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    message = make_message()
    first = policy.judge(tx(message))
    with policy.queue.locked(first.entry_id) as entry:  # an older copy: no flag at all
        del entry.meta["told"]
        entry.save()
    assert policy.judge(tx(message)).action == ACCEPT


def test_with_several_reasons_the_way_out_is_the_first_line_and_the_last(tmp_path):
    """aerc shows a multi-line reply joined from its first line, mutt only the last line."""
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    body = "Hello Anna,\n\nplease find attached the offer.\n\nRegards\nMe\n"
    outcome = answer(policy, tx(make_message(body=body)))
    assert outcome.action == REJECT and len(outcome.lines) >= 3, outcome.lines
    assert outcome.lines[0] == outcome.lines[-1] and outcome.lines[0].startswith("Held; send again within 10 min")
    assert all(line.startswith("Also: ") for line in outcome.lines[1:-1])


def _patch(n: int, first_id: str, to: str = "anna@kundenfirma.example", run: int = 1) -> bytes:
    """Patch n of a series as git send-email writes it: threaded to the first, new ids each run."""
    thread = f"In-Reply-To: <{first_id}>\nReferences: <{first_id}>\n" if n > 1 else ""
    return (
        f"From: Me <me@nordwerk.example>\nTo: {to}\nSubject: [PATCH {n}/3] Falke change {n}\n"
        f"Date: Fri, 27 Nov 2026 09:0{run}:0{n} +0000\nMessage-Id: <{run}-{n}@nordwerk.example>\n{thread}"
        f"X-Mailer: git-send-email 2.39.5\n\nFalke patch {n}\n"
    ).encode()


def test_a_confirmed_message_lets_the_rest_of_its_series_through_once_sent_again(tmp_path):
    """git send-email stops at the first patch held; sent again, every patch has new ids."""
    now = [time.time()]
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path, clock=lambda: now[0])
    assert answer(policy, tx(_patch(1, ""))).action == REJECT  # run 1: git stops here
    run2 = [answer(policy, tx(_patch(n, "2-1@nordwerk.example", run=2))) for n in (1, 2, 3)]
    assert [o.action for o in run2] == [ACCEPT] * 3
    assert run2[1].header.startswith("in a series the sender confirmed (external-recipient)")
    # chained (--chain-reply-to): each replies to the one before
    assert answer(policy, tx(_patch(1, "", run=3))).action == REJECT
    assert answer(policy, tx(_patch(1, "", run=4))).action == ACCEPT
    assert answer(policy, tx(_patch(2, "4-1@nordwerk.example", run=4))).action == ACCEPT
    assert answer(policy, tx(_patch(3, "4-2@nordwerk.example", run=4))).action == ACCEPT


@pytest.mark.parametrize("case", ["other recipient", "other sender", "other reason", "too late", "no thread"])
def test_a_series_lends_its_confirmation_to_nothing_else(tmp_path, case):
    now = [time.time()]
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path, clock=lambda: now[0])
    first = _patch(1, "")
    assert answer(policy, tx(first)).action == REJECT
    assert answer(policy, tx(first)).action == ACCEPT
    follower = _patch(2, "1-1@nordwerk.example" if case != "no thread" else "")
    if case == "no thread":
        follower = follower.replace(b"In-Reply-To: <>\nReferences: <>\n", b"")
    to, sender = "anna@kundenfirma.example", "me@nordwerk.example"
    if case == "other recipient":
        to = "bert@kundenfirma.example"
    elif case == "other sender":
        sender = "other@nordwerk.example"
    elif case == "other reason":  # also held for something the first one was not
        follower = make_message(
            body="Hello Anna,\n\nplease find attached the offer.\n",
            extra_headers="In-Reply-To: <1-1@nordwerk.example>\n",
        )
    elif case == "too late":
        now[0] += 601
    assert answer(policy, tx(follower, to, sender)).action == REJECT


def test_another_sender_cannot_confirm_someone_elses_hold(tmp_path):
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    message = make_message()
    assert answer(policy, tx(message)).action == REJECT
    assert answer(policy, tx(message, sender="other@nordwerk.example")).action == REJECT


def test_a_hold_after_the_time_limit_keeps_nothing_and_confirms_nothing(tmp_path):
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    cancelled = threading.Event()
    cancelled.set()
    assert answer(policy, tx(make_message()), cancelled).action == TEMPFAIL
    assert policy.queue.entries() == []
    assert answer(policy, tx(make_message())).action == REJECT


def test_quarantine_keeps_a_copy_with_the_postfix_queue_id(tmp_path):
    policy = Policy(parse(HOLD_OUTSIDE + '[milter]\nhold = "quarantine"\nnotify = false\n'), tmp_path)
    outcome = answer(policy, tx(make_message()))
    assert outcome.action == QUARANTINE and "anna@kundenfirma.example" in outcome.reason
    (entry,) = policy.queue.entries()
    assert entry.meta["postfix_queue_id"] == "4ABC123DEF" and entry.state == "quarantined"


def test_a_block_has_no_way_out(tmp_path):
    policy = Policy(parse(BASE + '[block]\naddresses = ["anna@kundenfirma.example"]\n'), tmp_path)
    outcome = answer(policy, tx(make_message()))
    assert outcome.action == REJECT and outcome.verdict == Verdict.BLOCK
    assert outcome.lines[-1].startswith("Blocked; it cannot be sent as it is.")
    assert "send again" not in " ".join(outcome.lines).lower()


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
