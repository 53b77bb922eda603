"""Turn the core's view objects into Text for the screen (no widgets here, so it is testable).

Everything message-derived goes through :func:`sendguard.tui.safe.text`; styles are ours.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from rich.text import Text

from sendguard.printable import printable
from sendguard.recover.review_data import MessageView, QueueRow, human_size
from sendguard.tui.safe import text

BODY_LIMIT = 20_000  # characters of body shown; the rest is one key away in $EDITOR
# Lines of recipients and of reasons listed on the message screen; the rest is counted in one
# line. Textual draws every line of the screen's text on each layout, so a mail to 3,000 people
# listed in full took seconds to open, for a list nobody reads line by line.
RECIPIENT_LIMIT = 200
REASON_LIMIT = 100

STATE_STYLES = {
    "held": "bold red",
    "blocked": "bold magenta",
    "interrupted": "bold red",
    "failed": "red",
    "delayed": "yellow",
    "deferred": "yellow",
    "delivered": "green",
    "discarded": "dim",
    "confirmed": "green",
    "released": "cyan",
    "sending": "cyan",
    "accepted": "cyan",
}
SEVERITY_STYLES = {"block": "bold magenta", "hold": "bold red", "warn": "yellow", "info": "dim"}
EVIDENCE = "black on yellow"
T = TypeVar("T")


def state_cell(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""), end="")


def when_cell(row: QueueRow, now: float) -> Text:
    countdown = row.countdown(now)
    if countdown:
        return Text("due" if countdown == "due" else f"in {countdown}", style="bold yellow", end="")
    when = row.delivered if row.state == "delivered" and row.delivered else row.created
    if when is None:
        return Text("?", end="")
    moment = datetime.fromtimestamp(when).astimezone()
    today = datetime.fromtimestamp(now).astimezone().date()
    return Text(moment.strftime("%H:%M" if moment.date() == today else "%d %b"), end="")


def recipients_cell(row: QueueRow, width: int) -> Text:
    if not row.recipients:
        return Text("(no recipients)", style="dim", end="")
    more = f" +{len(row.recipients) - 1}" if len(row.recipients) > 1 else ""
    out = text(row.recipients[0], limit=max(4, width - len(more)))
    out.append(more, style="dim")
    return out


def row_cells(row: QueueRow, now: float, to_width: int, subject_width: int) -> list[Text]:
    return [
        state_cell(row.state),
        when_cell(row, now),
        recipients_cell(row, to_width),
        text(row.subject or "(no subject)", limit=subject_width),
    ]


def postfix_row_cells(row: QueueRow, now: float, from_width: int, to_width: int, subject_width: int) -> list[Text]:
    """A row of Postfix's hold queue: who sent it where a row of one's own queue has its state."""
    return [
        text(row.sender or "(null sender)", limit=from_width),
        when_cell(row, now),
        recipients_cell(row, to_width),
        text(row.subject or "(no subject)", limit=subject_width),
    ]


def preview(row: QueueRow | None) -> Text:
    """The two lines under the list: every recipient and the main reason, in full."""
    if row is None:
        return Text("Nothing here. Held mail shows up as soon as sendguard keeps it.", style="dim")
    out = Text(end="")
    out.append("To:  ", style="bold")
    out.append_text(text(", ".join(row.recipients) or "(none)"))
    out.append("\nWhy (", style="bold")
    out.append_text(text(row.verdict, "bold"))
    out.append("): ", style="bold")
    out.append_text(text(row.reason or "nothing to report", style="" if row.reason else "dim"))
    return out


def _first(items: list[T], limit: int, first: Callable[[T], bool]) -> tuple[list[T], list[T]]:
    """(what to list, what to count): all of ``items`` if they fit in ``limit``; else ``limit``
    of them, those ``first`` picks before the others, each group in its order."""
    if len(items) <= limit:
        return items, []
    picked = [item for item in items if first(item)][:limit]
    chosen = {id(item) for item in picked}
    listed = picked + [item for item in items if id(item) not in chosen][: limit - len(picked)]
    chosen.update(id(item) for item in listed)
    return listed, [item for item in items if id(item) not in chosen]


def detail(view: MessageView) -> Text:
    """The message screen: recipients first, then why, then suggestion, attachments, body."""
    out = Text(end="")
    out.append(f"{view.state.upper()}", style=STATE_STYLES.get(view.state, "bold"))
    out.append(f"  {view.id}\n", style="dim")
    out.append("Subject: ", style="bold")
    out.append_text(text(view.subject or "(no subject)"))
    out.append("\nFrom:    ", style="bold")
    out.append_text(text(view.sender or "(unknown)"))
    out.append("\n\nRecipients (the envelope: who really gets it)\n", style="bold underline")
    flagged = {f.recipient for f in view.findings if f.recipient and f.severity in ("warn", "hold", "block")}
    listed, rest = _first(view.recipients, RECIPIENT_LIMIT, lambda rcpt: rcpt.addr in flagged)
    for rcpt in listed:
        mark = "!" if rcpt.addr in flagged else " "
        out.append(f" {mark} ", style="bold red")
        out.append_text(text(rcpt.addr, "bold" if rcpt.addr in flagged else ""))
        if rcpt.name:
            out.append("  ")
            out.append_text(text(rcpt.name, "dim"))
        tags = []
        if rcpt.outside:
            tags.append(("outside", "bold yellow"))
        if rcpt.client:
            tags.append((f"client {printable(rcpt.client)}", "cyan"))
        if rcpt.allowed:
            tags.append(("allowed", "green"))
        for label, style in tags:
            out.append("  ")
            out.append(label, style=style)
        out.append("\n")
    if rest:
        outside = sum(1 for rcpt in rest if rcpt.outside)
        clients = Counter(rcpt.client for rcpt in rest if rcpt.client)
        out.append(f"   … and {len(rest)} more: {outside} outside", style="dim")
        out.append_text(text("".join(f", client {name} {n}" for name, n in clients.most_common(5)), "dim"))
        out.append(" (all of them: sendguard queue list --json)\n", style="dim")
    if not view.recipients:
        out.append("   (none)\n", style="dim")
    out.append("\nWhy\n", style="bold underline")
    shown = view.reasons
    severe = {"block": 0, "hold": 1, "warn": 2}
    listed_reasons, more = _first(shown, REASON_LIMIT, lambda f: f.severity in severe)
    for finding in listed_reasons:
        out.append(f" {finding.severity:>5} ", style=SEVERITY_STYLES.get(finding.severity, ""))
        out.append_text(text(finding.message, keep_newlines=False))
        out.append(f"  ({finding.rule})\n", style="dim")
    if more:
        rules = Counter(f.rule for f in more)
        out.append(f"   … and {len(more)} more: ", style="dim")
        out.append_text(text(", ".join(f"{rule} {n}" for rule, n in rules.most_common()), "dim"))
        out.append("\n")
    if view.escalated:
        out.append("       (each alone would only warn; together they hold the message)\n", style="dim")
    for note in view.notes:  # a transport's reason may take several lines: each its own
        first, *continued = note.split("\n")
        out.append("  note ", style="bold red")
        out.append_text(text(first))
        out.append("\n")
        for line in continued:
            out.append("       ")
            out.append_text(text(line))
            out.append("\n")
    let_pass = view.verdict in ("pass", "warn")  # its last check: a config error since fixed, or allowed since
    if view.state in ("held", "blocked") and let_pass and not view.notes:
        from sendguard.act.listing import nothing_holds

        out.append(f" {nothing_holds('r')}\n", style="dim")
    elif not shown and not view.notes:
        out.append(" nothing was found\n", style="dim")
    for suggestion in view.suggestions:
        out.append("\nDid you mean ", style="bold green")
        out.append_text(text(suggestion, "bold"))
        out.append("?", style="bold green")
        out.append("  (s: take it)\n", style="dim")
    if view.attachments:
        out.append("\nAttachments\n", style="bold underline")
        evidence = {e.lower() for e in view.evidence}
        for att in view.attachments:
            style = EVIDENCE if att.filename.lower() in evidence else "bold"
            out.append(" ")
            out.append_text(text(att.filename, style, limit=40))
            out.append(f"  {human_size(att.size)}  ")
            out.append_text(text(att.real_type or att.declared_type, "red" if att.mismatch else ""))
            if att.mismatch:
                out.append("  (declared ", style="red")
                out.append_text(text(att.declared_type, "red"))
                out.append(")", style="red")
            out.append("\n   ")
            out.append_text(text(att.description, "dim", limit=70))
            out.append("\n")
    out.append("\nMessage\n", style="bold underline")
    body = view.body
    cut = len(body) > BODY_LIMIT
    body_text = text(body[:BODY_LIMIT].rstrip("\n") or "(empty)", keep_newlines=True)
    body_text.no_wrap = False
    words = [printable(e, keep_newlines=True) for e in view.evidence if e and len(e) >= 2]
    if words:
        body_text.highlight_words(words, EVIDENCE, case_sensitive=False)
    out.append_text(body_text)
    if cut:
        out.append(f"\n… {len(body) - BODY_LIMIT} more characters (e: open in $EDITOR)", style="dim")
    return out
