"""Build one incident record and write it into the log's maildir (no notmuch here).

It runs on the send path (through the observer), so it is cheap: bytes assembled by hand, the
original copied verbatim or, when big, hard-linked, no fsync. Why, and the record's parts:
ARCHITECTURE.md, "The incident log".
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sendguard.fsutil import write_new
from sendguard.incidents import log_dir, pending_dir
from sendguard.printable import encode_header

RECORD_DOMAIN = "sendguard.invalid"
INLINE_ORIGINAL_BYTES = 512_000

# What each event means, for the summary's first line.
EVENT_TEXT = {
    "held": "held — not sent",
    "blocked": "blocked — not sent",
    "delivered": "delivered",
    "delayed": "accepted; waiting in the undo window",
    "undone": "taken back within the undo window — not sent",
    "released": "released by a person",
    "discarded": "discarded — will not be sent",
    "oops": "reported as sent to the wrong person",
    "deferred": "not delivered: the transport failed for now — kept, `sendguard queue run` retries",
    "failed": "not delivered: the transport failed — kept for a person",
    "interrupted": "may or may not have left: the transport did not finish — kept for a person",
    "superseded": "superseded — sent again, fixed; this copy is kept but no longer waits",
}


def _tag_word(text: str) -> str:
    return "-".join(str(text).lower().split()).replace('"', "").replace("(", "").replace(")", "")


def tags_for(meta: dict[str, Any], event: str, config: Any) -> list[str]:
    """Tags: the event, the decision, the state, every rule that found something, the clients."""
    from sendguard.mail.message import domain_matches, domain_of

    tags = {_tag_word(event), f"state:{_tag_word(meta.get('state', 'received'))}"}
    verdict = meta.get("verdict")
    if verdict:
        tags.add(f"decision:{_tag_word(verdict)}")
        if verdict == "warn" and event == "delivered":
            tags.add("warned")
    if meta.get("confirms"):
        tags.add("confirmed")
    if meta.get("suggestion_taken"):
        tags.add("fixed")
    for finding in meta.get("findings") or []:
        if finding.get("rule"):
            tags.add(f"rule:{_tag_word(finding['rule'])}")
    envelope = meta.get("envelope") or meta.get("recipients") or []
    org = list(config.organization.domains)
    for addr in envelope:
        domain = domain_of(addr)
        if org and not domain_matches(domain, org):
            tags.add("outside")
        for name, client in config.clients.items():
            if addr.lower() in {a.lower() for a in client.addresses} or domain_matches(domain, client.domains):
                tags.add(f"client:{_tag_word(name)}")
    return sorted(tags)


_DISPOSITION = re.compile(rb"^content-disposition:[ \t]*attachment\b", re.I | re.M)


def has_attachment(raw: bytes) -> bool:
    """Whether a part of the message is ``Content-Disposition: attachment`` — the meaning of
    notmuch's ``attachment`` tag, which the indexer keeps only when the record says so (the
    record's own meta part is one). The word is found first: a regex over 20 MB would take ~0.2 s."""
    for word in (b"attachment", b"Attachment", b"ATTACHMENT"):
        at = raw.find(word)
        while at != -1:
            line = raw.rfind(b"\n", 0, at)
            start = raw.rfind(b"\n", 0, line) + 1 if line > 0 else 0  # and the line before: a folded header
            head = re.sub(rb"\r?\n[ \t]+", b" ", raw[start : at + len(word) + 1])
            if _DISPOSITION.search(head):
                return True
            at = raw.find(word, at + 1)
    return False


