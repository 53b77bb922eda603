"""Sender affinity: each sender's messages go to its home check worker when it is free, and no
message waits while another worker is idle (sendguard.milter.affinity)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.config.schema import parse
from sendguard.milter.affinity import IdleWorkers, home_of
from sendguard.milter.lifecycle import Worker
from sendguard.milter.policy import ACCEPT, Policy, Transaction
from tests.conftest import make_message
from tests.support.milter import worker_pool
from tests.support.postfix import wait_until

CONFIG = '[organization]\ndomains = ["nordwerk.example"]\n\n[log]\nnotmuch = false\n\n[milter]\nnotify = false\n'


@dataclass(eq=False)
class Fake:
    slot: int


def waiting_for_one(idle: IdleWorkers[Fake], home: int, got: list[tuple[int, Fake]]) -> threading.Thread:
    """A thread that waits for a worker of ``home`` and notes which it got; started, and known
    to wait, when this returns."""
    before = idle.waiting()
    thread = threading.Thread(target=lambda: got.append((home, idle.get(timeout=30, home=home))))
    thread.start()
    wait_until(lambda: idle.waiting() == before + 1, 30, "the check waiting")
    return thread


def test_an_idle_home_worker_is_taken_before_the_others():
    idle: IdleWorkers[Fake] = IdleWorkers()
    workers = [Fake(0), Fake(1), Fake(2)]
    for worker in workers:
        idle.put(worker)
    assert idle.get(home=2) is workers[2]
    assert idle.get(home=2) is workers[0], "its home busy: the first idle one, not a wait"
    assert idle.get(home=None) is workers[1]
    assert idle.qsize() == 0


def test_a_worker_that_comes_free_serves_its_own_senders_first_then_the_oldest():
    idle: IdleWorkers[Fake] = IdleWorkers()
    got: list[tuple[int, Fake]] = []
    first = waiting_for_one(idle, 0, got)  # waits longest, for slot 0
    second = waiting_for_one(idle, 1, got)
    third = waiting_for_one(idle, 1, got)
    one = Fake(1)
    idle.put(one)
    second.join(30)
    assert got == [(1, one)], "the first waiting for slot 1, though slot 0's waited longer"
    idle.put(Fake(2))  # nobody waits for slot 2: the oldest waiting gets it
    first.join(30)
    assert got[1][0] == 0 and got[1][1].slot == 2
    idle.put(one)
    third.join(30)
    assert got[2] == (1, one)
    assert idle.waiting() == 0 and idle.qsize() == 0


def test_a_check_that_stops_waiting_leaves_the_next_worker_idle():
    idle: IdleWorkers[Fake] = IdleWorkers()
    with pytest.raises(TimeoutError):
        idle.get(timeout=0.01, home=0)
    assert idle.waiting() == 0
    worker = Fake(0)
    idle.put(worker)
    assert idle.queue == [worker], "idle, not handed to a check that gave up"


def test_home_slots_are_stable_and_in_range():
    senders = [f"user{i}@nordwerk.example" for i in range(50)] + ["", "é@ü.example", "\udcff@x"]
    for slots in (1, 2, 3, 8):
        homes = [home_of(s, slots) for s in senders]
        assert all(0 <= h < slots for h in homes)
        assert homes == [home_of(s, slots) for s in senders]
    assert len({home_of(s, 8) for s in senders}) == 8, "spread over the slots"


def sent_by(sender: str, n: int) -> Transaction:
    raw = make_message(to="kollege@nordwerk.example", subject=f"Wochenplan {n}", sender=sender)
    return Transaction(sender, sender, ["kollege@nordwerk.example"], raw, f"Q{n}")


@pytest.fixture
def answered_by(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The slot of each worker that answered a check, in order (the real workers answer)."""
    slots: list[int] = []
    ask = Worker.ask

    def noted(self: Worker, tx: Transaction, deadline: float):  # type: ignore[no-untyped-def]
        slots.append(self.slot)
        return ask(self, tx, deadline)

    monkeypatch.setattr(Worker, "ask", noted)
    return slots


def test_each_senders_mail_is_checked_by_its_home_worker(tmp_path, answered_by):
    senders = [f"user{i}@nordwerk.example" for i in range(6)]
    with worker_pool(Policy(parse(CONFIG), tmp_path), count=2, timeout=60) as pool:
        wait_until(lambda: pool.idle.qsize() == 2, 60, "both workers")
        for n, sender in enumerate(senders * 2):
            assert pool(sent_by(sender, n)).action == ACCEPT
    assert answered_by == [home_of(s, 2) for s in senders * 2]
    assert set(answered_by) == {0, 1}


def test_a_sender_whose_home_worker_is_busy_is_checked_by_another_at_once(tmp_path, answered_by):
    sender = "user0@nordwerk.example"
    home = home_of(sender, 2)
    with worker_pool(Policy(parse(CONFIG), tmp_path), count=2, timeout=60) as pool:
        wait_until(lambda: pool.idle.qsize() == 2, 60, "both workers")
        busy = pool.idle.get(home=home)
        assert busy.slot == home
        try:
            assert pool(sent_by(sender, 1)).action == ACCEPT
        finally:
            pool.idle.put(busy)
    assert answered_by == [1 - home]


@settings(max_examples=25)
@given(
    slots=st.integers(min_value=1, max_value=4),
    homes=st.lists(st.integers(min_value=-1, max_value=4), min_size=1, max_size=8),
    rounds=st.integers(min_value=1, max_value=30),
)
def test_every_check_gets_a_worker_of_its_own_and_every_worker_comes_back(slots, homes, rounds):
    """Threads (one per entry of ``homes``, -1: no home) take a worker and give it back, again
    and again: no worker is ever held by two at once, nobody waits for ever while one is free,
    and all are idle at the end."""
    idle: IdleWorkers[Fake] = IdleWorkers()
    workers = [Fake(slot) for slot in range(slots)]
    for worker in workers:
        idle.put(worker)
    held: set[int] = set()
    lock = threading.Lock()
    errors: list[str] = []

    def check(home: int) -> None:
        for _ in range(rounds):
            try:
                worker = idle.get(timeout=30, home=None if home < 0 else home)
            except TimeoutError:
                errors.append("waited 30 s")
                return
            with lock:
                if id(worker) in held:
                    errors.append(f"slot {worker.slot} handed out twice")
                held.add(id(worker))
            time.sleep(0)  # let the others run while it is held: not a wait for anything
            with lock:
                held.discard(id(worker))
            idle.put(worker)

    threads = [threading.Thread(target=check, args=(home,)) for home in homes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(w.slot for w in idle.queue) == list(range(slots)) and idle.waiting() == 0
