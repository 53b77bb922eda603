"""Read a message back from the incident log, for when the queue has pruned its entry.

The queue keeps delivered messages ``[queue] keep_days``; the log keeps them for good. A
``delivered`` record carries the entry's meta (application/json) and the original
(message/rfc822) in a fixed order (record.py), so the entry can be rebuilt — into
``STATE/restored/ID``, never into the queue, so nothing restored can ever be delivered again.
No notmuch: the record is found by its file name, which names the entry and the event.

A restored entry appears whole or not at all: it is built in a hidden ``.new-ID-*`` directory
and renamed into place (two ``oops`` at once: the second rename fails, that one uses the
first). It carries a ``restored`` stamp, so the pruning below counts its age from when it was
read back, not from the delivery long ago that made the queue prune it in the first place.

Pruning (:func:`prune_restored`, run by ``queue run`` beside the queue's own pruning) follows the
queue's rule — an entry not touched for ``[queue] keep_days`` goes; the log still has it, so
``oops`` can restore it again. An entry is only pruned under its lock (an ``oops`` at work
holds it) and is first renamed to a hidden ``.pruned-*`` name, so nobody finds it half removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from datetime import datetime
from pathlib import Path

from sendguard.act import queue as q
from sendguard.incidents import log_dir

_SAFE_REF = re.compile(r"[0-9A-Za-z-]+")
_BOUNDARY = re.compile(rb'boundary="([^"]+)"')


def restored_root(state_dir: Path) -> Path:
    return state_dir / "restored"


def find_delivered_record(state_dir: Path, ref: str | None) -> Path | None:
    """The newest ``delivered`` record of entry ``ref`` (an id or its prefix), or of any entry."""
    if ref is not None and not _SAFE_REF.fullmatch(ref):
        return None
    pattern = f"*_{ref}*.delivered.*" if ref else "*.delivered.*"
    root = log_dir(state_dir)
    found = [*(root / "cur").glob(pattern), *(root / "new").glob(pattern)]

    def written(path: Path) -> tuple[int, str]:
        # Within one second, the entry id (it sorts in the order entries were kept), not the
        # writer's pid that comes before it in the name.
        stamp = path.name.split(".", 1)[0]
        return (int(stamp) if stamp.isdigit() else 0, path.name.partition("_")[2])

    return max(found, key=written, default=None)


def parse_record(data: bytes) -> tuple[dict, bytes] | None:  # type: ignore[type-arg]
    """(meta, original) from a record's bytes, or None if it is not one of ours."""
    head, _, _ = data.partition(b"\n\n")
    match = _BOUNDARY.search(head)
    if not match:
        return None
    meta, original = None, None
    for part in data.split(b"\n--" + match.group(1))[1:]:
        if part.startswith(b"--"):
            break
        part_head, _, body = part.lstrip(b"\n").partition(b"\n\n")
        if b"Content-Type: application/json" in part_head:
            meta = json.loads(body)
        elif b"Content-Type: message/rfc822" in part_head:
            original = body
        elif b"Content-Type: message/external-body" in part_head:
            from sendguard.incidents.record import read_original

            original = read_original(part_head)
    if meta is None or original is None:
        return None
    return meta, original


def restore_from_log(state_dir: Path, ref: str | None) -> q.Entry | None:
    """Rebuild a delivered entry from its record into ``STATE/restored/ID``; None if none."""
    path = find_delivered_record(state_dir, ref)
    if path is None:
        return None
    parsed = parse_record(path.read_bytes())
    if parsed is None:
        return None
    meta, original = parsed
    entry_id = str(meta.get("id", ""))
    if not _SAFE_REF.fullmatch(entry_id):
        return None
    from sendguard.paths import ensure_private_dir

    root = ensure_private_dir(restored_root(state_dir))
    entry_dir = root / entry_id
    if not (entry_dir / "meta.json").exists():
        meta = {**meta, "state": q.DELIVERED, "restored_from": str(path), "restored": q.now_iso()}
        _build(root, entry_dir, original, meta)
    return q.Entry(entry_dir, json.loads((entry_dir / "meta.json").read_text()))


def _build(root: Path, entry_dir: Path, original: bytes, meta: dict) -> None:  # type: ignore[type-arg]
    """Write the entry in a hidden directory and rename it into place."""
    tmp = root / f".new-{entry_dir.name}-{os.urandom(3).hex()}"
    tmp.mkdir(mode=0o700)
    try:
        q.write_new(tmp / "message.eml", original, durable=False)
        q.write_new(tmp / "meta.json", json.dumps(meta, indent=1, ensure_ascii=False).encode(), durable=False)
        if entry_dir.is_dir() and not (entry_dir / "meta.json").exists():
            # Left half-written by a restore that wrote in place (before this was atomic).
            _set_aside(entry_dir)
        try:
            os.rename(tmp, entry_dir)
        except OSError:  # another oops restored it a moment ago: use that one
            if not (entry_dir / "meta.json").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _set_aside(entry_dir: Path) -> Path:
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
    from sendguard.errors import QueueLockedError

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
                meta = json.loads((path / "meta.json").read_text())
            except (OSError, ValueError):
                meta = {}
            try:
                touched = _last_touched(meta)
                if touched is None:  # no readable meta: judge by the directory's own age
                    touched = path.stat().st_mtime
                if now - touched <= keep_days * 86400:
                    continue
                aside = _set_aside(path)
            except OSError:  # set aside by another queue run just before we took the lock
                continue
        finally:
            lock.release()
        shutil.rmtree(aside, ignore_errors=True)
        pruned.append(name)
    return pruned
