"""What the review screen shows, computed without any UI: queue rows and one message's view.

The review app (tui/) is a thin layer over these plain dataclasses, so the ordering, the
countdown and the "outside / which client" marks are tested without a terminal, and another
front end (a CLI, a web page) could reuse them. Nothing here imports Textual; all strings are
*raw* message text — the UI must pass them through ``printable()`` and render them as text,
never as markup.

Urgency order (most urgent first): what needs a person now (held, interrupted, failed,
blocked), then what will leave by itself but can still be stopped (the undo window, soonest
first), then what is retrying or in flight, then what was recently delivered (newest first).
Within the first group newest first: the person most likely just sent it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sendguard.act import queue as q

# state -> rank; lower is more urgent. States not listed (final ones) are not in the queue view.
URGENCY: dict[str, int] = {
    q.HELD: 0,
    q.INTERRUPTED: 1,
    q.FAILED: 2,
    q.BLOCKED: 3,
    q.DELAYED: 4,
    q.DEFERRED: 5,
    q.RELEASED: 6,
    q.ACCEPTED: 6,
    q.SENDING: 6,
    q.RECEIVED: 6,
    q.DELIVERED: 7,
    q.SUPERSEDED: 8,  # sent again fixed: shown, but it needs nobody
}

# How long a delivered message stays in the queue view ("recently delivered").
RECENT_SECONDS = 24 * 3600


def _timestamp(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def main_reason(meta: q.Meta, state: str = "") -> str:
    """The one sentence that best says why: the most serious finding, or the error."""
    if meta.get("state") == q.SUPERSEDED:
        return f"superseded by {meta.get('superseded_by', '?')}: sent again, fixed; r still sends this copy"
    order = {"block": 0, "hold": 1, "warn": 2}
    serious = [f for f in meta.get("findings", []) if f.get("severity") in order]
    if serious:
        serious.sort(key=lambda f: order[f["severity"]])
        return str(serious[0].get("message", ""))
    errors = meta.get("error") or []
    if errors:
        return str(errors[0])
    if meta.get("transport_error"):
        return f"transport: {meta['transport_error']}"
    if (state or meta.get("state")) in (q.HELD, q.BLOCKED):
        from sendguard.act.listing import nothing_holds

        return nothing_holds("r")
    return ""


NEEDS_YOU = frozenset({q.HELD, q.BLOCKED, q.INTERRUPTED, q.FAILED})
"""What the review counts as needing a person (its title's "N need you")."""


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue list."""

    id: str
    state: str
    created: float | None
    recipients: tuple[str, ...]
    subject: str
    verdict: str
    reason: str
    not_before: float | None = None
    delivered: float | None = None
    search_text: str = ""
    """Lower-case id, state, verdict, subject, reason and recipients: what the filter searches."""
    suggestion: bool = False
    """A finding suggests another recipient (the s key can take it)."""
    findings: bool = False
    sender: str = ""
    """Who sent it, where several people's mail is listed (Postfix's hold queue)."""
    copy_id: str = ""
    """The milter's own copy of a message held in Postfix's queue: what Enter opens."""
    already_left: bool = False
    """Kept when it was sent again after it had left: releasing it sends it a second time."""

    @property
    def needs_you(self) -> bool:
        return self.state in NEEDS_YOU and not self.already_left

    @property
    def urgency(self) -> int:
        return URGENCY.get(self.state, 9)

    def sort_key(self) -> tuple[int, float]:
        if self.state == q.DELAYED:
            return (self.urgency, self.not_before or 0.0)  # soonest to leave first
        when = self.delivered if self.state == q.DELIVERED else self.created
        return (self.urgency, -(when or 0.0))  # newest first

    def countdown(self, now: float) -> str:
        """'0:42' until a waiting message leaves, 'due' after; '' for anything else."""
        if self.state != q.DELAYED or self.not_before is None:
            return ""
        if self.not_before <= now:
            return "due"
        left = int(self.not_before - now + 0.999)
        return f"{left // 60}:{left % 60:02d}"

    def matches(self, needle: str) -> bool:
        """Case-insensitive substring filter over id, state, recipients, subject and reason."""
        if not needle:
            return True
        return all(word in self.search_text for word in needle.lower().split())


def row_for(entry_id: str, meta: q.Meta, state: str | None = None) -> QueueRow:
    state = state or str(meta.get("state", q.RECEIVED))
    recipients = tuple(str(a) for a in meta.get("envelope", meta.get("recipients", [])) or [])
    subject, verdict, reason = str(meta.get("subject", "")), str(meta.get("verdict", "hold")), main_reason(meta, state)
    return QueueRow(
        id=entry_id,
        state=state,
        created=_timestamp(meta.get("created")),
        recipients=recipients,
        subject=subject,
        verdict=verdict,
        reason=reason,
        not_before=_timestamp(meta.get("not_before")),
        delivered=_timestamp(meta.get("delivered")),
        search_text=" ".join((entry_id, state, verdict, subject, reason, *recipients)).lower(),
        suggestion=any(isinstance(f, dict) and f.get("suggestion") for f in meta.get("findings") or []),
        findings=bool(meta.get("findings")),
        already_left=bool(meta.get("already_left")),
    )


ENTRY_ACTIONS = frozenset({"release", "discard", "suggest", "edit", "allow", "false_alarm"})
"""The review keys that act on one entry: offered only where its state allows them."""


def allowed_actions(state: str, *, suggestion: bool, findings: bool) -> frozenset[str]:
    """Which of ENTRY_ACTIONS can do something to an entry in ``state`` — the ones the review
    screen offers: no "send it now?" for mail that already left, no fix for mail past fixing."""
    from sendguard.act.ops import RELEASABLE
    from sendguard.recover.fix import FIXABLE

    out = set()
    if state in RELEASABLE:
        out.add("release")
    if state in RELEASABLE or state == q.RECEIVED:
        out.add("discard")
    if state in FIXABLE:
        out |= {"edit", "allow"}
        if suggestion:
            out.add("suggest")
    if findings:
        out.add("false_alarm")
    return frozenset(out)


def _scan(root: Path) -> Iterator[tuple[str, q.Meta]]:
    """(id, meta) of every entry, read with plain strings.

    The same as ``Queue.entries()``, without a Path object per entry: on Python 3.11 pathlib
    alone cost ~0.9 s for 10,000 entries, most of the queue view's budget.
    """
    try:
        with os.scandir(root) as it:
            names = sorted(d.name for d in it if not d.name.startswith(".") and d.is_dir())
    except FileNotFoundError:
        return
    base = os.fspath(root)
    for name in names:
        try:
            with open(os.path.join(base, name, "meta.json"), "rb") as handle:
                data = json.loads(handle.read())
        except (OSError, ValueError):
            yield name, {"id": name, "state": q.INTERRUPTED, "note": "meta.json unreadable; message.eml is kept"}
            continue
        yield name, cast(q.Meta, data) if isinstance(data, dict) else {"id": name, "state": q.INTERRUPTED}


def queue_signature(root: Path, entry_ids: list[str]) -> tuple[int, ...]:
    """Changes when an entry appears or goes, or when one of ``entry_ids`` changes state.

    meta.json is only ever replaced by a rename, which changes its directory's mtime; a new
    entry is renamed into the queue root. So a few stat calls tell the review screen whether
    reading the whole queue again is worth it.
    """
    out = []
    for path in (os.fspath(root), *(os.path.join(root, i) for i in entry_ids)):
        try:
            out.append(os.stat(path).st_mtime_ns)
        except FileNotFoundError:
            out.append(0)
    return tuple(out)


def queue_rows(queue: q.Queue, now: float, *, include_all: bool = False) -> list[QueueRow]:
    """The queue view, most urgent first. ``include_all`` adds every final entry (incidents)."""
    from sendguard.act.ops import effective_state

    rows = []
    for entry_id, meta in _scan(queue.root):
        state = str(meta.get("state", q.RECEIVED))
        if state == q.SENDING:
            state = effective_state(queue, q.Entry(queue.root / entry_id, meta))
        if not include_all and state not in URGENCY:
            continue
        row = row_for(entry_id, meta, state)
        recent = row.delivered or _timestamp(meta.get("updated")) or row.created or 0.0
        if not include_all and state in (q.DELIVERED, q.SUPERSEDED) and now - recent > RECENT_SECONDS:
            continue
        rows.append(row)
    if include_all:
        rows.sort(key=lambda r: -(r.created or 0.0))
    else:
        rows.sort(key=QueueRow.sort_key)
    return rows


def postfix_rows(config_dir: str, milter_state: Path, held: list[dict[str, Any]] | None = None) -> list[QueueRow]:
    """Postfix's hold queue as queue rows, newest first (``review --postfix``).

    The id is Postfix's queue id (what ``postsuper`` acts on); the reason, the subject and
    ``copy_id`` come from the copy the milter kept when it quarantined the message, joined by
    that id (milter/postfix.listing, as ``queue list --postfix``). Mail held by someone else has
    no copy: it is listed with what Postfix knows and says so. ``held``: ``postqueue -j``'s
    objects, when already read (default: ask Postfix now).
    """
    from sendguard.milter import postfix

    rows = []
    for item in postfix.listing(config_dir, milter_state, held):
        qid, recipients = str(item["id"]), tuple(str(a) for a in item["recipients"])
        subject, verdict = str(item["subject"]), str(item["verdict"])
        reasons = [str(r) for r in item["reasons"]]
        copy_id = str(item.get("sendguard_id") or "")
        reason = reasons[0] if reasons else ("" if copy_id else "sendguard has no copy of it: held by something else")
        sender = str(item.get("login") or item.get("sender") or "")
        rows.append(
            QueueRow(
                id=qid,
                state=q.HELD,
                created=_timestamp(item["created"]),
                recipients=recipients,
                subject=subject,
                verdict=verdict,
                reason=reason,
                search_text=" ".join((qid, sender, verdict, subject, *reasons, *recipients)).lower(),
                sender=sender,
                copy_id=copy_id,
            )
        )
    rows.sort(key=QueueRow.sort_key)
    return rows


@dataclass(frozen=True)
class IncidentRow:
    """One past decision: a record of the incident log, or (before there is one) a queue entry."""

    key: str
    """Unique in the list: the record's path, or the queue id."""
    id: str
    """The queue id the decision was about."""
    when: float | None
    event: str
    recipients: tuple[str, ...]
    subject: str
    record: str | None = None
    """The record file (an RFC 5322 message) when the row comes from the incident log."""