def _message_has_attachment(entry: Any) -> bool:
    """has_attachment over the whole message file, mapped rather than read (big mail)."""
    import mmap

    try:
        with open(entry.message_path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return has_attachment(data)  # type: ignore[arg-type]
    except (OSError, ValueError):  # gone, or empty (mmap refuses a 0-byte file)
        return False


def summary_text(meta: dict[str, Any], event: str, when: float, note: str = "") -> str:
    """The readable part of a record."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))
    envelope = meta.get("envelope") or meta.get("recipients") or []
    lines = [
        f"sendguard: {EVENT_TEXT.get(event, event)}",
        "",
        f"When:      {stamp}",
        f"Message:   {meta.get('id', '?')} (state {meta.get('state', '?')})",
        f"From:      {meta.get('from') or meta.get('sender') or ''}",
        f"To:        {', '.join(envelope)}",
        f"Subject:   {meta.get('subject', '')}",
        f"Decision:  {meta.get('verdict', '?')}",
    ]
    if meta.get("not_before"):
        lines.append(f"Not before: {meta['not_before']}")
    if meta.get("confirms"):
        lines.append(f"Confirms:  {meta['confirms']} (the identical message, sent again)")
    for change in meta.get("suggestion_taken") or []:
        lines.append(f"Fixed:     took the suggested recipient: {change}")
    findings = meta.get("findings") or []
    if findings:
        lines += ["", "Findings:"]
        for f in findings:
            lines.append(f"  - [{f.get('severity')}] {f.get('rule')}: {f.get('message')}")
            if f.get("recipient"):
                lines.append(f"      recipient: {f['recipient']}")
            if f.get("suggestion"):
                lines.append(f"      did you mean: {f['suggestion']}")
    for error in meta.get("error") or []:
        lines.append(f"Error:     {error}")
    if meta.get("state") in ("deferred", "failed") and (meta.get("transport_error") or meta.get("transport_exit")):
        exit_code = f" (exit {meta['transport_exit']})" if meta.get("transport_exit") else ""
        lines.append(f"Transport: {meta.get('transport_error') or 'failed'}{exit_code}")
    report = meta.get("oops") or {}
    if event == "oops" and report.get("text"):
        lines += ["", report["text"].rstrip()]
    if note:
        lines += ["", note.rstrip()]
    lines += ["", "The original message is attached."]
    return "\n".join(lines) + "\n"


def _plain_address(text: str) -> str:
    if "<" in text and ">" in text:
        return text[text.rindex("<") + 1 : text.rindex(">")].strip()
    return text.strip()


def build_record(
    meta: dict[str, Any],
    raw: bytes,
    event: str,
    tags: Iterable[str],
    *,
    now: float,
    note: str = "",
    linked: Path | None = None,
) -> tuple[bytes, str]:
    """The record as bytes, and its Message-ID (without angle brackets).

    ``linked``: the original is stored there (a hard link): the record refers to it and carries
    only its header block (``raw`` may then be just that)."""
    token = os.urandom(4).hex()
    entry_id = meta.get("id", "unknown")
    message_id = f"{entry_id}.{_tag_word(event)}.{token}@{RECORD_DOMAIN}"
    boundary = f"=_sendguard_{token}{os.urandom(8).hex()}"
    if linked is not None:
        original = _header_block(raw).replace(b"\r\n", b"\n") + b"\n"
    else:
        original = raw.replace(b"\r\n", b"\n")
        if not original.endswith(b"\n"):
            original += b"\n"
    sender = _plain_address(meta.get("from") or meta.get("sender") or "") or f"sendguard@{RECORD_DOMAIN}"
    envelope = meta.get("envelope") or meta.get("recipients") or []
    subject = meta.get("subject", "")
    head = [
        f"From: sendguard <{encode_header(sender)}>",
        f"To: {encode_header(', '.join(envelope)) or 'undisclosed-recipients:;'}",
        f"Subject: {encode_header(f'[{event}] {subject}')}",
        f"Date: {email.utils.formatdate(now, usegmt=True)}",
        f"Message-ID: <{message_id}>",
        f"X-Sendguard-Id: {encode_header(str(entry_id))}",
        f"X-Sendguard-Event: {_tag_word(event)}",
        f"X-Sendguard-Tags: {' '.join(tags)}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
    ]
    body = summary_text(meta, event, now, note)
    parts = [
        "\n".join(head).encode(),
        b"\n\nThis is an incident record of sendguard in MIME format.\n",
        f"\n--{boundary}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n".encode(),
        body.encode("utf-8", "replace"),
        # The queue entry's meta, so a record can stand in for the entry once the queue pruned
        # it (sendguard oops on an old message reads it back: see oops.restore_from_log).
        f"\n--{boundary}\nContent-Type: application/json; charset=utf-8\nContent-Disposition: attachment; "
        f'filename="meta.json"\nContent-Transfer-Encoding: 8bit\n\n'.encode(),
        json.dumps(meta, ensure_ascii=False, default=str).encode("utf-8", "replace"),
        (
            f"\n--{boundary}\nContent-Type: message/rfc822\nContent-Disposition: attachment; "
            f'filename="{entry_id}.eml"\nContent-Transfer-Encoding: 8bit\n\n'.encode()
            if linked is None
            else f'\n--{boundary}\nContent-Type: message/external-body; access-type=local-file;\n name="{linked}"\n'
            f'Content-Disposition: attachment; filename="{entry_id}.eml"\n\n'.encode()
        ),
        original,
        f"\n--{boundary}--\n".encode(),
    ]
    return b"".join(parts), message_id


def _maildir(root: Path) -> None:
    from sendguard.paths import ensure_private_dir

    for sub in ("tmp", "new", "cur"):
        ensure_private_dir(root / sub)


def write_record(state_dir: Path, data: bytes, message_id: str, *, now: float) -> Path:
    """Write a record into the log's maildir (``cur/``, flagged seen) and mark it pending."""
    root = log_dir(state_dir)
    pending = pending_dir(state_dir)
    if not (root / "cur").is_dir():
        _maildir(root)
    if not pending.is_dir():
        from sendguard.paths import ensure_private_dir

        ensure_private_dir(pending)
    name = f"{int(now)}.{os.getpid()}_{message_id.partition('@')[0]}.sendguard"
    tmp = root / "tmp" / name
    write_new(tmp, data, durable=False)
    final = root / "cur" / f"{name}:2,S"
    # The marker first: a crash between the two leaves a marker without a record (the indexer
    # drops it), never a record that nobody will index.
    os.close(os.open(pending / f"{name}:2,S", os.O_WRONLY | os.O_CREAT, 0o600))
    os.rename(tmp, final)
    return final


def _header_block(raw: bytes) -> bytes:
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if i >= 0]
    return raw[: min(ends) + 1] if ends else raw[:INLINE_ORIGINAL_BYTES]


