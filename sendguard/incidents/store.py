"""The incident log's notmuch database: index pending records, search.

Only ``sendguard log``, ``sendguard oops`` and the detached indexer import this module (it
imports notmuch2); the send path never does.

The database is sendguard's own, created on first use at ``STATE/incidents/.notmuch`` with an
empty configuration, so the user's ``~/.notmuch-config`` and their own mail index are never
read or touched. Tags are applied inside ``msg.frozen()``: ``Database.add`` does not apply any
``[new] tags``. Markers are removed only after the database is closed (committed), so a crash
mid-way leaves them to be indexed again — adding a known file again is harmless.

A writer holding the Xapian lock makes a read-write open *wait*; that is why writing happens
only in the indexer process, which may wait, and ``sendguard log`` bounds its wait for it.
Readers never wait.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import notmuch2

from sendguard.errors import SendguardError
from sendguard.exitcodes import ExitCode
from sendguard.incidents import log_dir, pending_dir


class IncidentLogError(SendguardError):
    """The incident log cannot be searched (the records themselves are still on disk)."""


class IncidentQueryError(IncidentLogError):
    """The query is one notmuch cannot run or would misread: the person's to fix."""

    exit_code = ExitCode.USAGE


@dataclass
class IndexReport:
    indexed: int = 0
    dropped: int = 0
    failed: list[str] = field(default_factory=list)


def _open(state_dir: Path, write: bool) -> notmuch2.Database | None:
    root = log_dir(state_dir)
    mode = notmuch2.Database.MODE.READ_WRITE if write else notmuch2.Database.MODE.READ_ONLY
    if not (root / ".notmuch").is_dir():
        if not write:
            return None
        for sub in ("tmp", "new", "cur"):
            (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        _create_atomically(root)
    return notmuch2.Database(str(root), mode=mode, config=notmuch2.Database.CONFIG.EMPTY)


def _create_atomically(root: Path) -> None:
    """Create the database beside its place and rename it in: a reader that looks while it is
    being created sees no database (an empty log), never a half-built one it cannot open."""
    import shutil
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix=".notmuch-new-", dir=root))
    try:
        notmuch2.Database.create(str(scratch), config=notmuch2.Database.CONFIG.EMPTY).close()
        try:
            os.rename(scratch / ".notmuch", root / ".notmuch")
        except OSError:
            if not (root / ".notmuch").is_dir():
                raise
            # someone else's creation won the race; theirs is as good as ours
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def pending_markers(state_dir: Path) -> list[Path]:
    try:
        return sorted(p for p in pending_dir(state_dir).iterdir() if not p.name.startswith("."))
    except FileNotFoundError:
        return []


def _find_record(root: Path, name: str) -> Path | None:
    """The record a marker names; a mail program may have moved it or changed its flags."""
    base = name.partition(":")[0]
    for sub in ("cur", "new"):
        exact = root / sub / name
        if exact.exists():
            return exact
        for candidate in (root / sub).glob(base + "*"):
            return candidate
    return None


# write_record makes the marker, then renames the record from tmp/ into cur/: an indexer can run
# in between. A record in tmp/ younger than this is on its way; older, its writer died.
WRITER_GRACE_SECONDS = 60.0
RENAME_WAIT_SECONDS = 0.5


def _in_tmp_recently(root: Path, name: str) -> bool:
    import time

    try:
        return time.time() - (root / "tmp" / name.partition(":")[0]).stat().st_mtime < WRITER_GRACE_SECONDS
    except FileNotFoundError:
        return False


def _record_for(root: Path, name: str) -> tuple[Path | None, bool]:
    """(the record a marker names, whether its writer still holds it in tmp/), waiting briefly
    for the rename. tmp/ is looked at first, so a rename in between is found."""
    import time

    deadline = time.monotonic() + RENAME_WAIT_SECONDS
    while True:
        on_its_way = _in_tmp_recently(root, name)
        path = _find_record(root, name)
        if path is not None or not on_its_way:
            return path, False
        if time.monotonic() >= deadline:
            return None, True
        time.sleep(0.01)


def _apply_tags(msg: Any) -> None:
    try:
        tags = msg.header("X-Sendguard-Tags").split()
    except LookupError:
        tags = []
    with msg.frozen():
        if "attachment" not in tags:  # notmuch's own, for the record's meta part: not the message's
            msg.tags.discard("attachment")
        for tag in tags:
            msg.tags.add(tag)


