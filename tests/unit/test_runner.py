"""The lifecycle base of the background processes (sendguard.runner), in process.

No test sleeps: the idle clock is a counter the work advances, and SIGTERM is sent by the work
itself at the moment under test.
"""

from __future__ import annotations

import fcntl
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from sendguard.runner import Runner, lock_held


class Scripted(Runner):
    """A runner whose work is a list: each item is done in turn; None stands for "nothing came"."""

    name = "scripted"

    def __init__(self, items: list[Any], tmp: Path, **kwargs: Any) -> None:
        super().__init__(lock_path=tmp / "r.lock", pid_path=tmp / "r.pid", **kwargs)
        self.items = list(items)
        self.now = 0.0
        self.clock = lambda: self.now  # type: ignore[method-assign]
        self.done: list[Any] = []
        self.seen_pid: str | None = None
        self.started = 0
        self.released = 0
        self.lines: list[str] = []

    def start(self) -> None:
        self.started += 1
        self.seen_pid = (self.pid_path or Path()).read_text()

    def next_work(self, timeout: float | None) -> Any:
        self.now += 1.0  # every look for work costs one second of the fake clock
        if not self.items:
            return None
        item = self.items.pop(0)
        if item == "sigterm-while-waiting":
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM while waiting must unwind at once")
        return item

    def work(self, item: Any) -> bool:
        if item == "sigterm-while-working":
            os.kill(os.getpid(), signal.SIGTERM)
        if item == "fail":
            raise ValueError("a broken piece of work")
        self.done.append(item)
        return item != "last"

    def release(self) -> None:
        self.released += 1
        super().release()

    def log(self, line: str) -> None:
        self.lines.append(line)


@pytest.fixture(autouse=True)
def _sigterm_restored():
    before = signal.getsignal(signal.SIGTERM)
    yield
    assert signal.getsignal(signal.SIGTERM) == before, "run() puts the previous SIGTERM handler back"


def test_start_work_stop_and_clean_up(tmp_path):
    runner = Scripted(["a", "b", "last", "never"], tmp_path)
    assert runner.run() == 0
    assert runner.done == ["a", "b", "last"]
    assert runner.started == 1 and runner.released == 1
    assert runner.seen_pid == f"{os.getpid()}\n", "the pid file is there while it runs"
    assert not (tmp_path / "r.pid").exists(), "and gone after"
    assert not lock_held(tmp_path / "r.lock"), "the lock is let go"


def test_it_stops_after_idle_seconds_without_work_and_work_restarts_the_clock(tmp_path):
    runner = Scripted([None, None, "a", None, None, None, None, "too late"], tmp_path)
    runner.idle = 3.5
    runner.run()
    assert runner.done == ["a"]
    assert runner.items == ["too late"], "3 empty looks after the work (3 s) are within the idle time; the 4th is not"


def test_a_second_instance_is_refused_while_the_first_holds_the_lock(tmp_path):
    first = Scripted([], tmp_path)
    assert first.own()
    try:
        second = Scripted(["a", "last"], tmp_path)
        assert second.run() == 0
        assert second.started == 0 and second.done == [] and second.released == 0
        assert (tmp_path / "r.pid").read_text() == f"{os.getpid()}\n"
    finally:
        first.release()
    again = Scripted(["a", "last"], tmp_path)
    again.run()
    assert again.done == ["a", "last"], "once the first let go, the next one runs"


def test_an_inherited_lock_is_used_not_taken_again(tmp_path):
    fd = os.open(tmp_path / "r.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the observer holds it for the indexer it starts
    runner = Scripted(["a", "last"], tmp_path, lock_fd=fd)
    assert runner.run() == 0
    assert runner.done == ["a", "last"]
    with pytest.raises(OSError):
        os.fstat(fd)  # the runner closed it when done
    assert not lock_held(tmp_path / "r.lock")


def test_sigterm_while_waiting_stops_at_once_and_cleans_up(tmp_path):
    runner = Scripted(["a", "sigterm-while-waiting", "b"], tmp_path)
    assert runner.run() == 0
    assert runner.done == ["a"]
    assert runner.released == 1 and not (tmp_path / "r.pid").exists()


def test_sigterm_during_work_lets_it_finish_then_stops(tmp_path):
    runner = Scripted(["a", "sigterm-while-working", "b"], tmp_path)
    assert runner.run() == 0
    assert runner.done == ["a", "sigterm-while-working"], "the piece in hand is finished, no other started"
    assert runner.items == ["b"]
    assert runner.released == 1


def test_a_failure_is_one_log_line_an_exit_status_and_a_clean_up(tmp_path):
    runner = Scripted(["a", "fail", "b"], tmp_path)
    assert runner.run() == 1
    assert runner.lines == ["scripted stopped: ValueError: a broken piece of work"]
    assert runner.released == 1 and not lock_held(tmp_path / "r.lock")


def test_work_that_came_while_letting_go_brings_it_back(tmp_path):
    class Rounds(Scripted):
        max_rounds = 3
        rounds = 0

        def more_after_release(self) -> bool:
            self.rounds += 1
            self.items = [f"round {self.rounds}", "last"]
            return True

    runner = Rounds(["first", "last"], tmp_path)
    runner.run()
    assert runner.done == ["first", "last", "round 1", "last", "round 2", "last"]
    assert runner.started == 1 and runner.released == 3, "started once, owned and let go each round"


def test_the_work_may_stop_it_between_pieces(tmp_path):
    class StopsItself(Scripted):
        def work(self, item: Any) -> bool:
            self.stop()
            return super().work(item)

    runner = StopsItself(["a", "b"], tmp_path)
    runner.run()
    assert runner.done == ["a"]
