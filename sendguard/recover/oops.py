"""``sendguard oops``: a message already reached the wrong person. Act fast and properly.

sendguard cannot recall mail — once a server accepted a message it is out of anyone's hands,
and the wording everywhere here says so. What it can do is what a careful person would do in
the first hour, from the facts it kept:

- a record for the organization's breach register (GDPR art. 33(5) asks to document every
  breach): what left — subject, recipients outside the intended circle, attachments with
  their real types (libmagic, not the names), sizes and sha256, the sensitive data the rules
  found — when it left, when it was noticed, and the deadline: 72 hours from noticing
  (art. 33(1)), with the facts art. 33(3) asks for filled in where known and marked where a
  person must assess them;
- a draft to the unintended recipient asking to delete it unread and to confirm, in the
  message's own language (German or English) — the record above is written in that language too;
- a draft to the intended recipient and/or the manager (``[oops] manager``) saying what
  happened.

Nothing is sent: the drafts go into ``[drafts] maildir``. The report goes into the incident log
(event ``oops``) and into the queue entry's meta, so ``sendguard log tag:oops`` lists them.
A message the queue has pruned (``[queue] keep_days``) is read back from its ``delivered``
record in the incident log (incidents/restore.py).

Who was unintended: the addresses given (``--wrong``), else the recipients the rules flagged,
else everyone outside the organization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sendguard.act import events
from sendguard.act import queue as q
from sendguard.errors import QueueError
from sendguard.mail.message import OutgoingMessage, domain_of, normalize_address
from sendguard.recover.breach_record import build_record, record_text
from sendguard.recover.oops_texts import TEXTS, language_of
from sendguard.rules.context import domain_matches

LEFT_STATES = frozenset({q.DELIVERED, q.INTERRUPTED, q.SENDING})  # left, or may have left


@dataclass
class OopsReport:
    entry: q.Entry
    record: dict[str, Any]
    drafts: list[Path] = field(default_factory=list)
    language: str = "en"


def find_sent(queue: q.Queue, ref: str | None) -> q.Entry:
    """The entry for ``ID``, or the latest one that left (``last`` / None)."""
    if ref in (None, "", "last"):
        for entry in reversed(queue.entries()):
            if entry.state in LEFT_STATES:
                return entry
        restored = _restored(queue, None)
        if restored is not None:
            return restored
        raise QueueError(
            "sendguard has no record of a message that left", hints=["`sendguard queue list --all` shows what it kept"]
        )
    try:
        entry = queue.get(ref)  # type: ignore[arg-type]
    except QueueError:
        restored = _restored(queue, ref)
        if restored is None:
            raise
        return restored
    if entry.state not in LEFT_STATES:
        hint = (
            f"it can still be taken back: sendguard undo {entry.id}"
            if entry.state in (q.DELAYED, q.DEFERRED)
            else "nothing left, so nothing reached anyone"
        )
        raise QueueError(f"message {entry.id} is {entry.state}: it did not leave", hints=[hint])
    return entry


def _restored(queue: q.Queue, ref: str | None) -> q.Entry | None:
    """The queue pruned it: the incident log still has what was delivered."""
    from sendguard.incidents.restore import restore_from_log

    return restore_from_log(queue.root.parent, ref)


def classify_recipients(
    meta: dict[str, Any], config: Any, wrong: list[str], intended: list[str]
) -> tuple[list[str], list[str]]:
    """(unintended, intended) recipients: given ones, else the rules' findings, else outsiders."""
    envelope = list(meta.get("envelope") or meta.get("recipients") or [])
    findings = [f for f in meta.get("findings", []) if f.get("severity") != "info"]
    if wrong:
        unintended = [normalize_address(a) for a in wrong]
    else:
        flagged = [f["recipient"] for f in findings if f.get("recipient") in envelope]
        org = config.organization.domains
        outside = [a for a in envelope if not (org and domain_matches(domain_of(a), org))]
        unintended = list(dict.fromkeys(flagged)) or outside or envelope
    meant = [normalize_address(a) for a in intended] or list(
        dict.fromkeys(f["suggestion"] for f in findings if f.get("suggestion"))
    )
    return unintended, [a for a in meant if a not in unintended]


def facts_text(record: dict[str, Any], labels: dict[str, str]) -> str:
    """The facts for the manager's draft, labelled in the draft's language (the same language as
    the register record: breach_texts.py)."""
    lines = [
        f"  {labels['subject']}: {record['subject']}",
        f"  {labels['sent']}: {record['sent']}",
        f"  {labels['unintended']}: {', '.join(record['unintended_recipients'])}",
    ]
    for a in record["attachments"]:
        lines.append(
            f"  {labels['attachment']}: {a['filename'] or '-'} ({a['real_type'] or a['declared_type']}, "
            f"{a['size']} {labels['bytes']}, sha256 {a['sha256']})"
        )
    for f in record["sensitive_findings"]:
        lines.append(f"  {labels['found']}: {f['rule']}: {f['message']}")
    lines.append(f"  {labels['record'].format(id=record['id'])}")
    return "\n".join(lines)


