"""The per-contact "don't ask again": the user vouches for an address (for one rule, or all).

The CLI (`sendguard trust`) and the review screen call these; rules ask the store's
``is_trusted`` and stay silent about a trusted address.
"""

from __future__ import annotations

import time
from pathlib import Path

from sendguard.history.store import open_for_write
from sendguard.mail.message import normalize_address

ALL_RULES = "*"


def trust(state_dir: Path, addr: str, rule: str | None = None) -> None:
    """Never ask again about ``addr`` (for ``rule``, or for every recipient rule)."""
    db = open_for_write(state_dir)
    try:
        with db:
            db.execute(
                "INSERT OR REPLACE INTO trust VALUES (?, ?, ?)",
                (normalize_address(addr), rule or ALL_RULES, time.time()),
            )
    finally:
        db.close()


def untrust(state_dir: Path, addr: str, rule: str | None = None) -> int:
    """Forget a "don't ask again"; returns how many were removed."""
    db = open_for_write(state_dir)
    try:
        with db:
            if rule:
                cur = db.execute("DELETE FROM trust WHERE addr = ? AND rule = ?", (normalize_address(addr), rule))
            else:
                cur = db.execute("DELETE FROM trust WHERE addr = ?", (normalize_address(addr),))
            return cur.rowcount
    finally:
        db.close()


def trusted(state_dir: Path) -> list[tuple[str, str]]:
    db = open_for_write(state_dir)
    try:
        return [(a, r) for a, r in db.execute("SELECT addr, rule FROM trust ORDER BY addr, rule")]
    finally:
        db.close()
