"""Fix a kept message and check it again: take the suggested recipient, or replace it by an edit.

The kept bytes are the truth, so a fix changes as little as it can: only the To/Cc/Bcc header
fields that name a replaced address are rewritten (every other byte, including the line
endings, stays as it was), and the envelope in meta.json follows. The bytes as first kept are
saved once as ``original.eml`` beside ``message.eml``: a fix never loses what the person wrote.

Every change happens under the entry's lock (queue.py) and ends with a fresh check, whose
findings replace the old ones. Taking a suggestion then delivers when the new verdict lets the
message go (the person asked for exactly that); an edit only re-checks and leaves the message
held for the person to release.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sendguard.act import events
from sendguard.act import queue as q
from sendguard.config.schema import Config
from sendguard.errors import QueueError
from sendguard.fsutil import atomic_write
from sendguard.mail.message import OutgoingMessage, normalize_address
from sendguard.model import Verdict

FIXABLE = frozenset({q.HELD, q.BLOCKED, q.FAILED, q.DEFERRED, q.INTERRUPTED})
_ADDRESS_FIELDS = (b"to", b"cc", b"bcc")


@dataclass(frozen=True)
class Change:
    """One visible change: where, before, after."""

    where: str
    before: str
    after: str


@dataclass
class FixResult:
    entry_id: str
    changes: list[Change] = field(default_factory=list)
    verdict: str = ""
    reasons: list[str] = field(default_factory=list)
    delivered: bool = False


def suggested_replacements(meta: q.Meta, name_of: Callable[[str], str] | None = None) -> dict[str, tuple[str, str]]:
    """recipient address -> (display name, suggested address), from the findings. A rule names
    the address only; ``name_of`` (the learned history's names) gives the person's name."""
    out: dict[str, tuple[str, str]] = {}
    for finding in meta.get("findings", []):
        recipient, suggestion = finding.get("recipient"), finding.get("suggestion")
        if not recipient or not suggestion:
            continue
        name, addr = email.utils.parseaddr(str(suggestion))
        if "@" in addr and normalize_address(addr) != normalize_address(recipient):
            if not name and name_of is not None:
                name = name_of(normalize_address(addr))
            out.setdefault(normalize_address(recipient), (name, normalize_address(addr)))
    return out


def history_names(state_dir: Path) -> Callable[[str], str]:
    """The display name the learned history has for an address ("" when none is known)."""
    import sqlite3

    from sendguard.history import open_for_check

    try:
        store = open_for_check(state_dir)
    except (OSError, sqlite3.Error):
        store = None

    def name_of(addr: str) -> str:
        try:
            contact = store.contact(addr) if store is not None else None
        except sqlite3.Error:
            return ""
        return contact.name if contact is not None else ""

    return name_of


def _split_head(raw: bytes) -> tuple[list[bytes], bytes, bytes]:
    """Header fields (each with its continuation lines and line ending), separator, body."""
    match = re.search(rb"\r?\n\r?\n", raw)
    head, sep, body = (
        (raw[: match.start()], raw[match.start() : match.end()], raw[match.end() :]) if match else (raw, b"", b"")
    )
    fields: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return fields, sep, body


def _format_address(name: str, addr: str) -> str:
    if not name:
        return addr
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        return email.utils.formataddr((name, addr), charset="utf-8")
    return email.utils.formataddr((name, addr))


def _shown(name: str, addr: str) -> str:
    """A mailbox for a person to read: the name as text, not as an RFC 2047 word."""
    if not name:
        return addr
    return email.utils.formataddr((name, addr)) if name.isascii() else f"{name} <{addr}>"


def rewrite_recipients(raw: bytes, replacements: dict[str, tuple[str, str]]) -> tuple[bytes, list[Change]]:
    """``raw`` with the replaced addresses in To/Cc/Bcc; untouched fields stay byte-identical."""
    from sendguard.mail.addresses import parse_address_list
    from sendguard.mail.mimetree import decode_header

    fields, sep, body = _split_head(raw)
    newline = b"\r\n" if b"\r\n" in (fields[0] if fields else b"") else b"\n"
    changes: list[Change] = []
    out: list[bytes] = []
    for fld in fields:
        name, colon, value = fld.partition(b":")
        if not colon or name.strip().lower() not in _ADDRESS_FIELDS:
            out.append(fld)
            continue
        as_written = " ".join(value.decode("utf-8", "surrogateescape").split())
        text = decode_header(as_written)
        # the list is read as written, then the names decoded: a decoded name may hold an "@" or
        # a comma ("Müller, Hans"), which read again would be addresses of their own
        pairs = [
            (" ".join(decode_header(box.name).split()) if "=?" in box.name else box.name, box.addr)
            for box in parse_address_list(as_written).mailboxes
        ]
        if not any(normalize_address(a) in replacements for _, a in pairs):
            out.append(fld)
            continue
        new_pairs = []
        for display, addr in pairs:
            repl = replacements.get(normalize_address(addr))
            if repl:
                # no name known: a typo'd domain fixed keeps the person's name; another person's never
                same_person = addr.rpartition("@")[0].lower() == repl[1].rpartition("@")[0]
                new_pairs.append((repl[0] or (display if same_person else ""), repl[1]))
            elif addr:
                new_pairs.append((display, addr))
        header = name.decode("ascii", "replace").strip()
        formatted = [_format_address(n, a) for n, a in new_pairs]
        new_value = ", ".join(formatted)
        if len(header) + 2 + len(new_value) > 78:  # fold between addresses (RFC 5322 2.2.3)
            new_value = ("," + newline.decode() + " ").join(formatted)
        out.append(f"{header}: ".encode() + new_value.encode("utf-8") + newline)
        changes.append(Change(header, text.strip(), ", ".join(_shown(name, addr) for name, addr in new_pairs)))
    return b"".join(out) + sep + body, changes


def _keep_original(entry: q.Entry) -> None:
    original = entry.path / "original.eml"
    if not original.exists():
        atomic_write(original, entry.raw())


def _recheck(entry: q.Entry, raw: bytes, config: Config, state_dir: Path) -> Any:
    from sendguard.config.cache import stamp
    from sendguard.decide.check import check_message
    from sendguard.sendpath.path import fingerprint

    config_key = stamp(config)
    result = check_message(
        OutgoingMessage(raw),
        config,
        envelope=list(entry.meta.get("envelope", [])),
        state_dir=state_dir,
        options=tuple(entry.meta.get("options", [])),
    )
    decision = result.decision
    entry.save(
        verdict=decision.verdict.label,
        findings=[f.to_json() for f in decision.findings],
        fingerprint=fingerprint(raw, list(entry.meta.get("envelope", []))),
        error=[],
        config_key=config_key,
        event=f"checked again: {decision.verdict.label}",
    )
    return decision


def _replace_list(values: list[str], replacements: dict[str, tuple[str, str]]) -> list[str]:
    out: dict[str, None] = {}
    for value in values:
        repl = replacements.get(normalize_address(value))
        out[repl[1] if repl else value] = None
    return list(out)


def plan_suggestion(queue: q.Queue, entry_id: str) -> list[Change]:
    """What taking the suggestion would change, without changing anything."""
    entry = queue.get(entry_id)
    replacements = suggested_replacements(entry.meta, history_names(queue.root.parent))
    if not replacements:
        raise QueueError(f"message {entry.id} has no suggested recipient")
    _, changes = rewrite_recipients(entry.raw(), replacements)
    envelope = list(entry.meta.get("envelope", []))
    new_envelope = _replace_list(envelope, replacements)
    if new_envelope != envelope:
        changes.append(Change("envelope", ", ".join(envelope), ", ".join(new_envelope)))
    return changes


def take_suggestion(queue: q.Queue, entry_id: str, config: Config, state_dir: Path, *, send: bool = True) -> FixResult:
    """Replace the suspicious recipients by the suggested ones, check again, send if it passes."""
    from sendguard.act.delivery import deliver

    with queue.locked(entry_id) as entry:
        if entry.state not in FIXABLE:
            raise QueueError(f"message {entry.id} is {entry.state}; it can no longer be changed")
        replacements = suggested_replacements(entry.meta, history_names(state_dir))
        if not replacements:
            raise QueueError(f"message {entry.id} has no suggested recipient")
        new_raw, changes = rewrite_recipients(entry.raw(), replacements)
        meta = entry.meta
        envelope = list(meta.get("envelope", []))
        new_envelope = _replace_list(envelope, replacements)
        if new_envelope != envelope:
            changes.append(Change("envelope", ", ".join(envelope), ", ".join(new_envelope)))
        _keep_original(entry)
        atomic_write(entry.message_path, new_raw)
        taken = [f"{c.where}: {c.before} -> {c.after}" for c in changes]
        # suggestion_taken: the incident log tags the entry's later records "fixed"
        entry.save(
            envelope=new_envelope,
            original_envelope=list(meta.get("original_envelope") or envelope),
            recipients=_replace_list(list(meta.get("recipients", [])), replacements),
            size=len(new_raw),
            suggestion_taken=taken,
            event="took the suggested recipient: " + "; ".join(taken),
        )
        decision = _recheck(entry, new_raw, config, state_dir)
        result = FixResult(entry.id, changes, decision.verdict.label, decision.reasons)
        if send and decision.verdict <= Verdict.WARN:
            entry.save(state=q.RELEASED, event="released after taking the suggestion")
            events.emit(entry, "released", config)
            deliver(entry, config)
            from sendguard.act.sent import file_delivered

            file_delivered(entry, config)
            events.emit(entry, "delivered", config)
            result.delivered = True
        return result


def replace_message(queue: q.Queue, entry_id: str, new_raw: bytes, config: Config, state_dir: Path) -> FixResult:
    """Keep an edited version of a held message and check it again; it stays held.

    The envelope follows the edit: addresses removed from To/Cc/Bcc leave it, added ones join
    it, and recipients that were only ever in the envelope (a Bcc the mail program already took
    out of the headers) stay.
    """
    with queue.locked(entry_id) as entry:
        if entry.state not in FIXABLE:
            raise QueueError(f"message {entry.id} is {entry.state}; it can no longer be changed")
        old_raw = entry.raw()
        if new_raw == old_raw:
            return FixResult(entry.id, [], str(entry.meta.get("verdict", "")))
        before = {a.addr for a in OutgoingMessage(old_raw).header_recipients}
        new_message = OutgoingMessage(new_raw)
        after = [a.addr for a in new_message.header_recipients]
        envelope = list(entry.meta.get("envelope", []))
        new_envelope = list(
            dict.fromkeys(
                [a for a in envelope if a not in before or a in after] + [a for a in after if a not in before]
            )
        )
        if not new_envelope:
            raise QueueError("the edited message has no recipients; nothing was changed")
        changes = []
        if new_envelope != envelope:
            changes.append(Change("envelope", ", ".join(envelope), ", ".join(new_envelope)))
        if new_message.subject != str(entry.meta.get("subject", "")):
            changes.append(Change("Subject", str(entry.meta.get("subject", "")), new_message.subject))
        recipients = list(entry.meta.get("recipients", []))
        if recipients:  # the transport was given explicit recipients: they follow the envelope
            recipients = new_envelope
        _keep_original(entry)
        atomic_write(entry.message_path, new_raw)
        entry.save(
            envelope=new_envelope,
            original_envelope=list(entry.meta.get("original_envelope") or envelope),
            recipients=recipients,
            subject=new_message.subject,
            size=len(new_raw),
            event="edited by the person",
        )
        decision = _recheck(entry, new_raw, config, state_dir)
        return FixResult(entry.id, changes, decision.verdict.label, decision.reasons)


def recheck(queue: q.Queue, entry_id: str, config: Config, state_dir: Path) -> FixResult:
    """Check a kept message again (after the config changed); its state is not changed."""
    with queue.locked(entry_id) as entry:
        if entry.state not in FIXABLE:
            return FixResult(entry.id, [], str(entry.meta.get("verdict", "")))
        decision = _recheck(entry, entry.raw(), config, state_dir)
        return FixResult(entry.id, [], decision.verdict.label, decision.reasons)


def refresh_stale(queue: q.Queue, config: Config, state_dir: Path) -> list[str]:
    """Check again every held or blocked message that was judged under another version of the
    config file than ``config`` (an ``[allow]`` added or removed since), so that what review
    shows is the verdict under the config in force. Their state is not changed: a person still
    decides. Returns the ids checked again; one busy elsewhere (locked) is left for next time."""
    from sendguard.config.cache import stamp
    from sendguard.errors import QueueLockedError

    now_key = stamp(config)
    done = []
    for entry in queue.entries():
        meta = entry.meta
        if entry.state not in (q.HELD, q.BLOCKED):
            continue
        stale = "config_key" in meta and meta["config_key"] != now_key
        if not (stale or meta.get("error")):  # error: kept before any check (a broken config)
            continue
        if not meta.get("envelope"):  # kept before its arguments were read: release checks it
            continue
        try:
            with queue.locked(entry.id) as fresh:
                if fresh.state in (q.HELD, q.BLOCKED) and (
                    fresh.meta.get("config_key") != now_key or fresh.meta.get("error")
                ):
                    _recheck(fresh, fresh.raw(), config, state_dir)
                    done.append(fresh.id)
        except QueueLockedError:
            continue
    return done
