"""Turn the core's view objects into Text for the screen (no widgets here, so it is testable).

Everything message-derived goes through :func:`sendguard.tui.safe.text`; styles are ours.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from sendguard.printable import printable
from sendguard.recover.review_data import MessageView, QueueRow, human_size
from sendguard.tui.safe import text

BODY_LIMIT = 20_000  # characters of body shown; the rest is one key away in $EDITOR

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
    for rcpt in view.recipients:
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
    if not view.recipients:
        out.append("   (none)\n", style="dim")
    out.append("\nWhy\n", style="bold underline")
    shown = view.reasons
    for finding in shown:
        out.append(f" {finding.severity:>5} ", style=SEVERITY_STYLES.get(finding.severity, ""))
        out.append_text(text(finding.message, keep_newlines=False))
        out.append(f"  ({finding.rule})\n", style="dim")
    if view.escalated:
        out.append("       (each alone would only warn; together they hold the message)\n", style="dim")
    for note in view.notes:
        out.append("  note ", style="bold red")
        out.append_text(text(note))
        out.append("\n")
    if not shown and not view.notes:
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
