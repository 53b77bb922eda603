"""The breach-register record of ``sendguard oops``: the facts of a message that went wrong.

One dict, JSON-ready (``oops --json`` prints it as ``record``), and one text for people. What
sendguard knows is filled in — what left, to whom, when, the attachments by their real type
(libmagic), size and sha256, what the rules found — and what only a person can judge (the
categories and number of people concerned, the likely consequences) is marked TO BE ASSESSED
rather than guessed. The deadline is 72 hours from *noticing* (GDPR art. 33(1)), and the four
facts art. 33(3) asks for are spelled out as (a)-(d).

Language: the same choice as the drafts (the message's language, German, English or French: see
breach_texts.py); the words are there, the logic is here. The JSON keys never change, and the
record names its ``language``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sendguard.act import queue as q
from sendguard.mail.message import OutgoingMessage
from sendguard.recover.breach_texts import RECORD_TEXTS, SEVERITY_WORDS, finding_sentence, type_words

DEADLINE_HOURS = 72


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


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
    entry: q.Entry,
    config: Any,
    *,
    now: float,
    unintended: list[str],
    intended: list[str],
    language: str = "en",
    noticed: float | None = None,
    intended_guess: bool = False,
) -> dict[str, Any]:
    """The record; ``noticed`` is when the mistake was first noticed (default: ``now``), and the
    deadline runs from it, however often the record is built again."""
    noticed = now if noticed is None else noticed
    words = RECORD_TEXTS.get(language, RECORD_TEXTS["en"])
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
            words["attachment"].format(
                name=a["filename"] or words["unnamed"],
                type=type_words(a["real_type"], a["declared_type"], language),
                size=a["size"],
            )
            for a in attachments
        )
        or words["none"]
    )
    to_assess = words["to_assess"]
    nature = words["nature"].format(
        subject=meta.get("subject", ""),
        sent=sent,
        count=len(unintended),
        unintended=", ".join(unintended),
        attachments=names,
    )
    nature += (
        words["found"].format(found="; ".join(finding_sentence(s, language) for s in sensitive))
        if sensitive
        else words["nothing_found"]
    )
    nature += words["subjects"].format(to_assess=to_assess)
    return {
        "id": entry.id,
        "language": language if language in RECORD_TEXTS else "en",
        "organization": config.organization.name or None,
        "subject": meta.get("subject", ""),
        "from": meta.get("from") or meta.get("sender") or "",
        "message_id": message.header("Message-ID") or None,
        "sent": sent,
        "noticed": _iso(noticed),
        "deadline": _iso(noticed + DEADLINE_HOURS * 3600),
        "recipients": list(meta.get("envelope") or meta.get("recipients") or []),
        "unintended_recipients": unintended,
        "intended_recipients": intended,
        "intended_guess": bool(intended and intended_guess),
        "attachments": attachments,
        "sensitive_findings": sensitive,
        "message_size": len(raw),
        "message_sha256": hashlib.sha256(raw).hexdigest(),
        "art_33_3": {
            "a_nature": nature,
            "b_contact": config.oops.privacy_contact or words["contact_missing"],
            "c_consequences": words["consequences"].format(to_assess=to_assess),
            "d_measures": words["measures"].format(to_assess=to_assess),
        },
        "regulation": words["regulation"],
        "note": words["cannot_recall"],
    }


def drafted_measures(record: dict[str, Any], drafted: list[tuple[str, str]]) -> str:
    """Art. 33(3)(d) as it stands: the drafts ``oops`` actually wrote, as (kind, address) with
    kind unintended, forward, also or manager — never one it did not write."""
    words = RECORD_TEXTS.get(record.get("language", "en"), RECORD_TEXTS["en"])
    parts = [str(words["drafted"][kind]).format(who=who) for kind, who in drafted]
    return str(
        words["drafted"]["intro"]
        + ("; ".join(parts) or words["drafted"]["none"])
        + words["drafted"]["end"].format(to_assess=words["to_assess"])
    )


def record_text(record: dict[str, Any]) -> str:
    """The record for a person (stdout and the incident log), in the record's language."""
    language = record.get("language", "en")
    words = RECORD_TEXTS.get(language, RECORD_TEXTS["en"])
    severity = SEVERITY_WORDS.get(language, SEVERITY_WORDS["en"])
    label = words["labels"]
    width = max(len(text) for text in label.values()) + 2

    def line(key: str, value: str) -> str:
        return f"  {label[key] + ':':<{width}}{value}"

    lines = [
        words["title"].format(id=record["id"]),
        line("subject", record["subject"]),
        line("from", record["from"]),
        line("sent", str(record["sent"])),
        line("noticed", record["noticed"]),
        line("deadline", f"{record['deadline']}  {words['deadline_note']}"),
        line("recipients", ", ".join(record["recipients"])),
        line("unintended", ", ".join(record["unintended_recipients"])),
        line(
            "intended",
            ", ".join(record["intended_recipients"]) + (f"  {words['guess']}" if record.get("intended_guess") else "")
            if record["intended_recipients"]
            else words["not_known"],
        ),
        line("message", f"{record['message_size']} {words['bytes']}, sha256 {record['message_sha256']}"),
    ]
    for a in record["attachments"]:
        lines.append(
            line(
                "attachment",
                f"{a['filename'] or words['unnamed']}: {type_words(a['real_type'], a['declared_type'], language)}, "
                f"{a['size']} {words['bytes']}, sha256 {a['sha256']}",
            )
        )
    for s in record["sensitive_findings"]:
        lines.append(line("found", f"[{severity.get(s['severity'], s['severity'])}] {finding_sentence(s, language)}"))
    facts = record["art_33_3"]
    lines += [
        "",
        f"  {words['facts']}",
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
