"""``sendguard oops``: a message already reached the wrong person. Act fast and properly.

sendguard cannot recall mail, and the wording everywhere here says so. It does what a careful
person would do in the first hour, from the facts it kept: a record for the breach register
(GDPR art. 33: what left, when, noticed when, the 72-hour deadline) and drafts, in the user's
own voice, to the wrong recipients, the intended one and the manager. Nothing is sent: the
drafts go into ``[drafts] maildir``. How: ARCHITECTURE.md, "After a mistake".
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import email.utils
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

from sendguard.act import events
from sendguard.act import queue as q
from sendguard.act.drafts import rewrite_draft, write_draft
from sendguard.act.restored import restored_root
from sendguard.errors import QueueError, UsageError
from sendguard.history import open_for_check
from sendguard.history.forget import forget_raw
from sendguard.history.ledger import voice_with
from sendguard.history.store import HistoryDamaged, open_for_write
from sendguard.history.twins import confusables
from sendguard.mail.greetings import SALUTATIONS_BY_LANGUAGE
from sendguard.mail.message import OutgoingMessage, domain_matches, domain_of, normalize_address
from sendguard.mail.voice import (
    CLOSINGS_BY_LANGUAGE,
    FAMILIAR,
    TITLED,
    fits_language,
    language_of,
)
from sendguard.recover.breach_record import build_record, drafted_measures, record_text
from sendguard.recover.breach_texts import finding_sentence, type_words
from sendguard.recover.oops_texts import TEXTS, text_for

LEFT_STATES = frozenset({q.DELIVERED, q.INTERRUPTED, q.SENDING})  # left, or may have left


@dataclass
class OopsReport:
    entry: q.Entry
    record: dict[str, Any]
    drafts: list[Path] = field(default_factory=list)
    language: str = "en"
    notes: list[str] = field(default_factory=list)
    """One line each, for the user: what was not written and why, what to confirm."""
    history_skipped: HistoryDamaged | None = None
    """Why the history was neither changed nor read (it is damaged): the message is not taken
    out of it. The record and drafts do not need it."""


def find_sent(queue: q.Queue, ref: str | None, skipped: list[q.Entry] | None = None) -> q.Entry:
    """The entry for ``ID``, or the latest one that left (``last`` / None) that is not one of
    oops's own drafts, sent: after sending the apology, ``oops`` again is about the mistake,
    not the apology (which would be taken for a new mistake, its recipient for the wrong
    person, and the original forwarded to whoever got it by mistake). The drafts passed over
    are appended to ``skipped``."""
    if ref in (None, "", "last"):
        entries = queue.entries()
        drafts = _draft_keys(entries)
        for entry in reversed(entries):
            if entry.state in LEFT_STATES:
                if _draft_key(entry.meta.get("envelope") or [], str(entry.meta.get("subject", ""))) in drafts:
                    if skipped is not None:
                        skipped.append(entry)
                    continue
                return entry
        restored = _restored(queue, None)
        if restored is not None:
            return restored
        raise QueueError(
            "sendguard has no record of a message that left", hints=["`sendguard queue list --all` shows what it kept"]
        )
    try:
        entry = queue.get(ref)
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


def _draft_key(recipients: list[str], subject: str) -> tuple[str, str] | None:
    """What a sent draft of oops is known by: its one recipient and its subject."""
    from sendguard.history.forget import oops_draft_key

    if len(recipients) != 1:
        return None
    return oops_draft_key(recipients[0], subject)


def _draft_keys(entries: list[q.Entry]) -> set[tuple[str, str] | None]:
    """The drafts oops wrote for every message it was run on."""
    keys: set[tuple[str, str] | None] = set()
    for entry in entries:
        report = entry.meta.get("oops")
        if isinstance(report, dict):
            keys.update(_draft_key([str(to)], str(subject)) for to, subject in report.get("draft_keys") or [])
    keys.discard(None)
    return keys


def _written_keys(paths: list[Path]) -> list[list[str]]:
    """[recipient, subject] of each draft written, from its header."""
    from sendguard.mail.message import named_mailboxes

    keys = []
    for path in paths:
        head = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(path.read_bytes())
        boxes = named_mailboxes(str(v) for v in head.get_all("To", []))
        if len(boxes) == 1:
            keys.append([boxes[0][1], str(head["Subject"] or "")])
    return keys


def _unique(keys: list[list[str]]) -> list[list[str]]:
    seen: list[list[str]] = []
    for key in keys:
        if list(key) not in seen:
            seen.append(list(key))
    return seen


def _restored(queue: q.Queue, ref: str | None) -> q.Entry | None:
    """The queue pruned it: the incident log still has what was delivered."""
    from sendguard.incidents.restore import restore_from_log

    return restore_from_log(queue.root.parent, ref)


def classify_recipients(
    meta: dict[str, Any], config: Any, wrong: list[str], intended: list[str], state_dir: Path | None = None
) -> tuple[list[str], list[str], bool]:
    """(unintended, intended, whether the intended ones are presumed).

    Unintended: the given ones, else those the rules flagged, else the outsiders; of a message
    fixed in review before it left, only among those the fix brought in (the others the person
    chose twice, as written and as fixed). Intended: the given ones, else the rules'
    suggestions, else (with a history) the contact most confusable with each unintended
    recipient."""
    envelope = list(meta.get("envelope") or meta.get("recipients") or [])
    findings = [f for f in meta.get("findings", []) if f.get("severity") != "info"]
    if wrong:
        unintended = [normalize_address(a) for a in wrong]
    else:
        written = set(meta.get("original_envelope") or [])
        suspects = [a for a in envelope if a not in written] or envelope
        flagged = [f["recipient"] for f in findings if f.get("recipient") in suspects]
        org = config.organization.domains
        outside = [a for a in suspects if not (org and domain_matches(domain_of(a), org))]
        unintended = list(dict.fromkeys(flagged)) or outside or suspects
    if intended:
        meant = [normalize_address(a) for a in intended]
        return unintended, [a for a in meant if a not in unintended], False
    meant = list(dict.fromkeys(f["suggestion"] for f in findings if f.get("suggestion")))
    if not meant and state_dir is not None:
        meant = best_twins(state_dir, unintended, config)
    return unintended, [a for a in meant if a not in unintended], True


def best_twins(state_dir: Path, unintended: list[str], config: Any) -> list[str]:
    """For each unintended recipient, the contact the user writes to most who could have been
    picked instead (history/twins.py): autocomplete's usual victim."""

    store = open_for_check(state_dir)
    if store is None:
        return []
    own = {a.lower() for a in config.identity.addresses}
    out = []
    for addr in unintended:
        for contact, _why in confusables(store, addr, exclude=[*unintended, *own]):
            if contact.sent > 0:
                out.append(contact.addr)
                break
    return list(dict.fromkeys(out))


