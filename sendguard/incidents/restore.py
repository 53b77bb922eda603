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

Pruning is the queue's business (sendguard.act.restored).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from sendguard.act import queue as q
from sendguard.act.restored import restored_root, set_aside
from sendguard.clock import now_iso
from sendguard.fsutil import write_new
from sendguard.incidents import log_dir

_SAFE_REF = re.compile(r"[0-9A-Za-z-]+")
_BOUNDARY = re.compile(rb'boundary="([^"]+)"')


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
        meta = {**meta, "state": q.DELIVERED, "restored_from": str(path), "restored": now_iso()}
        _build(root, entry_dir, original, meta)
    return q.Entry(entry_dir, json.loads((entry_dir / "meta.json").read_text()))


def _build(root: Path, entry_dir: Path, original: bytes, meta: dict) -> None:  # type: ignore[type-arg]
    """Write the entry in a hidden directory and rename it into place."""
    tmp = root / f".new-{entry_dir.name}-{os.urandom(3).hex()}"
    tmp.mkdir(mode=0o700)
    try:
        write_new(tmp / "message.eml", original, durable=False)
        write_new(tmp / "meta.json", json.dumps(meta, indent=1, ensure_ascii=False).encode(), durable=False)
        if entry_dir.is_dir() and not (entry_dir / "meta.json").exists():
            # Left half-written by a restore that wrote in place (before this was atomic).
            set_aside(entry_dir)
        try:
            os.rename(tmp, entry_dir)
        except OSError:  # another oops restored it a moment ago: use that one
            if not (entry_dir / "meta.json").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
