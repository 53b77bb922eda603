"""The queue's state machine: one table, enforced on every save."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sendguard.act import queue as q
from sendguard.errors import QueueError

ROOT = Path(__file__).resolve().parents[2]


def test_every_state_has_a_row_and_every_target_is_a_state() -> None:
    assert set(q.TRANSITIONS) == set(q.State)
    for targets in q.TRANSITIONS.values():
        assert targets <= set(q.State)


def test_every_state_is_reachable_from_a_new_entry() -> None:
    seen = set(q.INITIAL_STATES)
    frontier = list(seen)
    while frontier:
        for nxt in q.TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(q.State)


def test_delivered_and_confirmed_are_the_end(tmp_path: Path) -> None:
    assert not q.TRANSITIONS[q.DELIVERED]
    assert not q.TRANSITIONS[q.CONFIRMED]


def test_save_refuses_a_change_not_in_the_table(tmp_path: Path) -> None:
    queue = q.Queue(tmp_path / "queue")
    entry, lock = queue.create(b"Subject: x\n\nbody\n", {"state": q.HELD})
    lock.release()
    with pytest.raises(QueueError):
        entry.save(state=q.DELIVERED, event="delivered without sending")
    assert json.loads((entry.path / "meta.json").read_text())["state"] == "held"
    entry.save(state=q.RELEASED, event="released")
    entry.save(state=q.SENDING, event="sending")
    entry.save(state=q.DELIVERED, event="delivered")
    assert json.loads((entry.path / "meta.json").read_text())["state"] == "delivered"
    with pytest.raises(QueueError):
        entry.save(state=q.SENDING, event="again")


def test_states_are_stored_as_their_plain_names(tmp_path: Path) -> None:
    entry, lock = q.Queue(tmp_path / "queue").create(b"Subject: x\n\nbody\n", {"state": q.ACCEPTED})
    lock.release()
    assert json.loads((entry.path / "meta.json").read_text())["state"] == "accepted"
    assert q.State("accepted") is q.ACCEPTED and q.ACCEPTED == "accepted"


def test_no_module_writes_a_state_as_a_bare_string() -> None:
    names = "|".join(s.value for s in q.State)
    pattern = re.compile(rf"""(state\s*=\s*|["']state["']\s*:\s*)["']({names})["']""")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "sendguard").rglob("*.py"))
        if "milter" not in path.parts  # it lists Postfix's hold queue, not ours
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
