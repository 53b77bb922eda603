"""Reading the ledger of sent mail (learn.write_ledger): how the user writes to someone, and
the name the user signs with.

Used after the fact (``oops`` drafts, ``setup``), never on the send path. The history file is
opened read-only; a history without a ledger (nothing learned yet, or learned before there was
one) simply has nothing to say.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from sendguard.history.store import path_in
from sendguard.mail.greetings import fold, parse_greeting
from sendguard.mail.voice import usual

LIMIT = 300


def _open(state_dir: Path) -> sqlite3.Connection | None:
    path = path_in(state_dir)
    if not path.exists():
        return None
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None


def _rows(
    state_dir: Path, sql: str, args: tuple[object, ...], addr: str = ""
) -> tuple[list[dict[str, Any]], tuple[str, str]]:
    """The ledger rows a query selects, and the folded (first, last) name of ``addr``."""
    db = _open(state_dir)
    if db is None:
        return [], ("", "")
    try:
        rows = [json.loads(r[0]) for r in db.execute(sql, args)]
        names = db.execute("SELECT first, last FROM contacts WHERE addr = ?", (addr,)).fetchone()
    except (sqlite3.Error, ValueError):
        return [], ("", "")
    finally:
        db.close()
    return rows, (names[0], names[1]) if names else ("", "")


def voice_with(state_dir: Path, addr: str, language: str = "") -> dict[str, str]:
    """{greeting, closing, form}: what the user usually writes to ``addr`` (empty strings where
    the history has nothing), in mail in ``language`` if given. A greeting counts when ``addr``
    was the only recipient or the greeting names them (mail to a boss with a colleague in Cc
    still greets the boss)."""
    rows, (first, last) = _rows(
        state_dir,
        "SELECT l.data FROM contacts c JOIN participants p ON p.contact = c.id "
        "JOIN ledger l ON l.msgid = p.msgid WHERE c.addr = ? LIMIT ?",
        (addr.lower(), LIMIT),
        addr.lower(),
    )
    keys = {k for k in (first, last) if len(k) >= 2}
    voices = []
    for row in rows:
        voice = row.get("voice") or {}
        if language and voice.get("language", language) != language:
            continue
        alone = len(row.get("recipients") or []) == 1
        greeting = parse_greeting(voice.get("greeting", "")) if voice.get("greeting") else None
        named = bool(greeting and keys & {fold(n) for n in greeting.names})
        if alone or named:
            voices.append(voice if named or not greeting else {**voice, "greeting": ""})
    return usual(voices)


def own_display_name(state_dir: Path) -> str:
    """The display name the user sends with most often (From of their own learned mail), or ""."""
    rows, _ = _rows(state_dir, "SELECT data FROM ledger LIMIT ?", (LIMIT,))
    names = Counter(str(r.get("sender_name") or "").strip() for r in rows)
    names.pop("", None)
    return names.most_common(1)[0][0] if names else ""