INCIDENT_LIMIT = 10_000


def incident_log_exists(state_dir: Path) -> bool:
    from sendguard.incidents import log_dir

    return (log_dir(state_dir) / ".notmuch").is_dir()


def incident_rows(queue: q.Queue, state_dir: Path, query: str = "") -> tuple[list[IncidentRow], str]:
    """Past decisions matching ``query``, newest first, and where they came from.

    The incident log (notmuch; ``query`` in notmuch's syntax) once it exists; the queue's own
    records until then (``query`` = words that must all occur).
    """
    if incident_log_exists(state_dir):
        from sendguard.incidents.indexer import index_now
        from sendguard.incidents.store import (
            search,  # notmuch2: only here, only when asked
        )

        index_now(state_dir, wait=2.0)  # the newest records first (runs in a worker thread)
        found = search(state_dir, query.strip() or "*", limit=INCIDENT_LIMIT)
        return [
            IncidentRow(
                key=r.path,
                id=r.id,
                when=_timestamp(r.date),
                event=r.event,
                recipients=tuple(r.recipients),
                subject=r.subject,
                record=r.path,
            )
            for r in found
        ], "incident log"
    rows = [row for row in queue_rows(queue, 0.0, include_all=True) if row.matches(query)]
    return [
        IncidentRow(
            key=row.id, id=row.id, when=row.created, event=row.state, recipients=row.recipients, subject=row.subject
        )
        for row in rows
    ], "queue"


