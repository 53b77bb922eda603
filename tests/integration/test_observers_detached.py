"""sendguard-sendmail hands the observers to a detached child: the caller gets the exit code
without waiting for them, and readers that settle() see everything they wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sendguard.act import events
from sendguard.act import queue as q
from tests.conftest import make_message
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]

# The entry point as sendguard-sendmail runs it, with the observers swapped for a slow one.
SEND = (
    "import sys\n"
    "from sendguard.act import events\nfrom sendguard.sendpath import path as sendmail\n"
    "events.OBSERVERS = ('tests.support.slow_observer',)\n"
    "sendmail.exit_now(sendmail.run(sys.argv[1:], detach_observers=True))\n"
)


# The same with the slow observer as the work that comes after the observers (a refit).
SEND_LATER = SEND.replace("events.OBSERVERS = ", "events.OBSERVERS = ()\nevents.LATER = ")


def send(world, message: bytes, script: str = SEND) -> subprocess.CompletedProcess[bytes]:
    env = world.env()
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", script, "-t"], input=message, capture_output=True, env=env, timeout=60, check=False
    )


def state_dir() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "sendguard"


def test_the_caller_does_not_wait_for_the_observers_and_settle_does(world, monkeypatch, tmp_path):
    gate = tmp_path / "observer-gate"
    monkeypatch.setenv("SLOW_OBSERVER_GATE", str(gate))  # the observer works only once it exists
    monkeypatch.setenv("SLOW_OBSERVER_SECONDS", "0")
    proc = send(world, make_message(to="bob@nordwerk.example"))
    # Until the gate opens the observer waits (up to 120 s, longer than send's 60 s timeout), so
    # getting here at all proves the caller waited neither for it nor for EOF on stdout and
    # stderr (capture_output waits for those too): the child holds neither. No clock involved.
    assert proc.returncode == 0, proc.stderr
    assert len(world.server.received) == 1
    seen = state_dir() / "slow-observer-saw"
    assert not seen.exists()
    assert not events.settle(state_dir(), timeout=0)  # settle sees the child at work
    gate.touch()
    assert events.settle(state_dir(), timeout=30)
    (entry,) = q.Queue.default().entries()
    assert seen.read_text() == f"{entry.id} delivered delivered"


def test_the_next_mail_waits_for_the_last_ones_observers(world, monkeypatch, tmp_path):
    """Its check reads what they write (the history): it starts only when they are done."""
    gate = tmp_path / "observer-gate"
    monkeypatch.setenv("SLOW_OBSERVER_GATE", str(gate))
    monkeypatch.setenv("SLOW_OBSERVER_SECONDS", "1")
    first = send(world, make_message(to="bob@nordwerk.example", subject="one"))
    assert not events.settle(state_dir(), timeout=0)  # the first one's child is at work (at the gate)
    monkeypatch.setenv("SLOW_OBSERVER_SECONDS", "0")
    gate.touch()  # the first observer now takes 1 s more: well inside the 3 s a check waits for it
    second = send(world, make_message(to="bob@nordwerk.example", subject="two"))
    assert first.returncode == second.returncode == 0
    assert events.settle(state_dir(), timeout=30)
    entries = {e.meta["subject"]: e for e in q.Queue.default().entries()}
    # The second message was kept after the first's observer finished. Both stamps are file
    # times from the same kernel clock ("created" in meta has whole seconds only).
    first_done = (state_dir() / "first-observer-done").stat().st_mtime_ns
    assert first_done <= (entries["two"].path / "message.eml").stat().st_mtime_ns


def test_a_broken_observer_is_logged_in_the_state_dir_and_costs_nothing(world):
    proc = send(world, make_message(to="bob@nordwerk.example", subject="fail"))
    assert proc.returncode == 0 and b"could not record" not in proc.stderr
    assert len(world.server.received) == 1
    assert events.settle(state_dir(), timeout=30)
    log = (state_dir() / events.ERROR_LOG).read_text()
    assert "tests.support.slow_observer could not record 'delivered'" in log and "this observer is broken" in log


def test_a_held_message_is_observed_too(world, monkeypatch):
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    monkeypatch.setenv("SLOW_OBSERVER_SECONDS", "0")
    proc = send(world, make_message(to="anna@kundenfirma.example"))
    assert proc.returncode == 75 and b"HELD" in proc.stderr
    assert events.settle(state_dir(), timeout=30)
    (entry,) = q.Queue.default().entries()
    assert (state_dir() / "slow-observer-saw").read_text() == f"{entry.id} held held"


def test_work_after_the_observers_keeps_neither_readers_nor_the_next_mail_waiting(world, monkeypatch, tmp_path):
    gate = tmp_path / "observer-gate"
    monkeypatch.setenv("SLOW_OBSERVER_GATE", str(gate))
    monkeypatch.setenv("SLOW_OBSERVER_SECONDS", "0")
    first = send(world, make_message(to="bob@nordwerk.example", subject="one"), SEND_LATER)
    assert first.returncode == 0, first.stderr
    # The later work waits at the closed gate, yet settle() finds no observer at work, and the
    # next mail is checked and delivered without waiting for it.
    assert events.settle(state_dir(), timeout=30)
    assert not (state_dir() / "slow-observer-saw").exists()
    second = send(world, make_message(to="bob@nordwerk.example", subject="two"), SEND_LATER)
    assert second.returncode == 0, second.stderr
    assert len(world.server.received) == 2
    gate.touch()
    assert wait_until(lambda: (state_dir() / "first-observer-done").exists())