def facts_text(record: dict[str, Any], labels: dict[str, str], when: str, noticed: str) -> str:
    """The facts for the manager's draft, labelled in the draft's language (the register
    record's language: breach_texts.py)."""
    language = record.get("language", "en")
    intended = ", ".join(record["intended_recipients"])
    lines = [
        f"  {labels['subject']}: {record['subject']}",
        f"  {labels['sent']}: {when}",
        f"  {labels['recipients']}: {', '.join(record['recipients'])}",
        f"  {labels['unintended']}: {', '.join(record['unintended_recipients'])}",
    ]
    if intended:
        lines.append(
            f"  {labels['intended']}: {intended}" + (f" {labels['guess']}" if record.get("intended_guess") else "")
        )
    for a in record["attachments"]:
        lines.append(
            f"  {labels['attachment']}: {a['filename'] or '-'} ({type_words(a['real_type'], a['declared_type'], language)}, "
            f"{a['size']} {labels['bytes']}, sha256 {a['sha256']})"
        )
    for f in record["sensitive_findings"]:
        lines.append(f"  {labels['found']}: {finding_sentence(f, language)}")
    lines.append(f"  {labels['noticed']}: {noticed}")
    lines.append(f"  {labels['record'].format(id=record['id'])}")
    return "\n".join(lines)


