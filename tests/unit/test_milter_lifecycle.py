"""The milter's time limit and background work, without a milter library (sendguard.milter.lifecycle)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from sendguard.config.schema import parse
from sendguard.milter.lifecycle import Background, Checker
from sendguard.milter.policy import ACCEPT, TEMPFAIL, Policy
from tests.conftest import make_message
from tests.support.milter import HOLD_OUTSIDE, ME, Broken, PipedWorker, tx, wait_for_worker, worker_pool

QUIET = HOLD_OUTSIDE + "[milter]\nnotify = false\n"


class SlowPolicy(Policy):
    """Judges only once the test lets it (a rule stuck on a hostile message, say)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.go = threading.Event()
        self.done = threading.Event()

    def judge(self, tx, cancelled=None):  # type: ignore[no-untyped-def]
        self.go.wait(30)
        try:
            return super().judge(tx, cancelled)
        finally:
            self.done.set()


def test_a_check_past_the_time_limit_is_a_451_and_its_late_result_keeps_nothing(tmp_path):
    policy = SlowPolicy(parse(HOLD_OUTSIDE), tmp_path)
    checker = Checker(policy, timeout=0.2)
    outcome = checker(tx(make_message()))
    assert outcome.action == TEMPFAIL and (outcome.code, outcome.xcode) == ("451", "4.3.0")
    assert "try again later" in outcome.lines[0]
    policy.go.set()
    assert policy.done.wait(30)
    # the late hold was not kept, so the client's retry is judged afresh, not taken as a confirmation
    assert policy.queue.entries() == []
    checker.timeout = 30
    assert checker(tx(make_message())).action != ACCEPT


def test_a_crashing_check_is_a_451_never_an_accept(tmp_path):
    outcome = Checker(Broken(parse(HOLD_OUTSIDE), tmp_path), timeout=5)(tx(make_message()))
    assert outcome.action == TEMPFAIL


def test_a_message_the_check_fails_on_three_times_is_refused_with_why_and_kept(tmp_path):
    """Not a 451 for days: the third failure of the same message (a resend with a new Date and
    Message-ID is the same) is a 550 that says so, and the message is kept, not sent."""
    from sendguard.milter.policy import REJECT

    policy = Broken(parse(HOLD_OUTSIDE), tmp_path, error=RecursionError)
    checker = Checker(policy, timeout=5)
    message = make_message()
    again = message.replace(b"09:00:00", b"09:03:00").replace(b"<test-", b"<again-")
    assert [checker(tx(m)).action for m in (message, again)] == [TEMPFAIL, TEMPFAIL]
    assert checker(tx(make_message(subject="Another"))).action == TEMPFAIL, "counted per message"
    third = checker(tx(message))
    assert (third.action, third.code, third.xcode) == (REJECT, "550", "5.7.1")
    (line,) = third.lines
    assert line == (
        "sendguard could not check this message: the check failed (RecursionError) (3 tries); "
        f"it was not sent (sendguard {third.entry_id})"
    )
    (kept,) = policy.queue.entries()
    assert kept.id == third.entry_id and kept.state == "blocked" and kept.message_path.read_bytes() == message
    assert kept.meta["error"] == ["not checked: the check failed (RecursionError) (3 tries)"]
    assert kept.meta["subject"] == "Falke status"
    fourth = checker(tx(again))
    assert fourth.action == REJECT and fourth.entry_id == third.entry_id, "one copy"
    assert len(policy.queue.entries()) == 1


def test_background_work_runs_in_order_and_survives_a_failing_job():
    background = Background()
    done: list[int] = []

    def fail() -> None:
        raise OSError("disk full")

    background.submit(lambda: done.append(1))
    background.submit(fail)
    background.submit(lambda: done.append(2))
    background.stop(timeout=10)
    assert done == [1, 2]


def test_a_worker_past_the_time_limit_is_killed_and_replaced(tmp_path):
    from sendguard.milter.policy import REJECT

    with worker_pool(Policy(parse(QUIET), tmp_path)) as pool:
        (first,) = list(pool.idle.queue)
        # Stuck for certain: a stopped worker cannot answer, however loaded the machine. (A 1 ms
        # limit was not: while the pool thread waited for a core, the worker judged and answered
        # "too late" before the pool looked, and a worker that answers is rightly kept.)
        os.kill(first.proc.pid, signal.SIGSTOP)
        pool.timeout = 1
        assert pool(tx(make_message())).action == TEMPFAIL
        assert first.proc.poll() is not None, "the stuck worker is gone"
        pool.timeout = 30
        wait_for_worker(pool, "a new worker")
        assert pool(tx(make_message())).action == REJECT


