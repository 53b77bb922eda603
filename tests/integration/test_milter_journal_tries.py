"""A journal of what to learn whose learning kills the worker, or fails, is tried a bounded
number of times and then set aside, never lost (sendguard.milter.journal, worker.Learning).

Real check worker processes (``python -m sendguard.milter.worker``) on a real state directory;
the kill comes from the fault point in the learning itself, as an out-of-memory kill would.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path

from sendguard import faults
from sendguard.milter import journal, worker
from sendguard.milter.journal import Journal
from sendguard.milter.policy import ACCEPT
from tests.conftest import make_message
from tests.support.milter import ME, tx
from tests.support.postfix import wait_until

CONFIG = '[organization]\ndomains = ["nordwerk.example"]\n\n[log]\nnotmuch = false\n'


def config():
    from sendguard.config.schema import parse

    return parse(CONFIG)


class WorkerProcess:
    """One check worker process on ``root``, its stderr in a file."""

    def __init__(self, root: Path, log: Path, kill_at: str = "") -> None:
        env = dict(os.environ)
        env.pop(faults.ENV, None)
        if kill_at:
            env[faults.ENV] = kill_at
        self.log = log
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "sendguard.milter.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
            )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        worker.write_frame(self.proc.stdin, (config(), root))

    def ready(self) -> None:
        assert worker.read_frame(self.proc.stdout) == "ready", self.log.read_text()

    def ask(self, raw: bytes, to: str):  # type: ignore[no-untyped-def]
        worker.write_frame(self.proc.stdin, (tx(raw, to=to), time.time() + 60))
        return worker.read_frame(self.proc.stdout)

    def stop(self) -> int:
        """EOF, as when the milter stops: it learns what it holds and exits."""
        self.proc.stdin.close()  # type: ignore[union-attr]
        return self.proc.wait(60)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def orphan(root: Path, *recipients: str) -> str:
    """A journal of one message from ME to each of ``recipients``, left by a worker that died; its name."""
    owner = Journal.create(root)
    for to in recipients:
        owner.append(ME, (), make_message(to=to))
    owner.release()
    return owner.path.name.removesuffix(journal.SUFFIX)


def waiting(root: Path) -> list[str]:
    return sorted(p.name for p in (root / journal.DIRECTORY).glob("*" + journal.SUFFIX))


def set_aside(root: Path) -> list[str]:
    failed = root / journal.DIRECTORY / journal.FAILED
    return sorted(p.name for p in failed.iterdir()) if failed.is_dir() else []


def kept_after(root: Path, attempt: int) -> bool:
    """Whether the one journal waiting is kept after its ``attempt``-th try failed (not due yet)."""
    names = waiting(root)
    if len(names) != 1 or journal.tries_of(names[0]) != attempt:
        return False
    try:
        return (root / journal.DIRECTORY / names[0]).stat().st_mtime > time.time()
    except FileNotFoundError:
        return False


def sent_to(root: Path, to: str) -> int:
    from sendguard.history.store import open_read_only
    from sendguard.milter import senders

    store = open_read_only(senders.sender_dir(root, ME))
    contact = store.contact(to) if store is not None else None
    return contact.sent if contact is not None else 0


def test_a_journal_whose_learning_kills_the_worker_is_set_aside_after_three_tries(tmp_path):
    """Out of memory on a batch killed every worker that took it up, for ever: each attempt is
    counted before it starts, and the worker after the third sets it aside and lives."""
    log = tmp_path / "workers.log"
    state = tmp_path / "state"
    name = orphan(state, "kollege@nordwerk.example")
    content = (state / journal.DIRECTORY / f"{name}.journal").read_bytes()
    for attempt in range(1, journal.TRIES + 1):
        taker = WorkerProcess(state, log, kill_at="milter-learn")  # it scans as it starts
        try:
            assert taker.proc.wait(60) == -9, log.read_text()
        finally:
            taker.kill()
        assert waiting(state) == [f"{name}+{attempt}.journal"]
    survivor = WorkerProcess(state, log, kill_at="milter-learn")  # would die too, if it learned it
    try:
        survivor.ready()
        wait_until(lambda: set_aside(state) == [f"{name}.journal"], 60, "the journal set aside")
        assert survivor.stop() == 0, log.read_text()
    finally:
        survivor.kill()
    assert waiting(state) == []
    assert (state / journal.DIRECTORY / journal.FAILED / f"{name}.journal").read_bytes() == content, "kept whole"
    lines = [line for line in log.read_text().splitlines() if "set aside" in line]
    assert len(lines) == 1, log.read_text()
    assert f"{journal.FAILED}/{name}.journal after 3 attempts" in lines[0]
    assert "sendguard doctor --postfix" in lines[0]
    assert sent_to(state, "kollege@nordwerk.example") == 0

    # moved back, as doctor says, it is learned by a worker that survives learning it
    os.rename(
        state / journal.DIRECTORY / journal.FAILED / f"{name}.journal", state / journal.DIRECTORY / f"{name}.journal"
    )
    fixed = WorkerProcess(state, log)
    try:
        fixed.ready()
        assert fixed.stop() == 0
    finally:
        fixed.kill()
    assert sent_to(state, "kollege@nordwerk.example") == 1
    assert waiting(state) == []


def test_a_worker_killed_while_learning_its_own_batch_leaves_it_counted(tmp_path):
    log = tmp_path / "workers.log"
    state = tmp_path / "state"
    checker = WorkerProcess(state, log, kill_at="milter-learn")
    try:
        checker.ready()
        to = "kollege@nordwerk.example"
        assert checker.ask(make_message(to=to), to).action == ACCEPT
        assert checker.proc.wait(60) == -9, log.read_text()  # learned once idle: killed there
    finally:
        checker.kill()
    (left,) = waiting(state)
    assert left.endswith("+1.journal"), left


def test_a_batch_whose_learning_fails_is_kept_and_learned_once_the_history_can_be_written(tmp_path):
    """It was removed, and its messages never learned, after one failure (a history locked too
    long, damaged, a full disk): it is kept, tried again later, and each try counts."""
    from sendguard.history.store import path_in
    from sendguard.milter import senders

    log = tmp_path / "workers.log"
    state = tmp_path / "state"
    history = path_in(senders.sender_dir(state, ME, create=True))
    history.mkdir()  # nothing can be learned into it
    to = "kollege@nordwerk.example"
    checker = WorkerProcess(state, log)
    try:
        checker.ready()
        checker.ask(make_message(to=to), to)
        wait_until(lambda: "kept what could not be learned" in log.read_text(), 60, "the failed attempt")
        (left,) = waiting(state)
        assert left.endswith("+1.journal"), left
        assert (state / journal.DIRECTORY / left).stat().st_mtime > time.time() + journal.RETRY_AFTER - 30, (
            "not due yet"
        )
        history.rmdir()  # the administrator's fix
        past = time.time() - 1
        os.utime(state / journal.DIRECTORY / left, (past, past))  # its time has come
        wait_until(lambda: waiting(state) == [], 60, "the kept journal learned (the idle scan)")
        assert sent_to(state, to) == 1
        assert checker.stop() == 0
    finally:
        checker.kill()
    assert "could not learn 1 messages of me@nordwerk.example: HistoryDamaged" in log.read_text()


def test_a_batch_whose_learning_fails_three_times_is_set_aside_not_removed(tmp_path):
    from sendguard.history.store import path_in
    from sendguard.milter import senders

    log = tmp_path / "workers.log"
    state = tmp_path / "state"
    path_in(senders.sender_dir(state, ME, create=True)).mkdir()  # and it stays so
    to = "kollege@nordwerk.example"
    checker = WorkerProcess(state, log)
    try:
        checker.ready()
        checker.ask(make_message(to=to), to)
        for attempt in range(1, journal.TRIES):  # the last one that fails sets it aside
            wait_until(functools.partial(kept_after, state, attempt), 60, f"try {attempt} failed and kept")
            (left,) = waiting(state)
            past = time.time() - 1
            os.utime(state / journal.DIRECTORY / left, (past, past))  # its time has come
        wait_until(lambda: len(set_aside(state)) == 1, 60, "the journal set aside")
        assert waiting(state) == []
        assert checker.stop() == 0
    finally:
        checker.kill()
    assert len([line for line in log.read_text().splitlines() if "set aside" in line]) == 1, log.read_text()


def test_journals_with_names_the_milter_did_not_make_are_learned_and_stop_nothing(tmp_path):
    """A "+²" in a name (a digit to isdigit(), not to int()) ended the learning thread of every
    worker that scanned it: nothing was learned any more, the other journals neither."""
    log = tmp_path / "workers.log"
    state = tmp_path / "state"
    names = {"a+²": "eins@nordwerk.example", "+5": "fuenf@nordwerk.example", "z": "zwei@nordwerk.example"}
    for name, to in names.items():
        made = orphan(state, to)
        os.rename(state / journal.DIRECTORY / f"{made}.journal", state / journal.DIRECTORY / f"{name}.journal")
    taker = WorkerProcess(state, log)
    try:
        taker.ready()
        assert taker.stop() == 0, log.read_text()
    finally:
        taker.kill()
    assert {to: sent_to(state, to) for to in names.values()} == dict.fromkeys(names.values(), 1), log.read_text()
    assert waiting(state) == [] and set_aside(state) == []


def test_a_journal_that_cannot_be_set_aside_stays_and_is_said_once(tmp_path):
    """learning/failed/ is a file: the journal tried three times stays where it is and every scan
    tries again; the worker's log said so at every scan, every few seconds while idle."""
    log = tmp_path / "workers.log"
    state = tmp_path / "state"
    directory = state / journal.DIRECTORY
    name = orphan(state, "alt@nordwerk.example")
    stuck = f"{name}+{journal.TRIES}.journal"
    os.rename(directory / f"{name}.journal", directory / stuck)
    (directory / journal.FAILED).write_text("not a directory\n")
    to = "kollege@nordwerk.example"
    taker = WorkerProcess(state, log)  # it scans as it starts
    try:
        taker.ready()
        assert taker.ask(make_message(to=to), to).action == ACCEPT
        wait_until(lambda: sent_to(state, to) == 1, 60, "the batch learned (a scan follows it)")
        assert taker.stop() == 0  # and one before it ends
    finally:
        taker.kill()
    assert waiting(state) == [stuck]
    lines = [line for line in log.read_text().splitlines() if "could not take up a journal" in line]
    assert len(lines) == 1, log.read_text()
    assert "FileExistsError" in lines[0] and "said once while it lasts" in lines[0]
