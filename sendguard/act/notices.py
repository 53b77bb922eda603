"""Notices a person has not seen yet: what sendguard said where no mail program showed it.

aerc discards everything the sendmail program writes, and mutt, neomutt and aerc discard stderr
when it exits 0: a hold explained only there, or a warning on a delivered mail, would reach
nobody. Such a notice is appended to ``notices.jsonl`` in the state dir (and shown as a desktop
notification where a session exists); the next ``sendguard`` command on a terminal and the
review screen show the list and clear it.

Appends are single ``write`` calls on an O_APPEND file, so concurrent senders do not interleave;
``take`` renames the file away first, so a notice added while it reads waits for the next time.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

FILE = "notices.jsonl"


def add(state_dir: Path, kind: str, entry_id: str, title: str, body: list[str]) -> None:
    """Keep a notice until it is shown. Never raises: the queue already has the facts."""
    line = json.dumps(
        {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "kind": kind, "id": entry_id, "title": title, "body": body},
        ensure_ascii=False,
    )
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(state_dir / FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)
    except OSError:
        return  # a notice is a courtesy; queue list and the incident log still say it


def pending(state_dir: Path) -> bool:
    try:
        return (state_dir / FILE).stat().st_size > 0
    except OSError:
        return False


def take(state_dir: Path) -> list[dict[str, Any]]:
    """The unseen notices, oldest first; they count as seen from now on."""
    path = state_dir / FILE
    taken = state_dir / f"{FILE}.{os.getpid()}.taking"
    try:
        os.replace(path, taken)
    except OSError:
        return []
    try:
        text = taken.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    finally:
        try:
            taken.unlink()
        except OSError:
            pass  # read or not, it must not be shown twice
    notices = []
    for line in text.splitlines():
        try:
            notices.append(json.loads(line))
        except ValueError:
            continue  # a torn line from a full disk: skip it, keep the rest
    return notices


def latest_per_message(notices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the latest notice about each message: a message held, then sent again from aerc and
    still held, has two, and the second says all the first did."""
    last = {item.get("id"): index for index, item in enumerate(notices) if item.get("id")}
    return [item for index, item in enumerate(notices) if not item.get("id") or last[item.get("id")] == index]


def as_text(notices: list[dict[str, Any]]) -> list[str]:
    """Lines for a terminal (already printable: render.notice made them)."""
    notices = latest_per_message(notices)
    lines = [f"sendguard: {len(notices)} notice{'s' if len(notices) != 1 else ''} you have not seen:"]
    for item in notices:
        lines.append(f"  {item.get('time', '')}  {item.get('title', '')}")
        lines += [f"    {line}" for line in item.get("body", [])]
    return lines
