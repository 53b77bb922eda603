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


def test_a_journal_its_owner_holds_is_nobodys_orphan(tmp_path):
    live = Journal.create(tmp_path)
    live.append(ME, (ME,), b"Subject: one\n\nbody\n")
    assert list(orphans(tmp_path)) == []
    os.close(live.fd)  # its owner died: the lock is gone, the file stays
    ((adopted, records),) = list(orphans(tmp_path))
    assert records == [(ME, (ME,), b"Subject: one\n\nbody\n")]
    assert list(orphans(tmp_path)) == [], "held by whoever adopted it"
    adopted.remove()
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
        assert list(orphans(tmp_path)) == []
    finally:
        child.kill()
    assert child.wait() == -signal.SIGKILL
    ((adopted, records),) = list(orphans(tmp_path))
    assert records == [(ME, (), b"x")]
    adopted.remove()


def test_a_record_cut_short_ends_the_journal_and_what_came_before_is_kept(tmp_path):
    owner = Journal.create(tmp_path)
    owner.append(ME, (ME, "m.e@nordwerk.example"), b"first")
    owner.append(ME, (ME,), b"second message")
    os.close(owner.fd)
    os.truncate(owner.path, owner.path.stat().st_size - 3)
    ((adopted, records),) = list(orphans(tmp_path))
    assert records == [(ME, (ME, "m.e@nordwerk.example"), b"first")]
    adopted.remove()


def test_a_journal_removed_by_its_owner_after_another_opened_it_is_not_learned_again(tmp_path):
    owner = Journal.create(tmp_path)
    owner.append(ME, (), b"learned already")
    scan = orphans(tmp_path)
    owner.remove()  # learned and removed between the other's listing and its lock
    assert list(scan) == []


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
