"""Forgetting: take a message that was a mistake back out of the history, and keep it out.

A misdirected message that was delivered has been learned, so the next such mistake would look
ordinary. ``forget`` takes back exactly what learning added for it, by learning it again into an
empty store and subtracting that (ARCHITECTURE.md, "After a mistake"), and records its
Message-ID in ``forgotten``, which learning skips.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass, fields

from sendguard.history.learn import Learner, Observed, observe_message
from sendguard.history.store import SCHEMA
from sendguard.mail.message import normalize_address
from sendguard.mail.mimetree import decode_header

CONTACT_REFS = ("a", "b", "contact")
# Tables whose rows are not counts of messages: names, the user's trust, the bookkeeping itself.
NOT_COUNTS = frozenset({"meta", "contacts", "alias", "trust", "forgotten", "oops_drafts", "changes"})


@dataclass
class Forgotten:
    """What one ``forget`` did."""

    msgid: str
    learned: bool
    """It had been learned and is now taken back (False: it is only kept out from now on)."""
    contacts: int = 0
    """Contacts whose counts went down."""


def message_id(value: str) -> str:
    """A Message-ID as learning keys it ("<a@b>" and "a@b" are the same)."""
    return normalize_address(decode_header(value))


def observed_from_ledger(db: sqlite3.Connection, msgid: str) -> Observed | None:
    row = db.execute("SELECT data FROM ledger WHERE msgid = ?", (msgid,)).fetchone()
    if not row:
        return None
    data = json.loads(row[0])
    names = {f.name for f in fields(Observed)}
    return Observed(**{k: v for k, v in data.items() if k in names})


def forget_raw(db: sqlite3.Connection, raw: bytes, own: list[str], org_domains: list[str]) -> Forgotten | None:
    """Forget one message given as bytes (a queue entry). None: it has no usable From."""
    observed = observe_message(raw, {a.lower() for a in own}, list(org_domains))
    if observed is None:
        return None
    return forget(db, observed.msgid, fallback=observed, subject=observed.subject)


def forget(
    db: sqlite3.Connection, msgid: str, *, fallback: Observed | None = None, subject: str = "", now: float | None = None
) -> Forgotten:
    """Take ``msgid`` out of the history (if learned) and keep it out. One transaction.

    The ledger's observation is preferred (it is what was counted); ``fallback`` (the message
    parsed now) serves for a message learned before the ledger existed."""
    msgid = message_id(msgid)
    with db:
        db.execute(
            "INSERT OR IGNORE INTO forgotten VALUES (?, ?, ?)", (msgid, time.time() if now is None else now, subject)
        )
        learned = db.execute("SELECT 1 FROM messages WHERE msgid = ?", (msgid,)).fetchone() is not None
        observed = observed_from_ledger(db, msgid) or fallback
        if not learned or observed is None:
            return Forgotten(msgid, learned=False)
        touched = _subtract(db, observed)
        # readers carry no kept count over this (store.HistoryStore.carry): an empty change
        db.execute("INSERT INTO changes (before, after, data) VALUES (-1, -1, '')")
    return Forgotten(msgid, learned=True, contacts=touched)


def remember_raw(db: sqlite3.Connection, raw: bytes, own: list[str], org_domains: list[str]) -> None:
    """A message kept out as never sent (undone, discarded) has left after all, from its draft
    with the same Message-ID: it is real history now, and learning may take it in."""
    if db.execute("SELECT 1 FROM forgotten LIMIT 1").fetchone() is None:
        return
    observed = observe_message(raw, {a.lower() for a in own}, list(org_domains))
    if observed is not None:
        with db:
            db.execute("DELETE FROM forgotten WHERE msgid = ?", (message_id(observed.msgid),))


_FOLDED = re.compile(r"(?:[^\x00-\x7f]|\?)+")


def oops_draft_key(recipient: str, subject: str) -> tuple[str, str]:
    """A draft of ``oops`` as it is known once sent: its one recipient and its subject, each
    run of characters outside ASCII one "?" (mutt in the C locale sends "Geh??lter" for the
    draft's "Gehälter")."""
    return normalize_address(recipient), _FOLDED.sub("?", " ".join(subject.split()))


def note_oops_drafts(db: sqlite3.Connection, drafts: list[tuple[str, str]], now: float | None = None) -> None:
    """The drafts ``oops`` wrote, by their one recipient and subject: once sent, each is a
    message about a mistake, not history (``is_oops_draft``)."""
    with db:
        db.executemany(
            "INSERT OR IGNORE INTO oops_drafts VALUES (?, ?, ?)",
            [(*oops_draft_key(to, subject), time.time() if now is None else now) for to, subject in drafts],
        )


def is_oops_draft(db: sqlite3.Connection, recipients: list[str], subject: str) -> bool:
    """Whether a message to ``recipients`` with ``subject`` is a draft of ``oops``, as written.
    The apology to whoever got the mistake names its subject, and the forward carries it whole:
    learned, they would teach that the wrong person is one the user writes such mail to."""
    if len(recipients) != 1:
        return False
    recipient, folded = oops_draft_key(recipients[0], subject)
    rows = db.execute("SELECT subject FROM oops_drafts WHERE recipient = ?", (recipient,)).fetchall()
    return any(oops_draft_key(recipient, row[0])[1] == folded for row in rows)


def is_forgotten(db: sqlite3.Connection, msgid: str) -> bool:
    return db.execute("SELECT 1 FROM forgotten WHERE msgid = ?", (message_id(msgid),)).fetchone() is not None


def _scratch(observed: Observed) -> sqlite3.Connection:
    """The counts this one message adds, in an empty in-memory store, by learning's own code."""
    scratch = sqlite3.connect(":memory:")
    scratch.executescript(SCHEMA)
    with scratch:
        Learner(scratch, [], [])._write([observed])
    return scratch


def _columns(db: sqlite3.Connection, table: str) -> list[tuple[str, str, int]]:
    """(name, declared type, position in the primary key) of each column."""
    return [(r[1], (r[2] or "").upper(), r[5]) for r in db.execute(f"PRAGMA table_info({table})")]


def _subtract(db: sqlite3.Connection, observed: Observed) -> int:
    scratch = _scratch(observed)
    try:
        addr_of = dict(scratch.execute("SELECT id, addr FROM contacts"))
        real = {
            a: i
            for a, i in (
                (a, db.execute("SELECT id FROM contacts WHERE addr = ?", (a,)).fetchone()) for a in addr_of.values()
            )
            if i
        }
        real_id = {sid: real[a][0] for sid, a in addr_of.items() if a in real}
        tables = [r[0] for r in scratch.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = _columns(scratch, table)
            names = [c[0] for c in columns]
            if "msgid" in names and table not in NOT_COUNTS:
                db.execute(f"DELETE FROM {table} WHERE msgid = ?", (observed.msgid,))
                continue
            if table in NOT_COUNTS:
                continue
            _subtract_table(db, scratch, table, columns, real_id)
        _subtract_contacts(db, scratch, real)
        for key, value in scratch.execute("SELECT key, value FROM meta"):
            if key != "schema" and str(value).lstrip("-").isdigit():
                db.execute(
                    "UPDATE meta SET value = CAST(max(CAST(value AS INTEGER) - ?, 0) AS TEXT) WHERE key = ?",
                    (int(value), key),
                )
        return len(real)
    finally:
        scratch.close()


def _subtract_table(
    db: sqlite3.Connection,
    scratch: sqlite3.Connection,
    table: str,
    columns: list[tuple[str, str, int]],
    real_id: dict[int, int],
) -> None:
    keys = [name for name, _, pk in sorted(columns, key=lambda c: c[2]) if pk]
    counters = [name for name, kind, pk in columns if not pk and kind.startswith("INT")]
    if not keys or not counters:
        return
    where = " AND ".join(f"{k} = ?" for k in keys)
    sets = ", ".join(f"{c} = {c} - ?" for c in counters)
    gone = " AND ".join(f"{c} <= 0" for c in counters)
    for row in scratch.execute(f"SELECT {', '.join(keys + counters)} FROM {table}"):
        key = list(row[: len(keys)])
        for i, name in enumerate(keys):
            if name in CONTACT_REFS:
                if key[i] not in real_id:
                    break
                key[i] = real_id[key[i]]
        else:
            db.execute(f"UPDATE {table} SET {sets} WHERE {where}", (*row[len(keys) :], *key))
            db.execute(f"DELETE FROM {table} WHERE {where} AND {gone}", key)


def _subtract_contacts(db: sqlite3.Connection, scratch: sqlite3.Connection, real: dict[str, tuple[int]]) -> None:
    counters = [n for n, kind, pk in _columns(scratch, "contacts") if kind.startswith("INT") and n != "id"]
    sets = ", ".join(f"{c} = max({c} - ?, 0)" for c in counters)
    for row in scratch.execute(f"SELECT addr, {', '.join(counters)} FROM contacts"):
        if row[0] in real:
            db.execute(f"UPDATE contacts SET {sets} WHERE addr = ?", (*row[1:], row[0]))
    for (cid,) in real.values():
        db.execute(
            "UPDATE contacts SET "
            "last_sent = coalesce((SELECT max(m.date) FROM participants p JOIN messages m ON m.msgid = p.msgid "
            "WHERE p.contact = ?1 AND m.sent = 1), 0), "
            "last_seen = coalesce((SELECT max(m.date) FROM participants p JOIN messages m ON m.msgid = p.msgid "
            "WHERE p.contact = ?1), 0) WHERE id = ?1",
            (cid,),
        )
        row = db.execute("SELECT seen, sent, received FROM contacts WHERE id = ?", (cid,)).fetchone()
        if row and max(row) <= 0:  # no message mentions them any more: as if never seen
            for table, column in (("pairs", "a"), ("pairs", "b"), ("words", "contact"), ("senders", "contact")):
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (cid,))
            db.execute("DELETE FROM contacts WHERE id = ?", (cid,))
