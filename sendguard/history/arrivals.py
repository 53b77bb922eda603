"""Where received mail was learned from, and whether mail came in there since (for doctor).

``sendguard learn`` notes each folder, file or notmuch query it read received mail from, and
when; ``doctor`` asks whether anything came in there after that. Received mail that stops
learning long before the mail sent is either an inbox nobody wrote to or one nobody learns
any more, and only the source can tell which.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY = "learned_from"
"""The ``meta`` row: {source: [kind, where, database, first learned, last learned]}."""
MAX_SOURCES = 64
PATH = "path"
NOTMUCH = "notmuch"


@dataclass(frozen=True)
class Source:
    kind: str
    """PATH (a folder or file) or NOTMUCH (a query)."""
    where: str
    """The absolute path, or the query."""
    database: str
    """For a query: the notmuch database given (empty: notmuch's own configuration)."""
    learned: float
    """When it was last learned from (the start of that run)."""
    first: float = 0.0
    """When it was first learned from: long before ``learned``, it is learned again and again."""


@dataclass(frozen=True)
class Arrived:
    new: int
    """Messages that came in after it was learned and are still there."""
    changed: bool
    """Anything in it changed after it was learned (a message come and gone, a flag set, a file
    appended to): ``new`` may not be all that came."""


def note(db: sqlite3.Connection, sources: Iterable[Source]) -> None:
    """Remember these as learned from (the newest MAX_SOURCES in all), in one transaction."""
    sources = list(sources)
    if not sources:
        return
    if db.in_transaction:
        db.commit()
    with db:  # read, merge and write at once: two learn runs (a hook and a timer) may end together
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT value FROM meta WHERE key = ?", (KEY,)).fetchone()
        known = _parsed(row[0] if row else "")
        for s in sources:
            key = _key(s.kind, s.where, s.database)
            before = known.get(key)
            first = before[3] if isinstance(before, list) and len(before) == 5 else s.learned
            known[key] = [s.kind, s.where, s.database, first, s.learned]
        newest = sorted(known.items(), key=lambda item: -float(item[1][4]))[:MAX_SOURCES]
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (KEY, json.dumps(dict(newest))))


def learned_from(db: sqlite3.Connection) -> list[Source]:
    """Every source noted, the most recently learned first ([] before any was)."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (KEY,)).fetchone()
    except sqlite3.Error:
        return []
    found = []
    for value in _parsed(row[0] if row else "").values():
        try:
            kind, where, database, first, learned = value
            found.append(Source(str(kind), str(where), str(database), float(learned), float(first)))
        except (TypeError, ValueError):
            continue
    return sorted(found, key=lambda s: -s.learned)


def arrived(source: Source, own: Iterable[str] = ()) -> Arrived | None:
    """What came into ``source`` after it was learned (None: it cannot be read now). ``own``:
    the user's addresses, whose mail a query's count leaves out."""
    if source.kind == NOTMUCH:
        return _arrived_by_query(source, own)
    path = Path(source.where)
    try:
        if path.is_file():
            return Arrived(0, path.stat().st_mtime > source.learned)
        if not path.is_dir():
            return None
        return _arrived_in_folder(source, path, {a.lower() for a in own})
    except OSError:
        return None


def _arrived_in_folder(source: Source, path: Path, own: set[str]) -> Arrived:
    """A message delivered into a folder, or renamed in it, changes the folder's time; a
    message file is never written again in place. So only the folders changed since are read,
    and of their new files those from someone else (a folder learned whole holds the copies of
    the mail sent, too)."""
    new, changed = 0, False
    for root, dirs, _ in os.walk(path, onerror=_raise):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "tmp"]
        if os.stat(root).st_mtime <= source.learned:
            continue
        changed = True
        with os.scandir(root) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                if entry.stat(follow_symlinks=False).st_mtime > source.learned:
                    new += not _from_own(Path(entry.path), own)
    return Arrived(new, changed)


def _from_own(path: Path, own: set[str]) -> bool:
    """Whether the message in ``path`` is from one of ``own`` (its header read, up to 64 kB)."""
    from email.parser import BytesHeaderParser
    from email.utils import getaddresses

    if not own:
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False  # gone meanwhile, or unreadable: counted as come in, the safe side
    try:
        headers = BytesHeaderParser().parsebytes(head)
        found = getaddresses([str(v) for v in headers.get_all("From", [])])
    except (ValueError, TypeError, LookupError):  # a header past reading: not shown to be theirs
        return False
    return any(addr.lower() in own for _, addr in found)


def _arrived_by_query(source: Source, own: Iterable[str]) -> Arrived | None:
    from sendguard.history.sources import LearnSourceError, notmuch_files

    others = " or ".join(f'from:"{a}"' for a in own if '"' not in a)
    query = f"({source.where}) and date:@{int(source.learned)}.."
    if others:
        query += f" and not ({others})"
    try:
        found = notmuch_files(query, Path(source.database) if source.database else None)
    except LearnSourceError:
        return None
    return Arrived(len(found), bool(found))


def _raise(err: OSError) -> None:
    raise err


def _key(kind: str, where: str, database: str) -> str:
    return f"{kind}\0{database}\0{where}"


def _parsed(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return {}
    return dict(found) if isinstance(found, Mapping) else {}