def test_closing_waits_for_a_busy_worker_to_answer_learn_and_exit(tmp_path):
    from sendguard.milter import senders
    from sendguard.milter.lifecycle import WorkerPool
    from tests.support.postfix import wait_until

    config = parse('[organization]\ndomains = ["nordwerk.example"]\n\n[log]\nnotmuch = false\n')
    pool = WorkerPool(Policy(config, tmp_path), count=1, timeout=60)
    (worker,) = list(pool.idle.queue)
    os.kill(worker.proc.pid, signal.SIGSTOP)  # busy for certain while close() starts
    outcomes = []
    asking = threading.Thread(target=lambda: outcomes.append(pool(tx(make_message()))))
    asking.start()
    wait_until(lambda: pool.idle.qsize() == 0, 30, "the worker taken")
    closing = threading.Thread(target=pool.close, kwargs={"timeout": 60})
    closing.start()
    os.kill(worker.proc.pid, signal.SIGCONT)
    asking.join(60)
    closing.join(60)
    assert [o.action for o in outcomes] == [ACCEPT]
    assert worker.proc.returncode == 0, "it exited by itself, not killed"
    assert (senders.sender_dir(tmp_path, "me@nordwerk.example") / "history.sqlite").exists(), "and learned first"


def test_the_workers_refit_a_senders_judgement_as_their_history_grows(tmp_path):
    import json

    from sendguard.decide import train
    from sendguard.history.store import open_read_only
    from sendguard.milter import senders

    config = parse('[organization]\ndomains = ["nordwerk.example"]\n\n[log]\nnotmuch = false\n')
    count = train.MIN_SAMPLES + 10
    with worker_pool(Policy(config, tmp_path), timeout=60) as pool:
        for n in range(count):
            to = f"kollege{n % 4}@nordwerk.example"
            assert pool(tx(make_message(to=to, subject=f"Wochenplan {n}"), to=to)).action == ACCEPT
    # closed: the worker learns what it holds before it exits, and refits
    stored = open_read_only(senders.sender_dir(tmp_path, "me@nordwerk.example")).judgement()
    assert stored, "no judgement without a learn --as"
    judgement = json.loads(stored)
    # fitted on the sender's mail as theirs (as sent), not the prior for want of samples
    assert judgement["report"]["sent"] == count and judgement["fitted"], judgement["report"]


def test_a_check_that_raises_is_a_451_and_one_log_line_without_the_messages_controls(tmp_path, monkeypatch, capsys):
    """An exception's text may quote the message (a header, an address): in the worker's log
    line it is escaped, so no CR/LF starts a forged line and no escape reaches the terminal."""

    def fails(self, tx, cancelled=None):  # type: ignore[no-untyped-def]
        raise ValueError("bad header: \x1b[2J\r\nsendguard-milter: Q9: verdict=pass \u202eevil")

    monkeypatch.setattr(Policy, "judge", fails)
    piped = PipedWorker(parse(QUIET), tmp_path)
    answered = piped.ask(tx(make_message()))
    assert answered.action == TEMPFAIL and answered.failed == "the check failed (ValueError)"
    piped.stop(60)
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if "check failed" in line]
    assert "verdict=pass" in line, "the text is kept, on the one line"
    assert not [c for c in err if c in "\x1b\r\u202e"], err


def test_a_worker_that_dies_after_keeping_a_hold_makes_the_retry_a_hold_not_a_confirmation(tmp_path, monkeypatch):
    """The worker keeps the held copy and dies before its 550 reaches the milter: the client
    is told 451 and sends the identical message again. That retry must be held (the sender has
    not seen the hold yet), with the same copy; only the resend after that 550 confirms it."""
    from sendguard import faults
    from sendguard.milter.policy import REJECT

    assert not faults._ARMED, "this process must not die with its workers"
    monkeypatch.setenv(faults.ENV, "after-kept")  # the workers die right after keeping a copy
    policy = Policy(parse(QUIET), tmp_path)
    with worker_pool(policy) as pool:
        (first,) = list(pool.idle.queue)
        message = make_message()
        assert pool(tx(message)).action == TEMPFAIL
        assert first.proc.wait(30) == -signal.SIGKILL
        (kept,) = policy.queue.entries()
        assert kept.state == "held"
        wait_for_worker(pool, "a new worker")
        retry = pool(tx(message))
        assert retry.action == REJECT and retry.entry_id == kept.id, "held, not sent"
        records = [p.name for p in (tmp_path / "incidents").glob("cur/*")]
        assert [n for n in records if f"_{kept.id}.held-again." in n], f"the incident log has the hold: {records}"
        assert policy.told(retry.entry_id), "what the adapter does once the 550 is set"
        resend = pool(tx(message.replace(b"<test-", b"<again-")))
        assert resend.action == ACCEPT and resend.entry_id == kept.id
        assert [e.state for e in policy.queue.entries()] == ["confirmed"]


