"""The notice mails sendguard sends a person about their own message: the texts.

The milter's (milter/notices.py submits them): held for an administrator (``hold =
"quarantine"``), held with a way out (``hold = "reject"``: the 550 is shown cut at the
terminal's width by mutt, and not at all by neomutt), sent anyway (a resend confirmed that
hold), not checkable, and the oops mail. The send path's (act/notice_mail.py submits it): held
or blocked, for a mail program that shows nothing sendguard writes. Plain text: everything from
the message (subject, recipients, what the rules say about them) is untrusted and goes through
``printable``; the subject reaches the header only as ``encode_header`` writes it, and the
recipient must be one plain address, since ``sendmail -t`` reads the recipients from the
header. Every notice carries ``X-Sendguard-Notice: KIND``, so learning never takes one for the
person's own mail (history/learn.py).
"""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Iterable
from datetime import datetime
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any

from sendguard.printable import encode_header, printable

if TYPE_CHECKING:
    from sendguard.act.queue import Meta

# One address, nothing a header parser could read as a second one (a comma, a group, a quote).
_ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+$")
WIDTH = 76
NOTICE_HEADER = "X-Sendguard-Notice"
"""Marks every notice sendguard mails; learning skips a message that has it (history.learn)."""


def deliverable(to: str) -> bool:
    """True when ``to`` can be the notice's one recipient as it stands."""
    return bool(_ADDRESS.match(to)) and len(to) <= 254


def reason(message: object, suggestion: object) -> str:
    """A finding's sentence, with its suggestion where the sentence does not name it already."""
    text = str(message).strip()
    suggestion = str(suggestion or "")
    if suggestion and suggestion.lower() not in text.lower():
        text = f"{text.rstrip('.')}; did you mean {suggestion}?"
    return text


def reasons(meta: Meta) -> list[str]:
    """Every finding that weighs (warn and up) as a sentence, with its suggestion: all of them in full."""
    found = [f for f in meta.get("findings", []) if f.get("severity") not in ("info", None)]
    return [reason(f.get("message", ""), f.get("suggestion")) for f in found] or ["it could not be checked"]


def clock_time(at: float) -> str:
    """``14:32 UTC``: the server's local time with its zone, as a person reads it."""
    return time.strftime("%H:%M %Z", time.localtime(at)).strip()


def created_at(meta: Meta, default: float) -> float:
    try:
        return datetime.fromisoformat(str(meta["created"])).timestamp()
    except (KeyError, ValueError):
        return default


def _line(text: object) -> str:
    return printable(str(text))


def _bullets(items: Iterable[str]) -> list[str]:
    lines: list[str] = []
    for item in items:
        lines += textwrap.wrap(_line(item), WIDTH, initial_indent="  - ", subsequent_indent="    ") or ["  -"]
    return lines


def _para(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, break_long_words=False, break_on_hyphens=False)


def _what(meta: Meta, entry_id: str) -> list[str]:
    return [
        f"  Subject: {_line(meta.get('subject', '')) or '(none)'}",
        *textwrap.wrap(
            _line(", ".join(meta.get("recipients", []))),
            WIDTH,
            initial_indent="  To:      ",
            subsequent_indent="           ",
            break_long_words=False,
        ),
        f"  Id:      {entry_id}",
    ]


def _after_a_mistake(contact: str) -> list[str]:
    who = f"your mail administrator (and {_line(contact)})" if contact else "your mail administrator"
    return _para(
        f"If it reached someone it should not have: tell {who} now and give the id above; a breach "
        "of personal data may have to be reported within 72 hours. With the id they can write the "
        "record and the drafts to the people who got it, in your name, and make sendguard forget it."
    )


def quarantined(to: str, meta: Meta, entry_id: str, queue_id: str) -> bytes:
    """A message waits in Postfix's hold queue for an administrator: held, why, what happens next."""
    body = [
        "Your message was not sent yet: sendguard held it for a check by your mail administrator.",
        "",
        *_what(meta, entry_id),
        "",
        "Why:",
        *_bullets(reasons(meta)),
        "",
        "If it is right, ask your administrator to release it; if not, nothing more leaves.",
        f"(Postfix queue id {_line(queue_id) or '?'}, sendguard id {entry_id}.)",
    ]
    return _mail(to, "Held for review: ", meta, body, kind="quarantined")