@dataclass(frozen=True)
class RecipientView:
    addr: str
    name: str
    outside: bool
    client: str | None
    allowed: bool


@dataclass(frozen=True)
class AttachmentView:
    filename: str
    declared_type: str
    real_type: str
    description: str
    size: int

    @property
    def mismatch(self) -> bool:
        """The declared type is not what the bytes are (e.g. a PDF labelled text/plain)."""
        generic = self.declared_type == "application/octet-stream"  # says nothing, so it cannot lie
        return bool(self.real_type) and self.real_type != self.declared_type and not generic


@dataclass(frozen=True)
class FindingView:
    rule: str
    severity: str
    message: str
    recipient: str | None
    suggestion: str | None
    evidence: str | None


@dataclass
class MessageView:
    """Everything the message screen shows about one entry."""

    id: str
    state: str
    subject: str
    sender: str
    recipients: list[RecipientView]
    findings: list[FindingView]
    body: str
    attachments: list[AttachmentView]
    suggestions: list[str] = field(default_factory=list)
    events: list[q.Event] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verdict: str = ""

    @property
    def escalated(self) -> bool:
        """Held though no reason holds alone: warnings about one recipient agreed."""
        severities = {f.severity for f in self.findings}
        return self.verdict == "hold" and "warn" in severities and not severities & {"hold", "block"}

    @property
    def reasons(self) -> list[FindingView]:
        """The findings the screen lists: not the info ones, unless one helped hold the message."""
        from sendguard.decide.decision import CORROBORATING_INFO

        escalated = self.escalated  # once, not once per finding: quadratic in the recipients

        def counts(f: FindingView) -> bool:
            return f.severity != "info" or (escalated and f.rule in CORROBORATING_INFO)

        return [f for f in self.findings if counts(f)] or self.findings

    @property
    def evidence(self) -> list[str]:
        return [f.evidence for f in self.findings if f.evidence]


