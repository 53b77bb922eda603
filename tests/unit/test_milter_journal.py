"""The journal of what a check worker let through and has not learned yet (sendguard.milter.journal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.milter import journal
from sendguard.milter.journal import Journal, orphans

ME = "me@nordwerk.example"


def adopted(root):
    """Each journal under ``root`` nobody else holds, now held here, with its records."""
    found = [Journal.adopt(path) for path in orphans(root)]
    return [(j, j.records()) for j in found if j is not None]


def test_a_journal_its_owner_holds_is_nobodys_orphan(tmp_path):
    live = Journal.create(tmp_path)
    live.append(ME, (ME,), b"Subject: one\n\nbody\n")
    assert adopted(tmp_path) == []
    os.close(live.fd)  # its owner died: the lock is gone, the file stays
    ((first, records),) = adopted(tmp_path)
    assert records == [(ME, (ME,), b"Subject: one\n\nbody\n")]
    assert adopted(tmp_path) == [], "held by whoever adopted it"
    first.remove()
    assert list((tmp_path / journal.DIRECTORY).iterdir()) == []


def test_a_journal_held_by_a_live_process_is_left_to_it_and_adopted_once_it_is_killed(tmp_path):
    code = (
        "import sys; from pathlib import Path; from sendguard.milter.journal import Journal\n"
        "j = Journal.create(Path(sys.argv[1])); j.append('me@nordwerk.example', (), b'x')\n"
        "print('ready', flush=True); sys.stdin.read()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        assert adopted(tmp_path) == []
    finally:
        child.kill()
    assert child.wait() == -signal.SIGKILL
    ((orphan, records),) = adopted(tmp_path)
    assert records == [(ME, (), b"x")]
    orphan.remove()


def test_a_record_cut_short_ends_the_journal_and_what_came_before_is_kept(tmp_path):
    owner = Journal.create(tmp_path)
    owner.append(ME, (ME, "m.e@nordwerk.example"), b"first")
    owner.append(ME, (ME,), b"second message")
    os.close(owner.fd)
    os.truncate(owner.path, owner.path.stat().st_size - 3)
    ((orphan, records),) = adopted(tmp_path)
    assert records == [(ME, (ME, "m.e@nordwerk.example"), b"first")]
    orphan.remove()


def test_a_journal_removed_by_its_owner_after_another_opened_it_is_not_learned_again(tmp_path):
    owner = Journal.create(tmp_path)
    owner.append(ME, (), b"learned already")
    (path,) = orphans(tmp_path)
    owner.remove()  # learned and removed between the other's listing and its lock
    assert Journal.adopt(path) is None


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(max_size=30), st.lists(st.text(max_size=20), max_size=3), st.binary(max_size=300)),
        max_size=6,
    )
)
def test_what_is_appended_is_read_back_as_it_was(tmp_path_factory, records):
    root = tmp_path_factory.mktemp("journal")
    owner = Journal.create(root)
    for sender, own, raw in records:
        owner.append(sender, tuple(own), raw)
    fd = os.open(owner.path, os.O_RDONLY)
    try:
        assert journal.read(fd) == [(s, tuple(o), r) for s, o, r in records]
    finally:
        os.close(fd)
        owner.remove()


# -- what the check worker does with them (sendguard.milter.worker) ------------------------------

CONFIG = '[organization]\ndomains = ["nordwerk.example"]\n\n[log]\nnotmuch = false\n'


def policy_for(root, cls=None):
    from sendguard.config.schema import parse
    from sendguard.milter.policy import Policy

    return (cls or Policy)(parse(CONFIG), root)


def orphan(root, *recipients):
    """A journal of one message from ME to each of ``recipients``, left by a worker that died."""
    from tests.conftest import make_message

    owner = Journal.create(root)
    for to in recipients:
        owner.append(ME, (), make_message(to=to))
    owner.release()


def sent_to(root, to):
    from sendguard.history.store import open_read_only
    from sendguard.milter import senders

    store = open_read_only(senders.sender_dir(root, ME))
    contact = store.contact(to) if store is not None else None
    return contact.sent if contact is not None else 0


def left(root):
    return sorted(p.name for p in (root / journal.DIRECTORY).iterdir())


def test_a_starting_worker_learns_every_orphan_however_many_it_finds(tmp_path, monkeypatch):
    from sendguard.milter import worker
    from tests.support.milter import PipedWorker

    monkeypatch.setattr(worker, "MAX_BEHIND", 1)  # more than it may hold in memory at once
    for n in range(3):
        orphan(tmp_path, f"kollege{n}@nordwerk.example")
    PipedWorker(policy_for(tmp_path).config, tmp_path).stop(60)
    assert [sent_to(tmp_path, f"kollege{n}@nordwerk.example") for n in range(3)] == [1, 1, 1]
    assert left(tmp_path) == []


class Gated:
    """A policy whose first learn_many waits until ``go`` is set (learning behind), after
    telling ``learning`` that it began."""

    @staticmethod
    def make(root):
        import threading

        from sendguard.milter.policy import Policy

        class GatedPolicy(Policy):
            learning = threading.Event()
            go = threading.Event()

            def learn_many(self, *args, **kwargs):
                self.learning.set()
                assert self.go.wait(60)
                return super().learn_many(*args, **kwargs)

        return policy_for(root, GatedPolicy)


def batch_of(root, to):
    """A worker's batch of one message to ``to`` and its journal, as Pending makes them."""
    from sendguard.milter.worker import Pending
    from tests.conftest import make_message

    pending = Pending(root)
    pending.add(ME, make_message(to=to), (), None)
    return pending.batch, pending.journal