def local_time(iso: str | None, fmt: str, zone: bool = False) -> str:
    """An ISO 8601 time as a person reads it: local time, in the draft language's format."""
    if not iso:
        return "?"
    try:
        moment = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone()
    return local.strftime(fmt) + (f" ({local.strftime('%Z')})" if zone else "")


@dataclass
class Person:
    """Someone a draft goes to, and how the user writes to them."""

    addr: str
    display: str
    greeting: str
    closing: str
    form: str
    """'formal' or 'familiar' (du/Sie); English drafts have one form."""

    @property
    def prose(self) -> str:
        return f"{self.display} ({self.addr})" if self.display else self.addr


def person(state_dir: Path | None, addr: str, display: str, language: str) -> Person:
    """``addr`` with the greeting, form and closing the user uses with them (the ledger), or the
    language's polite defaults where the history has none in this language (or is not read:
    ``state_dir`` None)."""

    words = TEXTS[language]
    voice = (
        voice_with(state_dir, addr, language) if state_dir is not None else {"greeting": "", "closing": "", "form": ""}
    )
    greeting = voice["greeting"] if fits_language(voice["greeting"], language, SALUTATIONS_BY_LANGUAGE) else ""
    closing = voice["closing"] if fits_language(voice["closing"], language, CLOSINGS_BY_LANGUAGE) else ""
    if voice["form"] in ("du", "sie", "tu", "vous"):
        form = "familiar" if voice["form"] in ("du", "tu") else "formal"
    elif greeting and not TITLED.search(greeting) and fits_language(greeting, language, FAMILIAR):
        form = "familiar"  # "Hallo Markus", "Salut Claire": first names go with du and tu
    else:
        form = "formal"
    if "," in display:  # "Kern, Thomas"
        last, _, given = display.partition(",")
        display = f"{given.strip()} {last.strip()}".strip()
    first = display.split()[0] if display.split() else ""
    if not greeting:
        key = "greeting_formal_unnamed" if not first else f"greeting_{form}"
        greeting = words[key].format(first=first, full=display)
    if greeting[-1:].isalnum():
        greeting += ","
    closing = closing or words[f"closing_{form}"]
    return Person(addr, display, greeting, closing, form)


def _draft(
    sender: str,
    who: Person | None,
    to: str,
    subject: str,
    body: str,
    reply_to_id: str | None,
    attach: bytes | None = None,
    *,
    date: float,
) -> bytes:
    # Folded at 200: the default 78 splits a subject with one non-ASCII dash into encoded-word
    # fragments (even an empty one) that some programs show as they are.
    msg = EmailMessage(policy=email.policy.default.clone(max_line_length=200))
    if sender:
        msg["From"] = sender
    msg["To"] = email.utils.formataddr((who.display, who.addr)) if who else to
    msg["Subject"] = subject
    # When it was written: without a Date, aerc lists a draft with "???????" for its date.
    msg["Date"] = email.utils.formatdate(date, localtime=True)
    if reply_to_id:
        msg["In-Reply-To"] = reply_to_id
        msg["References"] = reply_to_id
    # 8bit, not quoted-printable: mutt -H shows a draft's body as it is in the file.
    msg.set_content(body, cte="8bit")
    if attach is not None:
        original = email.message_from_bytes(attach, policy=email.policy.default)
        del original["Bcc"]  # whom the user sent a blind copy to is not the intended reader's business
        msg.add_attachment(original)
        # named after the original's subject: aerc lists a nameless one as "message_rfc822_<digits>"
        name = "".join(c if c.isprintable() and c not in '/\\"' else "_" for c in str(original["Subject"] or ""))
        *_, part = msg.iter_attachments()
        filename = f"{name.strip()[:60] or 'message'}.eml"
        part.set_param("filename", filename, header="Content-Disposition")
        part.set_param("name", filename)  # aerc names an attachment by its Content-Type's name
    return bytes(msg)


def _displays(raw: bytes) -> dict[str, str]:
    """Address -> display name, from the original's To/Cc."""
    from sendguard.mail.message import named_mailboxes

    msg = email.message_from_bytes(raw)
    boxes = named_mailboxes(v for name in ("To", "Cc") for v in msg.get_all(name, []))
    # a name that is an address ("boss@x" <anna@y>) is nobody's name to greet by
    return {normalize_address(a): "" if "@" in n else n.strip() for n, a in boxes if a}