def test_a_message_a_worker_dies_on_every_time_is_refused_at_the_third_try(tmp_path, monkeypatch):
    from sendguard import faults
    from sendguard.milter.policy import REJECT

    assert not faults._ARMED, "this process must not die with its workers"
    monkeypatch.setenv(faults.ENV, "milter-worker-check")  # every worker dies on every message
    policy = Policy(parse(QUIET), tmp_path)
    with worker_pool(policy) as pool:
        outcomes = []
        for _ in range(3):
            wait_for_worker(pool)
            outcomes.append(pool(tx(make_message())))
        assert [o.action for o in outcomes] == [TEMPFAIL, TEMPFAIL, REJECT]
        assert "could not check this message: the check process died (3 tries)" in outcomes[2].lines[0]
        assert [e.state for e in policy.queue.entries()] == ["blocked"]


def test_a_check_stuck_on_a_message_every_time_is_refused_at_the_third_try(tmp_path):
    """A worker stuck past the limit counts against the message it had all the time for."""
    from sendguard.milter.policy import REJECT

    with worker_pool(Policy(parse(QUIET), tmp_path)) as pool:
        outcomes = []
        for _ in range(3):
            wait_for_worker(pool)
            (worker,) = list(pool.idle.queue)
            os.kill(worker.proc.pid, signal.SIGSTOP)  # stuck for certain (see above)
            pool.timeout = 1
            outcomes.append(pool(tx(make_message())))
            pool.timeout = 30
        assert [o.action for o in outcomes] == [TEMPFAIL, TEMPFAIL, REJECT]
        assert "could not check this message: the check took too long (3 tries)" in outcomes[2].lines[0]


def test_waiting_for_a_free_worker_is_not_held_against_the_message(tmp_path):
    policy = Policy(parse(QUIET), tmp_path)
    with worker_pool(policy) as pool:
        busy = pool.idle.get()  # every worker taken: the message waits its whole time for one
        try:
            pool.timeout = 0.2
            assert [pool(tx(make_message())).action for _ in range(4)] == [TEMPFAIL] * 4
            assert policy.queue.entries() == []
        finally:
            pool.idle.put(busy)


def test_the_sender_of_a_message_refused_unchecked_gets_one_notice(tmp_path):
    """Some mail programs show nothing of a 550 (neomutt): the refusal is mailed too, once."""
    out = tmp_path / "notice.eml"
    config = parse(HOLD_OUTSIDE + f'[milter]\nnotice_command = ["sh", "-c", "cat >> {out}"]\n')
    jobs: list = []  # type: ignore[type-arg]
    checker = Checker(Broken(config, tmp_path / "milter", later=jobs.append, error=MemoryError), timeout=5)
    outcomes = [checker(tx(make_message())) for _ in range(4)]
    assert [o.action for o in outcomes] == [TEMPFAIL, TEMPFAIL, "reject", "reject"]
    assert len(jobs) == 1, "one notice for one copy"
    jobs[0]()
    text = out.read_text()
    assert "To: me@nordwerk.example" in text
    assert "Subject: Not sent, could not be checked: Falke status" in text
    assert "not sent: the check failed (MemoryError) (3 tries)." in " ".join(text.split())
    assert f"Id:      {outcomes[2].entry_id}" in text


