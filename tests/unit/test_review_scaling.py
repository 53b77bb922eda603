"""Opening a held message in review grows linearly with its recipients.

A message to 3,000 people took ~9.5 s to open: a property read once per finding went over every
finding again, and every recipient was matched against every client's domains. Counted, not
timed: the lines of sendguard's own code run to list the queue, read the message and draw its
screen, for 200 and for 2,000 recipients. Linear code runs about ten times the lines for ten
times the recipients; quadratic code a hundred times.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sendguard
from sendguard.act.queue import Queue
from sendguard.config import schema as config_mod
from sendguard.recover.review_data import message_view, queue_rows
from sendguard.tui import render

OURS = (str(Path(sendguard.__file__).resolve().parent), str(Path(render.__file__).resolve().parent))
CLIENTS = 40


def lines_run(job: Callable[[], Any]) -> int:
    """How many lines of sendguard's own code ``job`` executes (sys.settrace "line" events)."""
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename.startswith(OURS) else None

    sys.settrace(calls)
    try:
        job()
    finally:
        sys.settrace(None)
    return count


def held_to(tmp_path: Path, count: int) -> tuple[Queue, str]:
    """A held message to ``count`` people at the clients' domains, each reported once, as the
    rules report a big outside audience."""
    envelope = [f"person{i}@client{i % CLIENTS}.example" for i in range(count)]
    head = ",\n ".join(f"Person {i} <{addr}>" for i, addr in enumerate(envelope))
    raw = f"From: Me <me@nordwerk.example>\nTo: {head}\nSubject: news\n\nHello all,\n\nnews.\n".encode()
    findings: list[dict[str, Any]] = [
        {"rule": "external-recipient", "severity": "info", "message": f"{addr} is outside.", "recipient": addr}
        for addr in envelope
    ]
    findings.append({"rule": "audience-size", "severity": "hold", "message": "a big audience", "recipient": None})
    queue = Queue(tmp_path / f"queue-{count}")
    entry, lock = queue.create(
        raw, {"state": "held", "envelope": envelope, "recipients": envelope, "verdict": "hold", "findings": findings}
    )
    lock.release()
    return queue, entry.id


CONFIG = config_mod.parse(
    '[identity]\naddresses = ["me@nordwerk.example"]\n[organization]\ndomains = ["nordwerk.example"]\n'
    + "".join(f'[clients.c{i}]\ndomains = ["client{i}.example", "c{i}.example"]\n' for i in range(CLIENTS))
)


def open_in_review(queue: Queue, entry_id: str) -> None:
    (row,) = queue_rows(queue, 0.0)
    render.preview(row)
    row.matches("person1999")
    view = message_view(queue, entry_id, CONFIG)
    render.detail(view)


def test_opening_a_held_message_grows_linearly_with_its_recipients(tmp_path):
    small, big = (held_to(tmp_path, count) for count in (200, 2000))
    lines_run(lambda: open_in_review(*small))  # imports and first-use caches: not per recipient
    few, many = lines_run(lambda: open_in_review(*small)), lines_run(lambda: open_in_review(*big))
    assert many < 13 * few, f"{few} lines for 200 recipients, {many} for 2,000"


def test_a_long_list_shows_the_flagged_recipients_and_counts_the_rest(tmp_path):
    queue, entry_id = held_to(tmp_path, 2000)
    entry = queue.get(entry_id)
    flagged = "person1999@client39.example"
    findings = [
        *entry.meta["findings"],
        {"rule": "namesake", "severity": "warn", "message": "maybe not", "recipient": flagged},
    ]
    entry.save(findings=findings)
    shown = render.detail(message_view(queue, entry_id, CONFIG)).plain
    listed = [line for line in shown.splitlines() if "@client" in line and "outside" in line]
    assert len(listed) == render.RECIPIENT_LIMIT
    assert listed[0].startswith(f" ! {flagged}")  # the one a reason names comes first
    more = 2000 - render.RECIPIENT_LIMIT
    assert f"   … and {more} more: {more} outside, client c" in shown
    assert "(all of them: sendguard queue list --json)" in shown
