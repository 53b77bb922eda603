"""STATE/restored/ (what `sendguard oops` read back from the incident log for a message the queue
had pruned) is pruned by `queue run` with the queue's own rule, `[queue] keep_days`: counted from
when the entry was restored or last touched, never while a process holds it locked, and
atomically (set aside under a hidden name first). The incident log keeps the message, so a
pruned entry can be restored again.

The records are written by the real incident-log code; the lock is held by another process.
Time is injected into `queue run` (run_due's ``now``), so nothing here depends on the clock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sendguard.act import queue as q
from sendguard.act.ops import run_due
from sendguard.act.restored import prune_restored, restored_root
from sendguard.config import schema as config_mod
from sendguard.incidents.record import record
from sendguard.incidents.restore import restore_from_log
from tests.conftest import make_message

DAY = 86400.0


def state_dir() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "sendguard"


def config(keep_days: int = 2) -> config_mod.Config:
    return config_mod.parse(f"[log]\nnotmuch = false\n[queue]\nkeep_days = {keep_days}\n")


def delivered_then_pruned(subject: str = "Falke offer") -> str:
    """A delivered message whose queue entry is gone; only its log record is left. Its id."""
    queue = q.Queue.default()
    entry, lock = queue.create(
        make_message(subject=subject),
        {"state": q.DELIVERED, "envelope": ["anna@kundenfirma.example"], "subject": subject, "verdict": "pass"},
    )
    lock.release()
    record(entry, "delivered", config())
    shutil.rmtree(entry.path)  # as queue run does after keep_days
    return entry.id


def restored_ids() -> list[str]:
    root = restored_root(state_dir())
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []


def test_queue_run_prunes_restored_entries_after_keep_days_from_their_restoring():
    entry_id = delivered_then_pruned()
    restored = restore_from_log(state_dir(), entry_id)
    assert restored is not None and restored.path.parent == restored_root(state_dir())
    assert restored_ids() == [entry_id]
    now = time.time()
    # The delivery is long gone from the queue, but the restoring is recent: kept.
    assert run_due(q.Queue.default(), config(keep_days=2), now=now + 1.9 * DAY).lines == []
    assert restored_ids() == [entry_id]
    run_due(q.Queue.default(), config(keep_days=2), now=now + 2.1 * DAY)
    assert restored_ids() == []
    # The log still has it: oops can read it back again.
    again = restore_from_log(state_dir(), entry_id)
    assert again is not None and again.raw().startswith(b"From: ")
    assert restored_ids() == [entry_id]


def test_an_oops_touching_it_again_restarts_the_count():
    entry_id = delivered_then_pruned()
    entry = restore_from_log(state_dir(), entry_id)
    assert entry is not None
    later = time.time() + 1.5 * DAY
    entry.meta["updated"] = q.now_iso(later)  # as oops's save does, a day and a half later
    q.atomic_write(entry.path / "meta.json", json.dumps(entry.meta).encode())
    assert prune_restored(state_dir(), 2, later + 1.9 * DAY) == []
    assert prune_restored(state_dir(), 2, later + 2.1 * DAY) == [entry_id]


def test_a_restored_entry_in_use_is_never_pruned():
    entry_id = delivered_then_pruned()
    entry = restore_from_log(state_dir(), entry_id)
    assert entry is not None
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, os, sys\n"
                f"fd = os.open({str(entry.path / 'lock')!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\n"
                "print('locked', flush=True)\n"
                "sys.stdin.read()\n"
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"  # waits until the lock is really held
        far = time.time() + 365 * DAY
        run_due(q.Queue.default(), config(keep_days=2), now=far)
        assert restored_ids() == [entry_id]
        assert (entry.path / "message.eml").exists() and (entry.path / "meta.json").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert prune_restored(state_dir(), 2, far) == [entry_id]  # once the holder let go
    assert restored_ids() == []


def test_leftovers_are_cleaned_and_a_restore_in_progress_is_not():
    root = restored_root(state_dir())
    root.mkdir(parents=True, mode=0o700)
    aside = root / ".pruned-20260101-000000-abcdef-123456"  # a prune that died mid-removal
    (aside / "sub").mkdir(parents=True)
    building = root / ".new-20260101-000000-abcdef-654321"  # another oops restoring right now
    building.mkdir()
    old_build = root / ".new-20250101-000000-abcdef-111111"  # a restore that died long ago
    old_build.mkdir()
    os.utime(old_build, (time.time() - 2 * 3600, time.time() - 2 * 3600))
    assert prune_restored(state_dir(), 30) == []
    assert sorted(p.name for p in root.iterdir()) == [building.name]


def test_a_half_written_restore_is_rebuilt_whole():
    """The restore before this one wrote message.eml, then meta.json, in place; a crash between
    left a directory oops could not read. Now it is built aside and renamed in."""
    entry_id = delivered_then_pruned()
    half = restored_root(state_dir()) / entry_id
    half.mkdir(parents=True)
    (half / "message.eml").write_bytes(b"From: half\n")
    entry = restore_from_log(state_dir(), entry_id)
    assert entry is not None and entry.raw().startswith(b"From: ") and entry.raw() != b"From: half\n"
    assert entry.state == q.DELIVERED and entry.meta["restored"]
    assert restored_ids() == [entry_id]  # the half one set aside, then removed by the next prune
    prune_restored(state_dir(), 30)
    assert sorted(p.name for p in restored_root(state_dir()).iterdir()) == [entry_id]
