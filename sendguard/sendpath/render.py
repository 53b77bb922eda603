"""The send path's words: what a held, blocked or warned message says, on stderr and as a notice.

Produced from the kept entry's meta (its findings as JSON), so the same text can be rendered
again later (a notice shown at the next ``sendguard`` command). Every piece of message text goes
through ``printable``. Each text carries the reason, the suggestion (did you mean ...) and the
way out (``sendguard release ID``, ``sendguard review``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sendguard.printable import printable

_WARN = ("warn", "hold", "block")


class Shows(NamedTuple):
    """What the calling program puts in front of its person of what we write."""

    success: bool
    """stderr, when we exit 0 (a warning)."""
    failure: bool
    """stdout and stderr, when we exit non-zero (a hold, a block, a transport failure)."""


def caller_shows(caller: dict[str, object], silent: Sequence[str]) -> Shows:
    """Measured under tmux (README.md's table): aerc shows nothing but ``exit status N``; mutt and
    neomutt on a terminal show our output in a pager when we fail and nothing when we exit 0;
    in batch mode they, like git send-email and mailx, leave stderr on the caller's terminal.
    ``silent``: the programs (``[sendmail] silent_callers``) that show nothing; so does any
    caller that points our stderr at /dev/null. Any other caller is taken to pass stderr on,
    as a script or a terminal does."""
    program = str(caller.get("program", ""))
    if program in silent or caller.get("stderr_null"):  # whoever gives us /dev/null reads nothing
        return Shows(False, False)
    if program in ("mutt", "neomutt") and caller.get("interactive"):
        return Shows(False, True)
    return Shows(True, True)


def error(lines: Sequence[str]) -> list[str]:
    """An error and the lines after it (its hints), for stderr."""
    return [f"sendguard: error: {printable(lines[0])}", *(f"  {printable(line)}" for line in lines[1:])]


def _reasons(findings: Sequence[Mapping[str, Any]], severities: Sequence[str] = _WARN) -> list[tuple[str, str]]:
    """(message, suggestion or "") of the findings that count."""
    return [(str(f["message"]), str(f.get("suggestion") or "")) for f in findings if f.get("severity") in severities]


def held(
    entry_id: str,
    meta: Mapping[str, Any],
    *,
    blocked: bool,
    escalated: bool,
    confirm_window: int,
    resend_confirms: bool,
    program: str = "",
) -> list[str]:
    """The explanation of a hold or block, for stderr. ``program``: the caller (caller.detect),
    where its next step differs (git send-email stops a series at the first failed message)."""
    lines = [
        "sendguard: " + ("BLOCKED — not sent." if blocked else "HELD — not sent."),
        f"  To:      {printable(', '.join(meta['envelope']))}",
        *(
            f"           ({printable(name)}: msmtp's alias for {printable(', '.join(addrs))})"
            for name, addrs in (meta.get("aliases") or {}).items()
        ),
        f"  Subject: {printable(meta['subject'])}",
        "  Why:",
    ]
    for message, suggestion in _reasons(meta["findings"]):
        lines.append(f"   - {printable(message)}")
        if suggestion:
            lines.append(f"     Did you mean {printable(suggestion)}?")
    if escalated:
        lines.append("   (each alone would only warn; together they hold the message)")
    lines.append(f"  Kept as {entry_id}.")
    if program == "git":
        lines.append("  git send-email stops here: patches after this one, if any, were not sent.")
    if blocked:
        lines.append(f"  It stays in the queue; sendguard discard {entry_id} drops it.")
        return lines
    lines += ["  What now:", "   - fix the message and send it again; or"]
    if resend_confirms:
        minutes = max(1, confirm_window // 60)
        lines.append(
            f"   - if it is right, send the identical message again within {minutes} min: it goes out once; or"
        )
    lines.append(f"   - sendguard release {entry_id}    (sendguard review shows everything held)")
    return lines


def held_again(entry_id: str, meta: Mapping[str, Any]) -> list[str]:
    """The same message sent again where the first explanation could not be seen."""
    first = _reasons(meta["findings"])[:1]
    lines = [f"sendguard: HELD again — not sent: the same message is still held as {entry_id}."]
    if first:
        lines.append(f"  Why: {printable(first[0][0])}")
        if first[0][1]:
            lines.append(f"  Did you mean {printable(first[0][1])}?")
    lines += [
        "  Sending it again does not send it: your mail program cannot show why it was held.",
        f"  If it is right: sendguard release {entry_id}   (or sendguard review)",
    ]
    return lines


def blocked_again(entry_id: str, meta: Mapping[str, Any]) -> list[str]:
    """The same blocked message sent again: nothing sends it, and one copy is enough."""
    first = _reasons(meta["findings"])[:1]
    lines = [f"sendguard: BLOCKED again — not sent: the same message is already blocked as {entry_id}."]
    if first:
        lines.append(f"  Why: {printable(first[0][0])}")
    lines.append(f"  Sending it again never sends it: fix it, or sendguard discard {entry_id}")
    return lines


def warned(meta: Mapping[str, Any]) -> list[str]:
    """A message that went out with a warning, for stderr."""
    reasons = _reasons(meta["findings"], ("warn",))
    if not reasons:
        return ["sendguard: sent, with a warning."]
    message, suggestion = reasons[0]
    lines = [f"sendguard: sent, with a warning: {printable(message)}"]
    if suggestion:
        lines.append(f"  Did you mean {printable(suggestion)}? If so: sendguard oops")
    return lines


def notice(kind: str, entry_id: str, meta: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(title, body lines) of a notice for a person whose mail program showed nothing.

    ``kind``: ``held``, ``held-again`` (the same message sent again, still held), ``blocked``,
    ``blocked-again``, ``warned``, ``waiting`` (warned, in the undo window) or ``deferred``."""
    recipients = ", ".join(meta.get("envelope", [])[:3])
    title = {
        "held": f"sendguard held a message to {recipients}",
        "held-again": f"sendguard still holds a message to {recipients}: sending it again did not send it",
        "blocked": f"sendguard blocked a message to {recipients}",
        "blocked-again": f"sendguard still blocks a message to {recipients}: sending it again did not send it",
        "warned": f"sendguard sent a message to {recipients}, with a warning",
        "waiting": f"sendguard will send a message to {recipients}, with a warning",
        "deferred": f"sendguard could not send a message to {recipients} yet",
    }[kind]
    body = [f"Subject: {meta.get('subject', '')}"]
    severities = ("warn",) if kind in ("warned", "waiting") else _WARN
    for message, suggestion in _reasons(meta.get("findings", []), severities)[:2]:
        body.append(f"Why: {message}")
        if suggestion:
            body.append(f"Did you mean {suggestion}?")
    if kind == "deferred":  # the transport's reason may take several lines: each its own
        first, *more = str(meta.get("transport_error") or "the transport failed").split("\n")
        body += [f"Why: {first}", *(f"  {line}" for line in more if line.strip())]
    if kind == "held-again":
        body.append("Your mail program could not show why it was held, so sending it again is not a yes.")
    body.append(
        {
            "held": f"sendguard release {entry_id}  ·  sendguard review",
            "held-again": f"If it is right: sendguard release {entry_id}  ·  sendguard review",
            "blocked": f"sendguard discard {entry_id}  ·  sendguard review",
            "blocked-again": f"sendguard discard {entry_id}  ·  sendguard review",
            "warned": "if it went to the wrong person: sendguard oops",
            "waiting": "sendguard undo takes it back before it leaves",
            "deferred": f"sendguard queue run retries it  ·  sendguard release {entry_id}",
        }[kind]
    )
    return printable(title), [printable(line) for line in body]