def _sender(config: Any, raw: bytes) -> tuple[str, str]:
    """(From header for the drafts, the name that signs them)."""
    from sendguard.mail.message import named_mailboxes

    msg = email.message_from_bytes(raw)
    shown, addr = (named_mailboxes(msg.get_all("From", [])) or [("", "")])[0]
    own = [a.lower() for a in config.identity.addresses]
    address = addr.lower() if addr.lower() in own else (own[0] if own else addr)
    name = config.identity.name or shown.strip()
    return (email.utils.formataddr((name, address)) if name else address), name


def write_drafts(
    record: dict[str, Any],
    config: Any,
    language: str,
    drafts_dir: Path,
    *,
    now: float,
    raw: bytes,
    state_dir: Path | None,
    previous: dict[str, str] | None = None,
) -> tuple[dict[str, Path], list[str]]:
    """The drafts, by role; rewritten in place where ``previous`` names their files. Returns the
    drafts written and the notes for the user; the record's measures (art. 33(3)(d)) name
    exactly the drafts written."""

    previous = previous or {}
    text = TEXTS[language]
    sender, name = _sender(config, raw)
    displays = _displays(raw)
    recipients = set(record["recipients"])
    wrong_people = [person(state_dir, a, displays.get(a, ""), language) for a in record["unintended_recipients"]]
    values = {
        "subject": record["subject"],
        "sent": local_time(record["sent"], text["date"]),
        "name": name,
        "wrong": ", ".join(p.prose for p in wrong_people),
        "deadline": local_time(record["deadline"], text["date"], zone=True),
        "attachments": text["with_attachments"] if record["attachments"] else "",
    }
    values["facts"] = facts_text(
        record, text["facts"], values["sent"], local_time(record["noticed"], text["date"], zone=True)
    )
    jobs: list[tuple[str, bytes, str, str]] = []
    kinds = {"unintended": "unintended", "intended_missed": "forward", "intended_also": "also", "manager": "manager"}

    def add(role: str, who: Person | None, to: str, key: str, reply: str | None, attach: bytes | None = None) -> None:
        form = who.form if who else "formal"
        greeting = who.greeting if who else text["greeting_formal_unnamed"]
        closing = who.closing if who else text["closing_formal"]
        fill = {**values, "greeting": greeting, "closing": closing, "wrong_shown": values["wrong"]}
        fill["wrong_asked"] = values["wrong"]
        if who is not None and not domain_matches(domain_of(who.addr), config.organization.domains):
            # Outside the organization, naming who got it by mistake would disclose one more
            # person's address (another client's contact, say): the draft says "someone else".
            several = len(wrong_people) > 1
            fill["wrong_shown"] = text["someone_else"][several]
            fill["wrong_asked"] = text["the_recipient"][several]
        subject = text_for(language, f"{key}_subject", form).format(**fill)
        body = text_for(language, f"{key}_body", form).format(**fill)
        jobs.append((role, _draft(sender, who, to, subject, body, reply, attach, date=now), kinds[key], to))

    for i, who in enumerate(wrong_people):
        add(f"unintended-{i}" if i else "unintended", who, who.addr, "unintended", record["message_id"])
    for i, addr in enumerate(record["intended_recipients"]):
        who = person(state_dir, addr, displays.get(addr, "") or _contact_display(state_dir, addr), language)
        if addr in recipients:
            add(f"intended-{i}" if i else "intended", who, addr, "intended_also", record["message_id"])
        else:
            add(f"intended-{i}" if i else "intended", who, addr, "intended_missed", None, attach=raw)
    notes = []
    manager = normalize_address(config.oops.manager or "")
    if not manager:
        where = config.path or "the config (sendguard setup writes one)"
        notes.append(f'no draft for a manager: none is set; add manager = "ADDRESS" under [oops] in {where}')
    elif manager in record["intended_recipients"]:
        notes.append(f"no separate manager draft: [oops] manager {manager} is who it was meant for")
    else:
        who = person(state_dir, manager, _contact_display(state_dir, manager), language)
        add("manager", who, manager, "manager", None)
    written: dict[str, Path] = {}
    drafted: list[tuple[str, str]] = []
    for role, data, kind, to in jobs:
        label = f"oops-{role}-{record['id']}"
        if role in previous:
            path = rewrite_draft(drafts_dir, Path(previous[role]), data)
            if path is None:
                notes.append(f"the {role} draft is no longer in the drafts folder (sent or deleted): not written again")
                continue
        else:
            path = write_draft(drafts_dir, data, label, now=now)
        written[role] = path
        drafted.append((kind, to))
    record["art_33_3"]["d_measures"] = drafted_measures(record, drafted)
    return written, notes