def originals_dir(state_dir: Path) -> Path:
    return log_dir(state_dir) / "originals"


def link_original(state_dir: Path, entry_id: str, message_path: Path) -> Path | None:
    """A hard link to the queue's copy in the log's ``originals/`` (the same one for every record
    of this version of the message); None if it cannot be made."""
    from sendguard.paths import ensure_private_dir

    try:
        st = message_path.stat()
        folder = ensure_private_dir(originals_dir(state_dir))
        target = folder / f"{entry_id}.{st.st_ino}.eml"
        try:
            os.link(message_path, target)
        except FileExistsError:
            if target.stat().st_ino != st.st_ino:
                return None
        return target
    except OSError:
        return None


def read_original(record_part_head: bytes) -> bytes | None:
    """The original a record's external-body part names (None if it is gone)."""
    import re

    match = re.search(rb'name="([^"]+)"', record_part_head)
    if not match:
        return None
    path = Path(os.fsdecode(match.group(1)))
    try:
        return path.read_bytes()
    except OSError:
        return None


def record(entry: Any, event: str, config: Any, *, now: float | None = None, note: str = "") -> Path:
    """Write the record of ``event`` for a queue entry. Returns the record's path."""
    now = time.time() if now is None else now
    meta = dict(entry.meta)
    meta.setdefault("id", entry.id)
    tags = tags_for(meta, event, config) + (["attachment"] if _message_has_attachment(entry) else [])
    state_dir = entry.path.parent.parent
    linked = None
    path = entry.message_path
    try:
        big = path.stat().st_size > INLINE_ORIGINAL_BYTES
    except OSError:
        big = False
    if big:
        linked = link_original(state_dir, str(meta["id"]), path)
    if linked is not None:
        with open(linked, "rb") as file:  # only the header block is read
            raw = file.read(256_000)
    else:
        raw = entry.raw()
    data, message_id = build_record(meta, raw, event, sorted(tags), now=now, note=note, linked=linked)
    return write_record(state_dir, data, message_id, now=now)