def test_a_batch_refused_past_max_behind_stays_on_disk_and_is_learned_once_learning_caught_up(tmp_path, monkeypatch):
    from sendguard.milter import worker

    monkeypatch.setattr(worker, "MAX_BEHIND", 1)
    policy = Gated.make(tmp_path)
    learning = worker.Learning(policy, tmp_path)
    learning.submit(*batch_of(tmp_path, "kollege1@nordwerk.example"))
    assert policy.learning.wait(60)
    learning.submit(*batch_of(tmp_path, "kollege2@nordwerk.example"))  # one past MAX_BEHIND
    assert len(left(tmp_path)) == 2, "the refused batch's journal is kept"
    policy.go.set()
    learning.stop()
    assert sent_to(tmp_path, "kollege1@nordwerk.example") == 1
    assert sent_to(tmp_path, "kollege2@nordwerk.example") == 1
    assert left(tmp_path) == []


def test_an_orphan_left_after_a_worker_started_is_learned_once_it_learned_what_it_was_handed(tmp_path):
    from sendguard.milter import worker

    policy = Gated.make(tmp_path)
    learning = worker.Learning(policy, tmp_path)
    learning.submit(*batch_of(tmp_path, "kollege1@nordwerk.example"))
    assert policy.learning.wait(60)  # its first scan is behind it
    orphan(tmp_path, "kollege2@nordwerk.example")  # another worker died meanwhile
    policy.go.set()
    learning.stop()
    assert sent_to(tmp_path, "kollege2@nordwerk.example") == 1
    assert left(tmp_path) == []


def test_a_worker_whose_milter_died_before_its_answer_learns_what_it_holds_and_exits(tmp_path):
    from sendguard.milter import worker
    from tests.conftest import make_message
    from tests.support.milter import PipedWorker, tx

    to = "kollege@nordwerk.example"
    piped = PipedWorker(policy_for(tmp_path).config, tmp_path)
    piped.answers.close()  # the milter is gone: its end of the pipe with it
    worker.write_frame(piped.requests, (tx(make_message(to=to), to=to), 1e12))
    piped.stop(60)
    assert not piped.thread.is_alive()
    assert sent_to(tmp_path, to) == 1
    assert left(tmp_path) == []


def test_an_entry_that_is_no_journal_file_neither_stops_the_scan_nor_keeps_a_descriptor(tmp_path):
    from tests.support.milter import PipedWorker

    odd = tmp_path / journal.DIRECTORY / "0-odd.journal"
    odd.mkdir(parents=True)
    orphan(tmp_path, "kollege@nordwerk.example")
    PipedWorker(policy_for(tmp_path).config, tmp_path).stop(60)
    assert sent_to(tmp_path, "kollege@nordwerk.example") == 1
    assert left(tmp_path) == ["0-odd.journal"]
    assert str(odd) not in open_files()


def open_files():
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            names.append(os.readlink(f"/proc/self/fd/{fd}"))
        except FileNotFoundError:  # the listing's own descriptor
            continue
    return names


def test_a_hidden_journal_whose_maker_died_before_naming_it_is_removed_by_a_later_scan(tmp_path):
    directory = tmp_path / journal.DIRECTORY
    directory.mkdir()
    dead, fresh = directory / ".1-1.new", directory / ".2-2.new"
    dead.touch()
    fresh.touch()  # its maker may be about to lock it
    old = dead.stat().st_mtime - journal.UNBORN_AGE - 1
    os.utime(dead, (old, old))
    assert orphans(tmp_path) == []
    assert left(tmp_path) == [".2-2.new"]
