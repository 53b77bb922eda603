"""How long the milter keeps its copies (sendguard.milter.retention, lifecycle.Maintenance).

Real stores: the copies are made by the policy judging real messages; time passes through the
clock handed to prune, never by waiting.
"""

from __future__ import annotations

import time

import pytest

from sendguard.config.schema import parse
from sendguard.errors import ConfigError, QueueError
from sendguard.milter import retention
from sendguard.milter.lifecycle import Maintenance
from sendguard.milter.policy import ACCEPT, QUARANTINE, REJECT, Policy, Transaction
from tests.conftest import make_message
from tests.support.milter import answer
from tests.support.wait import wait_until

BASE = '[organization]\ndomains = ["nordwerk.example"]\n\n[log]\nnotmuch = false\n\n'
HOLD_OUTSIDE = BASE + '[rules.external-recipient]\naction = "hold"\n'
DAY = 86400


def tx(raw: bytes, queue_id: str = "") -> Transaction:
    me = "me@nordwerk.example"
    return Transaction(sender=me, envelope_from=me, recipients=["anna@kundenfirma.example"], raw=raw, queue_id=queue_id)


def quarantine(tmp_path, extra: str = "") -> Policy:  # type: ignore[no-untyped-def]
    return Policy(parse(HOLD_OUTSIDE + f'[milter]\nhold = "quarantine"\nnotify = false\n{extra}'), tmp_path)


def copies(policy: Policy) -> dict[str, str]:
    return {e.meta["subject"]: e.state for e in policy.queue.entries()}


def test_old_decided_copies_go_undecided_held_ones_stay_fresh_ones_stay(tmp_path):
    policy = quarantine(tmp_path)
    for n, qid in ((1, "4AAAAAAAA1"), (2, "4AAAAAAAA2"), (3, "4AAAAAAAA3")):
        assert answer(policy, tx(make_message(subject=f"Falke {n}"), qid)).action == QUARANTINE
    # the administrator released number 2 (release --postfix notes it on the copy)
    (two,) = [e for e in policy.queue.entries() if e.meta["subject"] == "Falke 2"]
    two.save(postfix_decision="released", event="released from Postfix's hold queue")
    # a blocked message, a 550 hold and a hold confirmed by its resend
    answer(
        Policy(parse(HOLD_OUTSIDE + '[block]\naddresses = ["anna@kundenfirma.example"]\n'), tmp_path),
        tx(make_message(subject="Blocked")),
    )
    rejecting = Policy(parse(HOLD_OUTSIDE), tmp_path)
    assert answer(rejecting, tx(make_message(subject="Held"))).action == REJECT
    confirmed = make_message(subject="Confirmed")
    assert answer(rejecting, tx(confirmed)).action == REJECT
    assert answer(rejecting, tx(confirmed)).action == ACCEPT
    before = copies(policy)
    assert set(before.values()) == {"quarantined", "held", "blocked", "confirmed"}
    # Postfix still holds 1; 3 left its hold queue without a word to sendguard (postsuper by hand)
    hold_queue = ["4AAAAAAAA1", "4AAAAAAAA2"]  # 2's id reused by another message: it is decided
    asked: list[int] = []

    def held() -> list[str]:
        asked.append(1)
        return hold_queue

    now = time.time()
    assert retention.prune(tmp_path, policy.config, now + 29 * DAY, held) == []
    assert copies(policy) == before and asked == []  # nothing old enough: Postfix not even asked
    removed = retention.prune(tmp_path, policy.config, now + 31 * DAY, held)
    assert len(removed) == len(before) - 1
    assert copies(policy) == {"Falke 1": "quarantined"}
    # whatever its age
    assert retention.prune(tmp_path, policy.config, now + 3650 * DAY, held) == []
    assert copies(policy) == {"Falke 1": "quarantined"}


def test_when_the_hold_queue_cannot_be_read_every_undecided_quarantine_stays(tmp_path):
    policy = quarantine(tmp_path)
    answer(policy, tx(make_message(subject="Falke 1"), "4AAAAAAAA1"))
    answer(policy, tx(make_message(subject="Falke 2"), "4AAAAAAAA2"))
    (two,) = [e for e in policy.queue.entries() if e.meta["subject"] == "Falke 2"]
    two.save(postfix_decision="discarded", event="discarded from Postfix's hold queue")
    lines: list[str] = []

    def unreadable() -> list[str]:
        raise QueueError("postqueue not found")

    retention.prune(tmp_path, policy.config, time.time() + 90 * DAY, unreadable, lines.append)
    assert copies(policy) == {"Falke 1": "quarantined"}
    assert lines and "postqueue not found" in lines[0]


def test_a_hold_stays_confirmable_for_its_window_whatever_keep_days_says(tmp_path):
    policy = Policy(parse(HOLD_OUTSIDE + "[milter]\nkeep_days = 0\n"), tmp_path)
    message = make_message()
    assert answer(policy, tx(message)).action == REJECT
    now = time.time()
    assert retention.prune(tmp_path, policy.config, now + 60) == []
    assert answer(policy, tx(message)).action == ACCEPT  # the resend still confirms it
    assert len(retention.prune(tmp_path, policy.config, now + 601)) == 1
    assert policy.queue.entries() == []


def test_a_copy_being_decided_is_left_alone(tmp_path):
    policy = Policy(parse(HOLD_OUTSIDE), tmp_path)
    answer(policy, tx(make_message()))
    (entry,) = policy.queue.entries()
    lock = policy.queue.try_lock(entry)
    try:
        assert retention.prune(tmp_path, policy.config, time.time() + 31 * DAY) == []
    finally:
        lock.release()
    assert len(retention.prune(tmp_path, policy.config, time.time() + 31 * DAY)) == 1


def test_the_milters_maintenance_thread_prunes_at_start_and_stops_at_once(tmp_path):
    policy = Policy(parse(HOLD_OUTSIDE + "[milter]\nkeep_days = 7\n"), tmp_path)
    answer(policy, tx(make_message()))
    maintenance = Maintenance(policy, every=3600, clock=lambda: time.time() + 8 * DAY)
    maintenance.start()
    try:
        wait_until(lambda: policy.queue.entries() == [], 30)
        assert policy.queue.entries() == []
    finally:
        maintenance.stop(timeout=30)
    # It waits an hour between rounds: gone within stop's 30 s, it was woken, not timed out.
    assert not maintenance.thread.is_alive()


def test_keep_days_is_a_milter_key_and_a_typo_names_it():
    assert parse("").milter.keep_days == 30
    assert parse("[milter]\nkeep_days = 90\n").milter.keep_days == 90
    with pytest.raises(ConfigError) as info:
        parse("[milter]\nkeep_day = 90\n", "c.toml")
    assert [(p.key, p.suggestion) for p in info.value.problems] == [("milter.keep_day", "keep_days")]