def _draft(sender: str, to: list[str], subject: str, body: str, reply_to_id: str | None) -> bytes:
    msg = EmailMessage()
    if sender:
        msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    if reply_to_id:
        msg["In-Reply-To"] = reply_to_id
        msg["References"] = reply_to_id
    # 8bit, not quoted-printable: mutt -H shows a draft's body as it is in the file.
    msg.set_content(body, cte="8bit")
    return bytes(msg)


def write_drafts(record: dict[str, Any], config: Any, language: str, drafts_dir: Path, *, now: float) -> list[Path]:
    from sendguard.act.drafts import write_draft

    text = TEXTS[language]
    name = config.identity.name or ""
    sender = (
        f"{name} <{config.identity.addresses[0]}>"
        if config.identity.addresses and name
        else (config.identity.addresses[0] if config.identity.addresses else record["from"])
    )
    sent = record["sent"][:16].replace("T", " ") if record["sent"] else "?"
    values = {
        "subject": record["subject"],
        "sent": sent,
        "name": name,
        "wrong": ", ".join(record["unintended_recipients"]),
        "noticed": record["noticed"][:16].replace("T", " ") + " UTC",
        "deadline": record["deadline"][:16].replace("T", " ") + " UTC",
        "attachments": text["with_attachments"] if record["attachments"] else "",
        "intended": text["intended_clause"].format(intended=", ".join(record["intended_recipients"]))
        if record["intended_recipients"]
        else "",
        "facts": facts_text(record, text["facts"]),
    }
    paths = [
        write_draft(
            drafts_dir,
            _draft(
                sender,
                record["unintended_recipients"],
                text["unintended_subject"].format(**values),
                text["unintended_body"].format(**values),
                record["message_id"],
            ),
            f"oops-unintended-{record['id']}",
            now=now,
        )
    ]
    if record["intended_recipients"]:
        paths.append(
            write_draft(
                drafts_dir,
                _draft(
                    sender,
                    record["intended_recipients"],
                    text["intended_subject"].format(**values),
                    text["intended_body"].format(**values),
                    None,
                ),
                f"oops-intended-{record['id']}",
                now=now,
            )
        )
    if config.oops.manager or not record["intended_recipients"]:
        manager = [config.oops.manager] if config.oops.manager else []
        paths.append(
            write_draft(
                drafts_dir,
                _draft(
                    sender,
                    manager,
                    text["manager_subject"].format(**values),
                    text["manager_body"].format(**values),
                    None,
                ),
                f"oops-manager-{record['id']}",
                now=now,
            )
        )
    return paths


def oops(
    queue: q.Queue,
    ref: str | None,
    config: Any,
    *,
    now: float,
    drafts_dir: Path,
    wrong: list[str] | None = None,
    intended: list[str] | None = None,
) -> OopsReport:
    """Build the record and the drafts for a message that left; log it. Sends nothing."""
    found = find_sent(queue, ref)
    state_dir = queue.root.parent
    if found.path.parent != queue.root:  # restored from the incident log: lock it where it is
        queue = q.Queue(found.path.parent)
    with queue.locked(found.id) as entry:
        unintended, meant = classify_recipients(entry.meta, config, wrong or [], intended or [])
        message = OutgoingMessage(entry.raw())
        language = language_of(f"{message.subject}\n{message.body_text}", message.header("Content-Language"))
        record = build_record(entry, config, now=now, unintended=unintended, intended=meant, language=language)
        drafts = write_drafts(record, config, language, drafts_dir, now=now)
        entry.save(
            oops={
                "noticed": record["noticed"],
                "deadline": record["deadline"],
                "unintended": unintended,
                "drafts": [str(p) for p in drafts],
                "text": record_text(record),
            },
            event="reported as sent to the wrong person (sendguard oops)",
        )
        events.emit(entry, "oops", config)
    forget_mistake(state_dir, entry.raw(), config)
    return OopsReport(entry, record, drafts, language)


def forget_mistake(state_dir: Path, raw: bytes, config: Any) -> None:
    """The history takes the message back and never learns it again (history/forget.py): a
    mistake must not teach sendguard that the wrong person is someone the user writes such mail to."""
    from sendguard.history.forget import forget_raw
    from sendguard.history.store import open_for_write

    db = open_for_write(state_dir)
    try:
        forget_raw(db, raw, config.identity.addresses, config.organization.domains)
    finally:
        db.close()