def index_pending(state_dir: Path) -> IndexReport:
    """Add every pending record to the database and tag it. Waits if notmuch is locked."""
    report = IndexReport()
    markers = pending_markers(state_dir)
    if not markers:
        return report
    root = log_dir(state_dir)
    done: list[Path] = []
    db = _open(state_dir, write=True)
    assert db is not None
    try:
        with db.atomic():
            for marker in markers:
                path, on_its_way = _record_for(root, marker.name)
                if on_its_way:
                    continue  # the marker stays for the next round
                if path is None:
                    report.dropped += 1  # a crash before the rename: there is no record
                    done.append(marker)
                    continue
                try:
                    msg, _duplicate = db.add(str(path))
                except notmuch2.NotmuchError as err:  # e.g. FileNotEmailError: keep the marker
                    report.failed.append(f"{path.name}: {err}")
                    continue
                _apply_tags(msg)
                report.indexed += 1
                done.append(marker)
    finally:
        db.close()
    for marker in done:
        marker.unlink(missing_ok=True)
    return report


def reindex_all(state_dir: Path) -> IndexReport:
    """Index every record in the maildir (after the database was removed or damaged)."""
    root = log_dir(state_dir)
    pending = pending_dir(state_dir)
    pending.mkdir(mode=0o700, parents=True, exist_ok=True)
    for sub in ("cur", "new"):
        for path in (root / sub).glob("*"):
            os.close(os.open(pending / path.name, os.O_WRONLY | os.O_CREAT, 0o600))
    return index_pending(state_dir)


@dataclass(frozen=True)
class LogRow:
    """One record, as ``sendguard log --json`` prints it."""

    id: str
    event: str
    subject: str
    recipients: list[str]
    tags: list[str]
    date: str
    record: str
    path: str

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def _header(msg: Any, name: str) -> str:
    try:
        return str(msg.header(name))
    except LookupError:
        return ""


QUERY_HINT = "the syntax is notmuch's: tag:held, date:7d.., to:example.org, words (man notmuch-search-terms)"


def _unclosed(query: str) -> str:
    """An unclosed quote or parenthesis in ``query``, in words; empty when there is none."""
    depth, quoted = 0, False
    for char in query:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
            if depth < 0:
                return "a ')' that closes nothing"
    if quoted:
        return 'a quote (") that is not closed'
    return f"{depth} '(' not closed" if depth else ""


def _notmuch_says(state_dir: Path, query: str) -> str | None:
    """notmuch's own words for a query it refuses: notmuch2 has only "A Xapian exception
    occurred"; the notmuch command prints the parser's message (on this error path only)."""
    import shutil
    import subprocess

    exe = shutil.which("notmuch")
    if exe is None:
        return None
    env = dict(os.environ, NOTMUCH_DATABASE=str(log_dir(state_dir)))
    try:
        proc = subprocess.run(
            [exe, "--config=", "count", "--", query], env=env, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in proc.stderr.splitlines():
        if "parsing query:" in line:
            return line.split("parsing query:", 1)[1].strip()
    return None


def search(state_dir: Path, query: str, *, limit: int | None = None) -> list[LogRow]:
    """Records matching a notmuch query, newest first."""
    try:
        db = _open(state_dir, write=False)
    except notmuch2.NotmuchError as err:
        raise IncidentLogError(
            f"the incident log's database cannot be opened: {err}",
            hints=[f"the records are in {log_dir(state_dir)}; `sendguard log --reindex` rebuilds it"],
        ) from None
    unclosed = _unclosed(query)
    if unclosed:  # notmuch takes these without a word and finds nothing: say what is wrong
        raise IncidentQueryError(f"the query {query!r} has {unclosed}", hints=[QUERY_HINT])
    try:
        query.encode("utf-8")
    except UnicodeEncodeError:  # an argument's bytes that are not UTF-8 (a Latin-1 terminal)
        shown = query.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise IncidentQueryError(
            f"the query '{shown}' is not UTF-8 text: notmuch reads only UTF-8",
            hints=["type it in a terminal that sends UTF-8 (a UTF-8 locale, e.g. LANG=C.UTF-8)"],
        ) from None
    if db is None:
        return []
    rows: list[LogRow] = []
    try:
        try:
            messages = db.messages(query or "*", sort=notmuch2.Database.SORT.NEWEST_FIRST, exclude_tags=())
            for msg in messages:
                subject = _header(msg, "Subject")
                event = _header(msg, "X-Sendguard-Event")
                prefix = f"[{event}] "
                rows.append(
                    LogRow(
                        id=_header(msg, "X-Sendguard-Id"),
                        event=event,
                        subject=subject[len(prefix) :] if subject.startswith(prefix) else subject,
                        recipients=[a.strip() for a in _header(msg, "To").split(",") if "@" in a],
                        tags=sorted(str(t) for t in msg.tags),
                        date=datetime.fromtimestamp(msg.date, UTC).isoformat(timespec="seconds"),
                        record=str(msg.messageid),
                        path=str(msg.path),
                    )
                )
                if limit and len(rows) >= limit:
                    break
        except notmuch2.NotmuchError as err:
            says = _notmuch_says(state_dir, query) or str(err)
            raise IncidentQueryError(f"notmuch cannot run the query {query!r}: {says}", hints=[QUERY_HINT]) from None
    finally:
        db.close()
    return rows
