"""A held message sent again, fixed, supersedes the copy still held.

The person reads why a message was held, fixes it in the mail program (another recipient, as a
rule) and sends it again. The held copy must then stop waiting for them: left ``held`` it says
"needs you" for a mistake already dealt with, and a release by habit would send the wrong
version after all. A new message from the send path supersedes a held or blocked one that is
the same message — the same Message-ID — or the same content (text and attachments) sent to
other recipients within ``[sendmail] confirm_window``. The old copy becomes ``superseded``: kept,
listed, releasable, and needing nobody. The identical message sent again is not a fix but a
confirmation (path.py), and never gets here as a held entry.

An observer (events.OBSERVERS): it runs once the new message's fate is on disk, off the mail
program's clock, and only for mail new from the send path (not for a release, whose delivery
is of the held copy itself).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sendguard.act import events
from sendguard.act import queue as q
from sendguard.errors import QueueError

NEW_MAIL_EVENTS = frozenset({"delivered", "held", "blocked", "delayed"})
WAITING = (q.HELD, q.BLOCKED)


def observe(entry: Any, event: str, config: Any) -> None:
    meta = entry.meta
    if event not in NEW_MAIL_EVENTS or not meta.get("checker"):
        return  # not a message new from the send path
    if any(str(e.get("event", "")).startswith("released") for e in meta.get("events", [])):
        return  # the delivery of a released copy: it supersedes nothing
    supersede(q.Queue(entry.path.parent), entry, config)


def _created(meta: q.Meta) -> float:
    try:
        return datetime.fromisoformat(str(meta.get("created"))).timestamp()
    except ValueError:
        return 0.0


def content_key(raw: bytes) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What the message says: its text (whitespace folded) and its attachments (name, digest).
    MIME boundaries and headers, which a mail program makes anew on every send, do not count."""
    import hashlib

    from sendguard.mail.message import OutgoingMessage

    message = OutgoingMessage(raw)
    attachments = tuple(
        sorted((part.filename or "", hashlib.sha256(part.payload()).hexdigest()) for part in message.attachments)
    )
    return " ".join(message.body_text.split()), attachments


def _message_id(raw: bytes) -> str:
    """The Message-ID, from the header alone (no MIME parse of the body)."""
    import email.parser
    import re

    match = re.search(rb"\r?\n\r?\n", raw)
    head = raw[: match.start()] if match else raw
    value = email.parser.BytesHeaderParser().parsebytes(head + b"\n\n").get("Message-ID", "")
    return " ".join(str(value).split())


def waiting_entries(queue: q.Queue, before: str) -> list[q.Entry]:
    """Held and blocked entries older than ``before`` (an id). Every entry's meta is looked at
    as text first: a full parse of each (weeks of delivered mail) would cost ~40 µs apiece."""
    import json
    import os

    out = []
    try:
        names = sorted(d.name for d in os.scandir(queue.root) if d.is_dir() and not d.name.startswith("."))
    except FileNotFoundError:
        return []
    needles = [json.dumps({"state": str(state)})[1:-1].encode() for state in WAITING]  # as Entry.save writes it
    base = os.fspath(queue.root)
    for name in names:
        if name >= before:
            break
        try:
            with open(os.path.join(base, name, "meta.json"), "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        if not any(needle in data for needle in needles):
            continue
        try:
            meta = json.loads(data)
        except ValueError:
            continue
        if isinstance(meta, dict) and meta.get("state") in WAITING:  # not a damaged one
            out.append(q.Entry(queue.root / name, cast(q.Meta, meta)))
    return out


def supersede(queue: q.Queue, new: q.Entry, config: Any) -> list[str]:
    """Mark the held copies ``new`` replaces as superseded; returns their ids."""
    older = waiting_entries(queue, new.id)
    if not older:
        return []
    raw = new.raw()
    message_id = _message_id(raw)
    envelope = sorted(new.meta.get("envelope", []))
    created = _created(new.meta)
    window = config.sendmail.confirm_window
    content: tuple[str, tuple[tuple[str, str], ...]] | None = None
    done = []
    for old in older:
        old_raw = old.raw()
        same_envelope = sorted(old.meta.get("envelope", [])) == envelope
        same_id = bool(message_id) and _message_id(old_raw) == message_id
        if same_id:
            if same_envelope:
                content = content or content_key(raw)
                if content_key(old_raw) == content:
                    continue  # the same message again, not a fix: confirming it is path.py's business
        else:
            if created - _created(old.meta) > window or same_envelope:
                continue
            content = content or content_key(raw)
            if content_key(old_raw) != content:
                continue
        try:
            with queue.locked(old.id) as fresh:
                if fresh.state not in WAITING:
                    continue
                fresh.save(
                    state=q.SUPERSEDED,
                    superseded_by=new.id,
                    superseded_same_id=same_id,
                    event=f"superseded: sent again as {new.id}",
                )
        except QueueError:  # being released or fixed right now: the person is on it
            continue
        # the history never learns it (its copy in Sent, if the mail program filed one); the log records it
        events.emit(
            fresh, "superseded", config, observers=("sendguard.history.observer", "sendguard.incidents.observer")
        )
        done.append(old.id)
    return done