def held(
    to: str, meta: Meta, entry_id: str, *, window: float, now: float, contact: str = "", since: float | None = None
) -> bytes:
    """A message was refused with a 550 and a way out: what, every reason, the way out and its
    deadline, and what happened if they already sent it again. ``since``: when the way out
    opened, if not when the copy was kept (a copy held again, its first 550 never seen)."""
    at = created_at(meta, now) if since is None else since
    until = clock_time(at + window)
    minutes = max(1, int(window) // 60)
    body = [
        f"sendguard held your message at {clock_time(at)}; it was not sent.",
        "",
        *_what(meta, entry_id),
        "",
        "Why:",
        *_bullets(reasons(meta)),
        "",
        "What now:",
        *_bullets(
            [
                f"If it is right as it is, send it again unchanged before {until} (within {minutes} min "
                "of the hold): that sends it, once.",
                "If not, change it or its recipients and send that; this one stays unsent.",
            ]
        ),
        "",
        *_para(
            f"Already sent it again? If you did so unchanged before {until}, it went out then, and a "
            "second note says so."
        ),
        "",
        *_after_a_mistake(contact),
    ]
    return _mail(to, "Held, not sent: ", meta, body, kind="held")


def kept_by_sendmail(
    to: str, meta: Meta, entry_id: str, *, blocked: bool, now: float, sendguard: str = "sendguard", aerc: bool = False
) -> bytes:
    """The send path held or blocked a message for a mail program that shows nothing of what
    sendguard writes: what, every reason, and the way out there is. Not "send it again": from
    such a program a resend is no yes (it stays held). ``sendguard``: the command as the person
    runs it; ``aerc``: name aerc's own ``:term``, which opens the review in a tab."""
    verb = "blocked" if blocked else "held"
    sendguard = _line(sendguard)
    review = [f"      {sendguard} review", *(["    in aerc, type:", f"      :term {sendguard} review"] if aerc else [])]
    if blocked:
        now_what = [
            *_bullets(["It stays kept, not sent. To drop it:"]),
            f"      {sendguard} discard {entry_id}",
            *_bullets(["To see it with its reasons:"]),
            *review,
        ]
    else:
        now_what = [
            *_bullets(["If it is right as it is, send it (once):"]),
            f"      {sendguard} release {entry_id}",
            *_bullets(["If not, change it or its recipients in your mail program and send that; then drop this copy:"]),
            f"      {sendguard} discard {entry_id}",
            *_bullets(["To see everything held, with the fixes sendguard suggests:"]),
            *review,
        ]
    body = [
        f"sendguard {verb} your message at {clock_time(created_at(meta, now))}; it was not sent.",
        "",
        *_what(meta, entry_id),
        "",
        "Why:",
        *_bullets(reasons(meta)),
        "",
        "What now:",
        *now_what,
    ]
    if not blocked:
        body += [
            "",
            *_para(
                "Sending it again unchanged from your mail program does not send it: the program "
                "could not show you why it was held, so a resend is no yes."
            ),
        ]
    return _mail(to, f"{verb.capitalize()}, not sent: ", meta, body, kind=verb, sender=to)


def sent_anyway(to: str, meta: Meta, entry_id: str, *, now: float, contact: str = "") -> bytes:
    """A resend confirmed a hold: the message went out. One line says so; the rest is what to do
    if that was a mistake (a neomutt user may have confirmed a hold they never saw)."""
    body = [
        f"Sent anyway at {clock_time(now)} after a hold at {clock_time(created_at(meta, now))}: "
        "you sent it again unchanged.",
        "",
        *_what(meta, entry_id),
        "",
        "It was held because:",
        *_bullets(reasons(meta)),
        "",
        *_after_a_mistake(contact),
    ]
    return _mail(to, "Sent anyway after a hold: ", meta, body, kind="sent-anyway")


def unchecked(to: str, meta: Meta, entry_id: str, *, why: str, tries: int) -> bytes:
    """The check failed on a message again and again, so it was refused (a 550) and kept: say so,
    since some mail programs show the sender nothing of a 550."""
    body = [
        *_para(f"sendguard could not check your message, so it was not sent: {_line(why)} ({tries} tries)."),
        "",
        *_what(meta, entry_id),
        "",
        "What now:",
        *_bullets(
            [
                "Sent again unchanged it will most likely fail the same way; a changed message "
                "(another attachment, less text) is checked afresh.",
                "Your mail administrator has a copy under the id above and the reason in the "
                "milter's log; tell them, with the id, if it must go out as it is.",
            ]
        ),
    ]
    return _mail(to, "Not sent, could not be checked: ", meta, body, kind="unchecked")


def oops_mail(to: str, record: Any, drafts: list[tuple[str, bytes]]) -> bytes:
    """For ``oops --as --mail``: the sender hears what the administrator recorded (subject, who
    got it, the deadline) and gets each draft attached as message/rfc822, byte for byte, to open
    and send as new. ``drafts``: (file name, the draft's bytes). Only ``to`` is in the header:
    ``sendmail -t`` reads recipients there, never from the attached drafts' own headers."""
    import email
    import email.policy
    import secrets

    about = {"subject": record.get("subject", ""), "recipients": record.get("recipients", [])}
    body = [
        *_para(
            "Your mail administrator wrote the breach record for a message of yours that reached "
            "someone it should not have, and the drafts below, in your name."
        ),
        "",
        *_what(about, str(record.get("id", ""))),  # type: ignore[arg-type]
        *textwrap.wrap(
            _line(", ".join(record.get("unintended_recipients", []))) or "(not known)",
            WIDTH,
            initial_indent="  Wrong:   ",
            subsequent_indent="           ",
            break_long_words=False,
        ),
        "",
        *_para(
            f"Deadline to decide on notifying the supervisory authority: {_line(record.get('deadline', ''))} "
            "(72 hours from when the mistake was noticed)."
        ),
        "",
        "Attached, not sent: open each, check it, and send it as a new message:",
    ]
    for _, draft in drafts:
        headers = email.message_from_bytes(draft.split(b"\n\n", 1)[0] + b"\n\n", policy=email.policy.default)
        body += _bullets([f"to {headers.get('To', '?')}: {headers.get('Subject', '')}"])
    boundary = "=_sendguard_" + secrets.token_hex(12)
    while any(boundary.encode() in draft for _, draft in drafts):  # never, but a draft is untrusted text
        boundary = "=_sendguard_" + secrets.token_hex(12)
    parts = [
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        + ("\n".join(body) + "\n").encode("utf-8", "replace")
    ]
    for name, draft in drafts:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "draft"
        encoding = "7bit" if draft.isascii() else "8bit"
        head = f'Content-Type: message/rfc822\nContent-Disposition: attachment; filename="{safe}.eml"\n'
        parts.append(f"{head}Content-Transfer-Encoding: {encoding}\n\n".encode() + draft)
    text = _mail(
        to,
        "Breach record and drafts: ",
        about,  # type: ignore[arg-type]
        [],
        content_type=f'multipart/mixed; boundary="{boundary}"',
        kind="oops",
    )
    mark = f"--{boundary}".encode()
    # the newline before a boundary belongs to it: each part, a draft's last newline too, stays whole
    return text.rstrip(b"\n") + b"\n\n" + b"".join(mark + b"\n" + part + b"\n" for part in parts) + mark + b"--\n"


def _mail(
    to: str, prefix: str, meta: Meta, body: list[str], content_type: str = "", *, kind: str, sender: str = "postmaster"
) -> bytes:
    """``sender``: the From address; the milter's MTA qualifies ``postmaster``, while the send
    path's notice comes from the person's own address, the one their transport sends as."""
    if not deliverable(to):
        raise ValueError(f"no notice to {printable(to)!r}: not one plain address")
    head = [
        f"From: sendguard <{sender}>",
        f"To: {to}",
        f"Subject: {encode_header(prefix + _line(meta.get('subject', '')))}",
        f"Date: {formatdate(localtime=True)}",
        f"Message-ID: {make_msgid('sendguard', domain=sender.rsplit('@', 1)[1] if '@' in sender else None)}",
        "Auto-Submitted: auto-generated",
        f"{NOTICE_HEADER}: {kind}",
        "MIME-Version: 1.0",
        *([f"Content-Type: {content_type}"] if content_type else ["Content-Type: text/plain; charset=utf-8"]),
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\n".join(head) + "\n\n" + "\n".join(body) + "\n").encode("utf-8", "replace")
