"""Entries ``oops`` read back from the incident log, under ``STATE/restored``; pruned by ``queue run``.

Pruning follows the queue's rule: an entry not touched for ``[queue] keep_days`` goes (the log still
has it, so ``oops`` can restore it again). An entry is only pruned under its lock (an ``oops`` at
work holds it) and is first renamed to a hidden ``.pruned-*`` name, so nobody finds it half removed.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime
from pathlib import Path

from sendguard.act import queue as q
from sendguard.errors import QueueLockedError


def restored_root(state_dir: Path) -> Path:
    return state_dir / "restored"


def set_aside(entry_dir: Path) -> Path:
    """Rename an entry out of everyone's sight (a hidden name nothing resolves) before removal."""
    aside = entry_dir.with_name(f".pruned-{entry_dir.name}-{os.urandom(3).hex()}")
    os.rename(entry_dir, aside)
    return aside


def _last_touched(meta: dict) -> float | None:  # type: ignore[type-arg]
    stamps = [meta.get(k) for k in ("updated", "restored", "created")]
    times = []
    for stamp in stamps:
        try:
            times.append(datetime.fromisoformat(str(stamp)).timestamp())
        except ValueError:
            continue
    return max(times, default=None)


STALE_BUILD = 3600.0  # a .new-* directory this old was left by a restore that died


def prune_restored(state_dir: Path, keep_days: int, now: float | None = None) -> list[str]:
    """Remove restored entries not touched for ``keep_days`` (the queue's rule); returns their
    ids. An entry some process holds locked (an ``oops`` at work) is left for the next run."""
    now = time.time() if now is None else now
    root = restored_root(state_dir)
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    restored = q.Queue(root)
    pruned = []
    for name in names:
        path = root / name
        if name.startswith(".pruned-"):  # set aside by an earlier run that did not finish
            shutil.rmtree(path, ignore_errors=True)
            continue
        if name.startswith("."):
            try:
                stale = now - path.stat().st_mtime > STALE_BUILD
            except FileNotFoundError:
                continue
            if stale:
                shutil.rmtree(path, ignore_errors=True)
            continue
        if not path.is_dir():
            continue
        entry = q.Entry(path)
        try:
            lock = restored.try_lock(entry)
        except QueueLockedError:
            continue
        except OSError:  # removed meanwhile by another queue run
            continue
        try:
            try:
                meta = dict(q.read_meta(path))
            except (OSError, ValueError):
                meta = {}
            try:
                touched = _last_touched(meta)
                if touched is None:  # no readable meta: judge by the directory's own age
                    touched = path.stat().st_mtime
                if now - touched <= keep_days * 86400:
                    continue
                aside = set_aside(path)
            except OSError:  # set aside by another queue run just before we took the lock
                continue
        finally:
            lock.release()
        shutil.rmtree(aside, ignore_errors=True)
        pruned.append(name)
    return pruned
