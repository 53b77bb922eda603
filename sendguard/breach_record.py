"""The breach-register record of ``sendguard oops``: the facts of a message that went wrong.

One dict, JSON-ready (``oops --json`` prints it as ``record``), and one text for people. What
sendguard knows is filled in — what left, to whom, when, the attachments by their real type
(libmagic), size and sha256, what the rules found — and what only a person can judge (the
categories and number of people concerned, the likely consequences) is marked TO BE ASSESSED
rather than guessed. The deadline is 72 hours from *noticing* (GDPR art. 33(1)), and the four
facts art. 33(3) asks for are spelled out as (a)-(d). It stays in one language (English): it
is the organization's document, not the message's.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from sendguard import queue as q
from sendguard.message import OutgoingMessage

DEADLINE_HOURS = 72
TO_ASSESS = "TO BE ASSESSED by a person"
CANNOT_RECALL = (
    "sendguard cannot recall mail: once a server accepted the message, it is out of "
    "anyone's hands. These drafts help you act fast and properly; nothing has been sent."
)
REGULATION = (
    "GDPR art. 33(1): a personal data breach is notified to the supervisory authority without "
    "undue delay and, where feasible, within 72 hours of becoming aware of it, unless it is "
    "unlikely to result in a risk to the rights and freedoms of natural persons. Art. 33(5): "
    "every breach is documented, notified or not. Art. 34: the data subjects are told when the "
    "risk is high."
)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


def attachment_facts(message: OutgoingMessage) -> list[dict[str, Any]]:
    """Each attachment: name, declared and real type (libmagic), size, sha256."""
    magic: Any
    try:
        import magic
    except ImportError:  # libmagic missing: the declared type is all there is, and it says so
        magic = None
    out = []
    for part in message.attachments:
        data = part.payload()
        real = None
        if magic is not None:
            try:
                real = f"{magic.from_buffer(data, mime=True)} ({magic.from_buffer(data)})"
            except magic.MagicException:
                real = None
        out.append(
            {
                "filename": part.filename,
                "declared_type": part.content_type,
                "real_type": real,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    return out


def build_record(
    entry: q.Entry, config: Any, *, now: float, unintended: list[str], intended: list[str]
) -> dict[str, Any]:
    meta = entry.meta
    raw = entry.raw()
    message = OutgoingMessage(raw)
    attachments = attachment_facts(message)
    sensitive = [
        {k: f.get(k) for k in ("rule", "severity", "message", "recipient", "evidence")}
        for f in meta.get("findings", [])
        if f.get("severity") != "info"
    ]
    sent = meta.get("delivered") or meta.get("updated") or meta.get("created")
    names = (
        ", ".join(
            f"{a['filename'] or 'unnamed'} ({a['real_type'] or a['declared_type']}, {a['size']} bytes)"
            for a in attachments
        )
        or "none"
    )
    nature = (
        f'Loss of confidentiality: the e-mail "{meta.get("subject", "")}" sent {sent} reached '
        f"{len(unintended)} recipient(s) outside the intended circle ({', '.join(unintended)}). "
        f"Attachments: {names}. "
    )
    nature += (
        "Found in it: " + "; ".join(f"{s['rule']}: {str(s['message']).rstrip('.')}" for s in sensitive) + ". "
        if sensitive
        else "sendguard's rules found no sensitive data in it (that does not prove there is none). "
    )
    nature += f"Categories and approximate number of data subjects and of records: {TO_ASSESS}."
    return {
        "id": entry.id,
        "organization": config.organization.name or None,
        "subject": meta.get("subject", ""),
        "from": meta.get("from") or meta.get("sender") or "",
        "message_id": message.header("Message-ID") or None,
        "sent": sent,
        "noticed": _iso(now),
        "deadline": _iso(now + DEADLINE_HOURS * 3600),
        "recipients": list(meta.get("envelope") or meta.get("recipients") or []),
        "unintended_recipients": unintended,
        "intended_recipients": intended,
        "attachments": attachments,
        "sensitive_findings": sensitive,
        "message_size": len(raw),
        "message_sha256": hashlib.sha256(raw).hexdigest(),
        "art_33_3": {
            "a_nature": nature,
            "b_contact": config.oops.privacy_contact or "TO FILL IN: the data protection officer or contact point",
            "c_consequences": (
                f"The unintended recipient(s) can read the message and its attachments and pass "
                f"them on. Likely consequences for the people concerned: {TO_ASSESS}."
            ),
            "d_measures": (
                "Deletion unread and a confirmation requested from the unintended recipient(s) "
                "(draft written by sendguard oops); the intended recipient / manager informed (draft). "
                "A sent e-mail cannot be recalled. Further measures: " + TO_ASSESS + "."
            ),
        },
        "regulation": REGULATION,
        "note": CANNOT_RECALL,
    }


def record_text(record: dict[str, Any]) -> str:
    """The record for a person (stdout and the incident log)."""
    lines = [
        f"Misdirected e-mail — record for the breach register ({record['id']})",
        f"  Subject:     {record['subject']}",
        f"  From:        {record['from']}",
        f"  Sent:        {record['sent']}",
        f"  Noticed:     {record['noticed']}",
        f"  Deadline:    {record['deadline']}  (72 h from noticing, GDPR art. 33(1))",
        f"  Recipients:  {', '.join(record['recipients'])}",
        f"  Unintended:  {', '.join(record['unintended_recipients'])}",
        f"  Intended:    {', '.join(record['intended_recipients']) or '(not known)'}",
        f"  Message:     {record['message_size']} bytes, sha256 {record['message_sha256']}",
    ]
    for a in record["attachments"]:
        lines.append(
            f"  Attachment:  {a['filename'] or 'unnamed'}: {a['real_type'] or a['declared_type']}, "
            f"{a['size']} bytes, sha256 {a['sha256']}"
        )
    for s in record["sensitive_findings"]:
        lines.append(f"  Found:       [{s['severity']}] {s['rule']}: {s['message']}")
    facts = record["art_33_3"]
    lines += [
        "",
        "  Art. 33(3) facts:",
        f"   (a) {facts['a_nature']}",
        f"   (b) {facts['b_contact']}",
        f"   (c) {facts['c_consequences']}",
        f"   (d) {facts['d_measures']}",
        "",
        f"  {record['regulation']}",
        "",
        f"  {record['note']}",
    ]
    return "\n".join(lines) + "\n"