def _real_type(data: bytes) -> tuple[str, str]:
    """libmagic's MIME type and description of ``data`` (content only; names are ignored)."""
    import magic

    return magic.from_buffer(data[:65536], mime=True), magic.from_buffer(data[:65536])


def message_view(queue: q.Queue, entry_id: str, config: Any) -> MessageView:
    """Read one entry and describe it: recipients with outside/client marks, findings, body."""
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext

    entry = queue.get(entry_id)
    meta = entry.meta
    message = OutgoingMessage(entry.raw())
    envelope = [str(a) for a in meta.get("envelope") or []] or [a.addr for a in message.header_recipients]
    context = CheckContext(config=config, envelope=envelope, now=0.0, state_dir=queue.root.parent)
    names = {a.addr: a.name for a in message.header_recipients}
    has_org = bool(config.organization.domains)
    recipients = [
        RecipientView(
            addr=addr,
            name=names.get(addr, ""),
            outside=has_org and not (context.is_internal(addr) or context.is_own(addr)),
            client=context.client_of(addr),
            allowed=context.is_allowed(addr),
        )
        for addr in envelope
    ]
    findings = [
        FindingView(
            rule=str(f.get("rule", "")),
            severity=str(f.get("severity", "")),
            message=str(f.get("message", "")),
            recipient=f.get("recipient"),
            suggestion=f.get("suggestion"),
            evidence=f.get("evidence"),
        )
        for f in meta.get("findings", [])
    ]
    attachments = []
    for part in message.attachments:
        data = part.payload()
        real, description = _real_type(data) if data else ("", "empty")
        attachments.append(
            AttachmentView(
                filename=part.filename or "(no name)",
                declared_type=part.content_type,
                real_type=real,
                description=description,
                size=len(data),
            )
        )
    suggestions = list(dict.fromkeys(_named(f.suggestion, queue.root.parent) for f in findings if f.suggestion))
    notes = [str(line) for line in meta.get("error") or []]
    if meta.get("transport_error"):
        notes.append(f"transport: {meta['transport_error']}")
    if message.problems:
        notes.extend(message.problems)
    from sendguard.act.ops import effective_state

    return MessageView(
        id=entry.id,
        state=effective_state(queue, entry),
        subject=message.subject or str(meta.get("subject", "")),
        sender=str(message.sender or meta.get("from", "")),
        recipients=recipients,
        findings=findings,
        body=message.body_text.replace("\r\n", "\n"),  # aerc writes CRLF lines
        attachments=attachments,
        suggestions=suggestions,
        events=list(meta.get("events", [])),
        notes=notes,
        verdict=str(meta.get("verdict", "")),
    )


def _named(suggestion: str, state_dir: Path) -> str:
    """A suggested address with the person's name, as taking it writes it into the header."""
    import email.utils

    from sendguard.recover.fix import history_names

    name, addr = email.utils.parseaddr(suggestion)
    if name or "@" not in addr:
        return suggestion
    name = history_names(state_dir)(addr.lower())
    return f"{name} <{addr}>" if name else suggestion


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
