"""Read a message back from the incident log, for when the queue has pruned its entry.

The queue keeps delivered messages ``[queue] keep_days``; the log keeps them for good. A
``delivered`` record carries the entry's meta (application/json) and the original
(message/rfc822) in a fixed order (record.py), so the entry can be rebuilt — into
``STATE/restored/ID``, never into the queue, so nothing restored can ever be delivered again.
No notmuch: the record is found by its file name, which names the entry and the event.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from sendguard import queue as q
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
        stamp = path.name.split(".", 1)[0]
        return (int(stamp) if stamp.isdigit() else 0, path.name)

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

    entry_dir = ensure_private_dir(restored_root(state_dir) / entry_id)
    if not (entry_dir / "message.eml").exists():
        fd = os.open(entry_dir / "message.eml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, original)
        finally:
            os.close(fd)
        meta = {**meta, "state": q.DELIVERED, "restored_from": str(path)}
        q.atomic_write(entry_dir / "meta.json", json.dumps(meta, indent=1, ensure_ascii=False).encode())
    return q.Entry(entry_dir, json.loads((entry_dir / "meta.json").read_text()))
