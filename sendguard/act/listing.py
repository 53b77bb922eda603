"""The queue as a person reads it: one summary per entry and why it is kept.

Shared by ``sendguard queue list`` and ``sendguard-sendmail -bp`` (which must not import click).
"""

from __future__ import annotations

from collections.abc import Iterator

from sendguard.act import queue as q
from sendguard.printable import column, printable


def summary(entry: q.Entry) -> dict[str, object]:
    """The ``queue list --json`` row (contract.md)."""
    meta = entry.meta
    return {
        "id": entry.id,
        "state": entry.state,
        "recipients": meta.get("envelope", meta.get("recipients", [])),
        "subject": meta.get("subject", ""),
        "verdict": meta.get("verdict", "hold"),
        "created": meta.get("created", ""),
    }


def reason(entry: q.Entry) -> str:
    """Why it is kept: for a failed or deferred delivery what the transport said (the undo
    window's worker delivers with nobody watching: this is where the person reads why it did
    not leave), else what the rules found, else the error that kept it."""
    meta = entry.meta
    if entry.state == q.SUPERSEDED:
        return f"superseded by {meta.get('superseded_by', '?')}: sent again, fixed; nobody needs to act on this copy"
    if entry.state in (q.DEFERRED, q.FAILED) and (meta.get("transport_error") or meta.get("transport_exit")):
        return f"transport: {meta.get('transport_error') or 'exit ' + str(meta['transport_exit'])}"
    why = next(
        (f["message"] for f in meta.get("findings", []) if f.get("severity") != "info"), (meta.get("error") or [""])[0]
    )
    if not why and entry.state in (q.HELD, q.BLOCKED):
        return nothing_holds(f"sendguard release {entry.id}")
    return str(why)


def nothing_holds(way_out: str) -> str:
    """Why a message is kept that its last check let pass (kept by a config error since fixed,
    or its recipient allowed since): nothing; a person still sends it, by ``way_out``."""
    return f"nothing holds it now (checked again under the config in force): {way_out} sends it"


def entries(queue: q.Queue, show_all: bool = False) -> Iterator[q.Entry]:
    """The entries a person should see, in their effective state (final ones only with ``show_all``)."""
    from sendguard.act.ops import effective_state

    for entry in queue.entries():
        entry.meta["state"] = effective_state(queue, entry)
        if show_all or entry.state not in q.FINAL_STATES:
            yield entry


def text_lines(entry: q.Entry) -> list[str]:
    """One line per entry, and a second saying why it is kept."""
    row = summary(entry)
    recipients = column(printable(", ".join(row["recipients"])), 40)  # type: ignore[arg-type]
    lines = [f"{entry.id}  {entry.state:11} {recipients}  {column(printable(str(row['subject'])), 40).rstrip()}"]
    why = reason(entry)
    if why and entry.state not in q.FINAL_STATES:
        # a transport's reason of several lines (msmtp's, the server's reply): each on its own
        first, *more = [line for line in why.split("\n") if line.strip()]
        lines.append(f"    {clip(printable(first), REASON_LIMIT)}")
        lines += [f"      {clip(printable(line), REASON_LIMIT)}" for line in more[:REASON_LINES]]
        if len(more) > REASON_LINES:
            lines.append(f"      … {len(more) - REASON_LINES} more lines")
    return lines


REASON_LIMIT = 300  # a namesake's reason with both addresses is ~200; a hostile one is cut
REASON_LINES = 8  # msmtp: its reason, the server's reply (a line each), the account


def clip(text: str, limit: int) -> str:
    """``text`` whole, or cut at a word before ``limit`` with "…": never mid-word, never silently."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    return text[: cut if cut > limit // 2 else limit - 1].rstrip() + " …"