def test_what_a_killed_worker_let_through_and_had_not_learned_is_learned_by_the_next(tmp_path, monkeypatch):
    from sendguard import faults
    from sendguard.history.store import open_read_only
    from sendguard.milter import senders
    from sendguard.milter.journal import DIRECTORY

    assert not faults._ARMED, "this process must not die with its workers"
    monkeypatch.setenv(faults.ENV, "milter-worker-handover")  # the worker dies as it would learn
    config = parse('[organization]\ndomains = ["nordwerk.example"]\n\n[log]\nnotmuch = false\n')
    to = "kollege@nordwerk.example"
    with worker_pool(Policy(config, tmp_path)) as pool:
        (first,) = list(pool.idle.queue)
        assert pool(tx(make_message(to=to), to=to)).action == ACCEPT
        assert first.proc.wait(30) == -signal.SIGKILL
    assert not (senders.sender_dir(tmp_path, ME) / "history.sqlite").exists(), "killed before it learned"
    assert len(list((tmp_path / DIRECTORY).glob("*.journal"))) == 1
    monkeypatch.delenv(faults.ENV)
    PipedWorker(config, tmp_path).stop(60)  # the next worker to start
    contact = open_read_only(senders.sender_dir(tmp_path, ME)).contact(to)
    assert contact is not None and contact.sent == 1
    assert list((tmp_path / DIRECTORY).iterdir()) == [], "the journal goes once it is learned"


class SlowLearning(Policy):
    """Its first batch is learned only once the test lets it (a history another process writes)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.entered, self.go = threading.Event(), threading.Event()

    def learn_many(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.entered.set()
        self.go.wait(30)
        super().learn_many(*args, **kwargs)


def test_without_workers_a_burst_waits_in_a_few_journals_and_is_all_learned(tmp_path):
    from sendguard.history.store import open_read_only
    from sendguard.milter import senders
    from sendguard.milter.journal import DIRECTORY
    from sendguard.milter.lifecycle import LearningInProcess

    config = parse('[organization]\ndomains = ["nordwerk.example"]\n\n[log]\nnotmuch = false\n')
    policy = SlowLearning(config, tmp_path)
    in_process, checker = LearningInProcess(policy), Checker(policy, timeout=30)
    to = "kollege@nordwerk.example"
    assert checker(tx(make_message(to=to, subject="Plan 0"), to=to)).action == ACCEPT
    assert policy.entered.wait(30), "the first is being learned"
    for n in range(1, 40):  # learning is behind; the checks are not
        assert checker(tx(make_message(to=to, subject=f"Plan {n}"), to=to)).action == ACCEPT
    # the one being learned, the one handed over, the one filling: not one per message
    assert len(list((tmp_path / DIRECTORY).glob("*.journal"))) == 3
    policy.go.set()
    in_process.stop()
    contact = open_read_only(senders.sender_dir(tmp_path, ME)).contact(to)
    assert contact is not None and contact.sent == 40
    assert list((tmp_path / DIRECTORY).iterdir()) == []


def test_without_workers_the_milter_learns_what_a_killed_one_left_in_its_journal(tmp_path):
    import os

    from sendguard.history.store import open_read_only
    from sendguard.milter import senders
    from sendguard.milter.journal import DIRECTORY, Journal
    from sendguard.milter.lifecycle import LearningInProcess

    to = "kollege@nordwerk.example"
    left = Journal.create(tmp_path)
    left.append(ME, (ME,), make_message(to=to))
    os.close(left.fd)  # its process was killed
    config = parse('[organization]\ndomains = ["nordwerk.example"]\n\n[log]\nnotmuch = false\n')
    LearningInProcess(Policy(config, tmp_path)).stop()
    contact = open_read_only(senders.sender_dir(tmp_path, ME)).contact(to)
    assert contact is not None and contact.sent == 1
    assert list((tmp_path / DIRECTORY).iterdir()) == []


def test_a_milter_whose_workers_cannot_start_says_so_in_one_error(tmp_path):
    import subprocess

    from sendguard import faults
    from tests.conftest import sendguard_exe

    pytest.importorskip("Milter")
    config = tmp_path / "sendguard.toml"
    config.write_text("[log]\nnotmuch = false\n")
    proc = subprocess.run(
        [sendguard_exe(), "--config", str(config), "milter", "--listen", f"unix:{tmp_path / 'm.sock'}"]
        + ["--state-dir", str(tmp_path / "state")],
        env={**os.environ, faults.ENV: "milter-worker-start"},  # each worker dies as it starts
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 70 and "Traceback" not in proc.stderr, proc.stderr
    assert (
        "sendguard: error: a check worker did not start: it was killed by signal 9 before it was ready" in proc.stderr
    )
    assert "[milter] workers = 0" in proc.stderr
    assert not (tmp_path / "m.sock").exists(), "it never listened"
