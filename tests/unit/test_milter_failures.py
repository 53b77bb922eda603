"""The count of failed checks per message on disk (sendguard.milter.failures, lifecycle.Failures).

A restart is a new Policy and Checker over the same state directory, as a new milter process
makes them; time passes through the clock handed to Failures, never by waiting.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from sendguard.config.schema import parse
from sendguard.milter.failures import FILE, FailureStore
from sendguard.milter.lifecycle import Checker, Failures, Maintenance
from sendguard.milter.policy import FAILURE_WINDOW, REJECT, TEMPFAIL, tempfail
from tests.conftest import make_message
from tests.support.milter import HOLD_OUTSIDE, Broken, tx

FAILED = tempfail("internal error", failed="the check failed (RuntimeError)")


def milter(tmp_path, jobs: list | None = None) -> Checker:  # type: ignore[no-untyped-def, type-arg]
    """What a (re)started milter process makes: a policy and its checker over the state directory."""
    config = parse(HOLD_OUTSIDE + '[milter]\nnotice_command = ["true"]\n')
    return Checker(Broken(config, tmp_path, later=(jobs if jobs is not None else []).append), timeout=5)


def rows(tmp_path) -> dict[str, tuple[int, str]]:  # type: ignore[no-untyped-def]
    with sqlite3.connect(tmp_path / FILE) as db:
        found = db.execute("SELECT key, times, kept FROM failures").fetchall()
    return {key: (len(json.loads(times)), kept) for key, times, kept in found}


def test_the_third_failure_counts_across_restarts_and_later_tries_reuse_the_copy(tmp_path):
    """A restart (systemd, a crash, an upgrade) does not start the count again: a client that
    retries for ever is refused at its third try, not told 451 for ever."""
    jobs: list = []  # type: ignore[type-arg]
    message = make_message()
    assert milter(tmp_path, jobs)(tx(message)).action == TEMPFAIL
    assert milter(tmp_path, jobs)(tx(message.replace(b"<test-", b"<again-"))).action == TEMPFAIL
    third = milter(tmp_path, jobs)(tx(message))
    assert (third.action, third.code) == (REJECT, "550")
    assert "could not check this message: the check failed (RuntimeError) (3 tries)" in third.lines[0]
    fourth = milter(tmp_path, jobs)(tx(message))
    assert fourth.action == REJECT and fourth.entry_id == third.entry_id, "the copy kept before the restart"
    assert "(4 tries)" in fourth.lines[0]
    checker = milter(tmp_path)
    assert [e.id for e in checker.policy.queue.entries()] == [third.entry_id], "one copy"
    assert len(jobs) == 1, "one notice"


def test_two_milters_on_one_state_directory_count_together(tmp_path):
    one, two = milter(tmp_path), milter(tmp_path)
    message = make_message()
    assert [c(tx(message)).action for c in (one, two, one)] == [TEMPFAIL, TEMPFAIL, REJECT]


def test_processes_noting_failures_at_once_lose_none(tmp_path):
    script = (
        "import sys, time\nfrom pathlib import Path\nfrom sendguard.milter.failures import FailureStore\n"
        "store = FailureStore(Path(sys.argv[1]), 86400.0, busy=30)\n"
        "for _ in range(20):\n    store.add('same', time.time())\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)]) for _ in range(4)]
    assert [p.wait(60) for p in procs] == [0] * 4
    assert rows(tmp_path) == {"same": (80, "")}


def test_failures_older_than_the_window_are_pruned_and_no_longer_count(tmp_path):
    now = [time.time()]
    checker = milter(tmp_path)
    failures = Failures(checker.policy, clock=lambda: now[0])
    old, other = tx(make_message()), tx(make_message(subject="Another"))
    assert [failures.after(old, FAILED).action for _ in range(2)] == [TEMPFAIL, TEMPFAIL]
    now[0] += FAILURE_WINDOW + 60
    assert failures.after(other, FAILED).action == TEMPFAIL
    assert list(rows(tmp_path).values()) == [(1, "")], "the old message's row is gone"
    restarted = Failures(milter(tmp_path).policy, clock=lambda: now[0])
    assert restarted.after(old, FAILED).action == TEMPFAIL, "a day later it is its first failure"


def test_the_hourly_maintenance_prunes_the_counts_too(tmp_path):
    checker = milter(tmp_path)
    checker(tx(make_message()))
    assert len(rows(tmp_path)) == 1
    Maintenance(checker.policy, clock=lambda: time.time() + 0.5 * FAILURE_WINDOW).run_once()
    assert len(rows(tmp_path)) == 1, "within the window"
    Maintenance(checker.policy, clock=lambda: time.time() + FAILURE_WINDOW + 60).run_once()
    assert rows(tmp_path) == {}


def test_a_corrupt_file_counts_in_memory_and_says_so_once(tmp_path, capsys):
    (tmp_path / FILE).write_bytes(b"not a database, " * 512)
    checker = milter(tmp_path)
    message = make_message()
    assert [checker(tx(message)).action for _ in range(3)] == [TEMPFAIL, TEMPFAIL, REJECT]
    lines = [line for line in capsys.readouterr().err.splitlines() if "counting in memory" in line]
    assert len(lines) == 1 and FILE in lines[0], lines


def test_a_file_another_process_holds_delays_the_reply_at_most_a_moment(tmp_path, capsys):
    checker = milter(tmp_path)
    checker.failures.store = FailureStore(tmp_path, FAILURE_WINDOW, busy=0.2)
    message = make_message()
    assert checker(tx(message)).action == TEMPFAIL
    holder = sqlite3.connect(tmp_path / FILE, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        assert checker(tx(message)).action == TEMPFAIL
        took = time.monotonic() - started
        assert checker(tx(message)).action == REJECT, "the count in memory"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert took < 5, took
    assert "counting in memory" in capsys.readouterr().err
    fourth = checker(tx(message))
    assert fourth.action == REJECT
    key = checker.policy.failure_key(tx(message))
    assert rows(tmp_path)[key] == (2, fourth.entry_id), "noted again, and the copy, once it could be"


def test_a_refused_copy_removed_meanwhile_is_kept_again(tmp_path):
    """keep_days may remove the copy of a message that goes on failing: its next refusal keeps one."""
    import shutil

    checker = milter(tmp_path)
    message = make_message()
    third = [checker(tx(message)) for _ in range(3)][-1]
    shutil.rmtree(checker.policy.queue.root / third.entry_id)
    fourth = milter(tmp_path)(tx(message))
    assert fourth.action == REJECT and fourth.entry_id != third.entry_id
    assert [e.id for e in checker.policy.queue.entries()] == [fourth.entry_id]


def test_the_file_is_private_without_touching_the_processs_umask(tmp_path, monkeypatch):
    """The umask is the whole process's: changed on the maintenance thread while libmilter made
    its socket, Postfix could not connect to a restarted milter (Permission denied)."""
    import os
    import stat

    def umask(mask: int) -> int:
        raise AssertionError("the umask was changed")

    monkeypatch.setattr(os, "umask", umask)
    store = FailureStore(tmp_path / "milter", FAILURE_WINDOW)
    store.add("key", time.time())
    store.prune(time.time())
    store.close()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "milter").iterdir()}
    assert modes and set(modes.values()) == {0o600}, modes


def test_a_refusal_another_milter_is_keeping_gets_451_and_one_copy_is_kept(tmp_path):
    """Two milters refusing one message at the same moment kept two copies and mailed two
    notices. The first to claim it keeps the copy; another check meanwhile answers 451, and the
    client's next try is refused with that copy. A claim its keeper never ended (it died) is
    taken over once CLAIM_FOR has passed."""
    from sendguard.milter.failures import CLAIM_FOR

    jobs: list = []  # type: ignore[type-arg]
    message = make_message()
    now = [time.time()]
    first, second = (Failures(milter(tmp_path, jobs).policy, clock=lambda: now[0]) for _ in range(2))
    assert [first.after(tx(message), FAILED).action for _ in range(2)] == [TEMPFAIL, TEMPFAIL]
    key = first.policy.failure_key(tx(message))
    assert FailureStore(tmp_path, FAILURE_WINDOW).claim(key, "the first, keeping", now[0]) == ""
    assert second.after(tx(message), FAILED).action == TEMPFAIL, "another check is keeping the copy"
    assert list(second.policy.queue.entries()) == [] and jobs == []
    now[0] += CLAIM_FOR + 1  # its keeper died before it noted the copy
    refused = second.after(tx(message), FAILED)
    assert refused.action == REJECT and "(4 tries)" in refused.lines[0]
    assert first.after(tx(message), FAILED).entry_id == refused.entry_id
    assert [e.id for e in second.policy.queue.entries()] == [refused.entry_id], "one copy"
    assert len(jobs) == 1, "one notice"


@pytest.mark.parametrize("counted", ["on disk", "in memory"])
def test_threads_refusing_one_message_at_once_keep_one_copy(tmp_path, counted):
    """The same in one milter process, whose connection threads refuse at once: whichever claims
    first keeps; the others answer 451. Counting in memory (the file broken) too."""
    import threading

    if counted == "in memory":
        (tmp_path / FILE).write_bytes(b"not a database, " * 512)
    jobs: list = []  # type: ignore[type-arg]
    failures = Failures(milter(tmp_path, jobs).policy)
    message = make_message()
    assert [failures.after(tx(message), FAILED).action for _ in range(2)] == [TEMPFAIL, TEMPFAIL]
    unchecked = failures.policy.unchecked
    inside, go = threading.Event(), threading.Event()

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        inside.set()
        assert go.wait(60)
        return unchecked(*args, **kwargs)

    failures.policy.unchecked = slow  # type: ignore[method-assign]
    results: list = []  # type: ignore[type-arg]
    keeper = threading.Thread(target=lambda: results.append(failures.after(tx(message), FAILED)))
    keeper.start()
    assert inside.wait(60)
    meanwhile = failures.after(tx(message), FAILED)
    go.set()
    keeper.join(60)
    assert meanwhile.action == TEMPFAIL and results[0].action == REJECT
    assert [e.id for e in failures.policy.queue.entries()] == [results[0].entry_id]
    assert len(jobs) == 1