def _contact_display(state_dir: Path | None, addr: str) -> str:
    """The display name the history has for an address, or ""."""

    store = open_for_check(state_dir) if state_dir is not None else None
    contact = store.contact(addr) if store is not None else None
    return contact.name if contact is not None else ""


def _timestamp(iso: object) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp() if iso else None
    except ValueError:
        return None


def not_before_it_left(noticed: float, meta: dict[str, Any]) -> float:
    """A time given as noticed, never before the message left. Within the minute before (a time
    typed to the minute) it is the moment it left; earlier is refused: the breach record would
    say the mistake was seen before it happened, and the deadline run from it would be short,
    or over already (and the incident gone from ``oops --list``). A wrong date or zone, most
    likely: the person says the right time."""
    left = _timestamp(meta.get("delivered")) or _timestamp(meta.get("created"))
    if left is None or noticed >= left:
        return noticed
    if noticed >= left - 60:
        return left

    def shown(stamp: float) -> str:
        return datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="minutes")

    raise UsageError(
        f"--noticed {shown(noticed)}: that is before the message left ({shown(left)})",
        hints=["give the time you noticed the mistake, after it left (ISO 8601, with a zone if not local time)"],
    )


def oops(
    queue: q.Queue,
    ref: str | None,
    config: Any,
    *,
    now: float,
    drafts_dir: Path,
    wrong: list[str] | None = None,
    intended: list[str] | None = None,
    noticed: float | None = None,
) -> OopsReport:
    """Build (or rebuild) the record and the drafts for a message that left; log it once. Sends nothing."""
    skipped: list[q.Entry] = []
    found = find_sent(queue, ref, skipped)
    state_dir = queue.root.parent
    if found.path.parent != queue.root:  # restored from the incident log: lock it where it is
        queue = q.Queue(found.path.parent)
    done = report(
        queue,
        found.id,
        config,
        history=state_dir,
        now=now,
        drafts_dir=drafts_dir,
        wrong=wrong,
        intended=intended,
        noticed=noticed,
    )
    for entry in skipped:
        to = ", ".join(entry.meta.get("envelope") or [])
        done.notes.append(
            f"not about {entry.id} to {to}, which left later: a draft of sendguard oops; "
            f"if it went wrong too: sendguard oops {entry.id}"
        )
    return done


def report(
    queue: q.Queue,
    entry_id: str,
    config: Any,
    *,
    history: Path,
    now: float,
    drafts_dir: Path,
    wrong: list[str] | None = None,
    intended: list[str] | None = None,
    noticed: float | None = None,
    observers: tuple[str, ...] | None = None,
) -> OopsReport:
    """The record and drafts for entry ``entry_id`` of ``queue``, the message forgotten from the
    history in ``history`` (the user's, or a sender's on the team's milter: recover/team.py),
    whose ledger gives the user's voice; ``observers``: who hears of it the first time
    (default: all of act/events.py)."""
    with queue.locked(entry_id) as entry:
        if noticed is not None:  # refused before anything is forgotten or written
            noticed = not_before_it_left(noticed, cast(dict[str, Any], entry.meta))
        raw = entry.raw()
        previous = dict(entry.meta.get("oops") or {})
        first = not previous
        skipped: HistoryDamaged | None = None
        try:
            forget_mistake(history, raw, config)  # before the user's voice is read from the history
        except HistoryDamaged as err:  # the record needs none of it: written all the same, said
            skipped = err
        reads = history if skipped is None else None
        wrong_given = [normalize_address(a) for a in wrong or []] or list(previous.get("wrong_given") or [])
        intended_given = [normalize_address(a) for a in intended or []] or list(previous.get("intended_given") or [])
        meta = cast(dict[str, Any], entry.meta)
        unintended, meant, guess = classify_recipients(meta, config, wrong_given, intended_given, reads)
        message = OutgoingMessage(raw)
        language = previous.get("language") or language_of(
            f"{message.subject}\n{message.body_text}", message.header("Content-Language")
        )
        noticed_at = noticed if noticed is not None else _timestamp(previous.get("noticed")) or now
        record = build_record(
            entry,
            config,
            now=now,
            unintended=unintended,
            intended=meant,
            language=language,
            noticed=noticed_at,
            intended_guess=guess,
        )
        written, notes = write_drafts(
            record,
            config,
            language,
            drafts_dir,
            now=now,
            raw=raw,
            state_dir=reads,
            previous=previous.get("draft_files") or {},
        )
        if skipped is None:
            _note_drafts(history, _written_keys(list(written.values())), now)
        if guess and meant:
            notes.append(
                f"who it was meant for is presumed ({', '.join(meant)}): check, or say it with --intended ADDR"
            )
        elif not meant:
            notes.append("who it was meant for is not known: no draft to them; say it with --intended ADDR")
        entry.save(
            oops={
                "noticed": record["noticed"],
                "deadline": record["deadline"],
                "language": language,
                "unintended": unintended,
                "intended": meant,
                "intended_guess": record["intended_guess"],
                "wrong_given": wrong_given,
                "intended_given": intended_given,
                "draft_files": {role: str(p) for role, p in written.items()}
                | {r: p for r, p in (previous.get("draft_files") or {}).items() if r not in written},
                "drafts": [str(p) for p in written.values()],
                "draft_keys": _unique([*(previous.get("draft_keys") or []), *_written_keys(list(written.values()))]),
                "text": record_text(record),
            },
            event="reported as sent to the wrong person (sendguard oops)"
            if first
            else "breach record and drafts refreshed (sendguard oops)",
        )
        if first:
            events.emit(entry, "oops", config, observers=observers)
    return OopsReport(entry, record, list(written.values()), language, notes, skipped)


def open_incidents(queue: q.Queue, now: float, sender: str | None = None) -> list[dict[str, Any]]:
    """Every message ``oops`` recorded whose 72-hour deadline has not passed, soonest first;
    ``sender``: only that sender's (the milter's queue holds everyone's)."""

    found = []
    roots = [queue, q.Queue(restored_root(queue.root.parent))]
    for root in roots:
        for entry in root.entries():
            report = entry.meta.get("oops")
            if not isinstance(report, dict) or (sender is not None and entry.meta.get("milter_sender") != sender):
                continue
            deadline = _timestamp(report.get("deadline"))
            if deadline is None or deadline <= now:
                continue
            found.append(
                {
                    "id": entry.id,
                    "subject": entry.meta.get("subject", ""),
                    "unintended_recipients": report.get("unintended", []),
                    "noticed": report.get("noticed"),
                    "deadline": report.get("deadline"),
                    "seconds_left": int(deadline - now),
                    "drafts": report.get("drafts", []),
                }
            )
    unique = {row["id"]: row for row in found}
    return sorted(unique.values(), key=lambda row: row["seconds_left"])


def _note_drafts(state_dir: Path, keys: list[list[str]], now: float) -> None:
    """Each draft, once sent, is kept out of the history (history/observer.py)."""
    from sendguard.history.forget import note_oops_drafts

    db = open_for_write(state_dir)
    try:
        note_oops_drafts(db, [(to, subject) for to, subject in keys], now)
    finally:
        db.close()


def forget_mistake(state_dir: Path, raw: bytes, config: Any) -> None:
    """The history takes the message back and never learns it again (history/forget.py): a
    mistake must not teach sendguard that the wrong person is someone the user writes such mail to."""

    db = open_for_write(state_dir)
    try:
        forget_raw(db, raw, config.identity.addresses, config.organization.domains)
    except sqlite3.DatabaseError as err:  # a damaged page, found while forgetting
        HistoryDamaged.reraise(err, state_dir)
    finally:
        db.close()
