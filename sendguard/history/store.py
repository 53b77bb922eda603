"""The contact store: one sqlite file under the state dir, read by the rules, written by learning.

Every lookup the send path makes is indexed and bounded by the *message*, never by the size of
the history, so a check costs the same with 100 or 100,000 contacts; opening is cheap (read-only,
no schema work) and happens only when a rule first asks. The tables: ARCHITECTURE.md, "The
history store".
"""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, NoReturn, cast

from sendguard.errors import SendguardError
from sendguard.exitcodes import ExitCode

FILENAME = "history.sqlite"
MAX_KEPT_LOOKUPS = 200_000
SCHEMA_VERSION = 6
"""2: the name-key indexes (``near_names``). Migration is the schema script itself: every
``open_for_write`` (learning, each delivered mail) runs it, and ``CREATE INDEX IF NOT EXISTS``
builds a missing index from the rows already there. Until then a read-only check of an older
file gets the same answers from a table scan.
3: ``contacts.last_received`` (how recently the user heard from a contact; ``last_seen`` counts
the user's own mail too). ``open_for_write`` adds the column to an older file; until then a
reader sees 0 for it (HistoryStore.columns).
4: ``lists``, the mailing lists received mail came through (``HistoryStore.lists``); until the
first write a reader of an older file knows none.
5: ``changes``, what each learned batch added to the word, pair and vocabulary counts, so that a
reader carries its kept lookups over a change (``HistoryStore.carry``); a reader of an older
file, or of one written by an older version since, starts its lookups afresh.
6: ``changes.notes``, the same in a form a reader adds up in a fraction of the time (per contact
its words in one string and their counts in a list); ``data`` stays empty, so a reader of schema
5 carries nothing over such a batch, and one of 6 nothing over a batch noted in ``data``."""
KEPT_CHANGES = 64
"""How many batches' changes the history keeps for readers that are behind."""
MAX_CARRIED = 400_000
"""The most characters of changes a store adds to the counts it carries over (a batch of 25
ten-kB messages notes ~35,000, carried over in ~2 ms): a store further behind reads afresh, at
~1 ms per check for its next few checks."""

# The expressions of the name-key indexes: sqlite uses an expression index only for a query that
# spells the expression exactly the same way, so both sides take them from here.
NAME_KEYS = ("substr(first, 1, 2) || substr(last, 1, 1)", "substr(first, 1, 1) || substr(last, 1, 2)")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY,
    addr TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    first TEXT NOT NULL DEFAULT '',
    last TEXT NOT NULL DEFAULT '',
    prefix TEXT NOT NULL DEFAULT '',
    domain TEXT NOT NULL DEFAULT '',
    sent INTEGER NOT NULL DEFAULT 0,
    received INTEGER NOT NULL DEFAULT 0,
    seen INTEGER NOT NULL DEFAULT 0,
    words INTEGER NOT NULL DEFAULT 0,
    last_sent REAL NOT NULL DEFAULT 0,
    last_seen REAL NOT NULL DEFAULT 0,
    last_received REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS contacts_first_sent ON contacts(first, sent DESC);
CREATE INDEX IF NOT EXISTS contacts_last_sent ON contacts(last, sent DESC);
CREATE INDEX IF NOT EXISTS contacts_prefix_sent ON contacts(prefix, sent DESC);
CREATE INDEX IF NOT EXISTS contacts_domain_sent ON contacts(domain, sent DESC);
CREATE INDEX IF NOT EXISTS contacts_name_key_first ON contacts(substr(first, 1, 2) || substr(last, 1, 1), sent DESC);
CREATE INDEX IF NOT EXISTS contacts_name_key_last ON contacts(substr(first, 1, 1) || substr(last, 1, 2), sent DESC);
CREATE TABLE IF NOT EXISTS pairs (a INTEGER NOT NULL, b INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS words (contact INTEGER NOT NULL, word TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (contact, word)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vocab (word TEXT PRIMARY KEY, df INTEGER NOT NULL DEFAULT 0,
    internal INTEGER NOT NULL DEFAULT 0, outside INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (msgid TEXT PRIMARY KEY, subject TEXT NOT NULL, date REAL NOT NULL,
    sent INTEGER NOT NULL, outside INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_subject ON messages(subject);
CREATE TABLE IF NOT EXISTS participants (msgid TEXT NOT NULL, contact INTEGER NOT NULL,
    PRIMARY KEY (msgid, contact)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS domains (domain TEXT PRIMARY KEY, sent INTEGER NOT NULL DEFAULT 0,
    seen INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS domains_sent ON domains(sent);
CREATE TABLE IF NOT EXISTS senders (contact INTEGER NOT NULL, sender TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (contact, sender)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alias (alias TEXT NOT NULL, first TEXT NOT NULL,
    PRIMARY KEY (alias, first)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alias_first ON alias(first);
CREATE TABLE IF NOT EXISTS samples (msgid TEXT PRIMARY KEY, date REAL NOT NULL, raw BLOB NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS samples_date ON samples(date);
CREATE TABLE IF NOT EXISTS copies (key TEXT PRIMARY KEY, msgid TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS examples (msgid TEXT PRIMARY KEY, date REAL NOT NULL, data TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trust (addr TEXT NOT NULL, rule TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (addr, rule)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lists (addr TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger (msgid TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS forgotten (msgid TEXT PRIMARY KEY, created REAL NOT NULL,
    subject TEXT NOT NULL DEFAULT '') WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY, before INTEGER NOT NULL, after INTEGER NOT NULL,
    data TEXT NOT NULL, notes TEXT);
CREATE TABLE IF NOT EXISTS oops_drafts (recipient TEXT NOT NULL, subject TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (recipient, subject)) WITHOUT ROWID;
"""

# How many characters of an address's local part count as "typed" for autocomplete.
PREFIX_CHARS = 3


def path_in(state_dir: Path) -> Path:
    return Path(state_dir) / FILENAME


def set_aside_command(state_dir: Path) -> str:
    """The shell command that moves a damaged history (and its -wal, -shm) aside and learns anew."""
    where = path_in(state_dir)
    return f"mkdir {state_dir}/damaged && mv {where}* {state_dir}/damaged/ && sendguard learn ~/Mail/Sent ~/Mail/INBOX"


FUTURE_SLACK = 86400.0
"""A Date further ahead than this is a wrong clock: learning counts the message but not when the
user was last in touch with its people (it would make them current until then), and doctor's
newest mail ignores it."""


class HistoryDamaged(SendguardError):
    """The history file is no sound sqlite database (or no file at all): nothing is written into it."""

    exit_code = ExitCode.DATAERR

    def __init__(self, state_dir: Path, reason: str) -> None:
        super().__init__(
            f"the history {path_in(state_dir)} is damaged ({reason})",
            hints=[
                f"set it aside and learn again: {set_aside_command(state_dir)}",
                "(then forget again any mistake you had taken out with `sendguard forget`)",
            ],
        )

    @classmethod
    def of(cls, err: sqlite3.DatabaseError, state_dir: Path) -> HistoryDamaged | None:
        """``err`` as this error when sqlite says the file is not (or no longer) a database."""
        return cls(state_dir, str(err)) if err.sqlite_errorname in ("SQLITE_NOTADB", "SQLITE_CORRUPT") else None

    @classmethod
    def reraise(cls, err: sqlite3.DatabaseError, state_dir: Path) -> NoReturn:
        """Raise ``err`` as this error when it says the history is damaged, else ``err`` itself."""
        damaged = cls.of(err, state_dir)
        if damaged is None:
            raise err
        raise damaged from None


def not_a_file(path: Path) -> str:
    """What stands at ``path`` when it is there and no regular file (links followed), as words
    ("a directory"), else "". sqlite cannot use it, and opening a FIFO would wait for a writer."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return ""
    if stat.S_ISREG(mode):
        return ""
    kinds = {stat.S_ISDIR: "a directory", stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket"}
    return next((words for test, words in kinds.items() if test(mode)), "a device")


def damage(path: Path) -> str:
    """What sqlite finds wrong with the history file at ``path`` (its first complaint), or ""
    when it is sound or there is none. Reads every page: for ``doctor``, not the send path."""
    if not path.is_file() or path.stat().st_size == 0:
        return ""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as err:
        return str(err)
    try:
        (first,) = db.execute("PRAGMA quick_check(1)").fetchone()
        return "" if first == "ok" else str(first).replace("*** in database main ***", "").strip()
    except sqlite3.Error as err:
        return str(err)
    finally:
        db.close()


def prefix_of(addr: str) -> str:
    return addr[:PREFIX_CHARS].lower()


@dataclass(frozen=True)
class Contact:
    id: int
    addr: str
    name: str
    first: str
    last: str
    domain: str
    sent: int
    received: int
    seen: int
    words: int
    last_sent: float
    last_seen: float
    last_received: float = 0.0

    @property
    def known(self) -> bool:
        """The user has written to this address before."""
        return self.sent > 0


CONTACT_COLUMNS = (
    "id, addr, name, first, last, domain, sent, received, seen, words, last_sent, last_seen, last_received"
)
# The same for a file from before schema 3, read before its first write adds the column.
CONTACT_COLUMNS_V2 = CONTACT_COLUMNS.replace("last_received", "0 AS last_received")


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _by_id(counts: dict[tuple[int, Any], int]) -> dict[int, dict[Any, int]]:
    """(id, item) -> n as id -> item -> n."""
    out: dict[int, dict[Any, int]] = {}
    for (i, x), n in counts.items():
        out.setdefault(i, {})[x] = n
    return out


class HistoryStore:
    """Read access for the rules (and, through ``connection``, write access for learning)."""

    # Nothing kept unless __init__ says so: also for a subclass that does not call it
    # (decide.train.LeaveOut, the history less one message, whose answers are its own).
    _kept: dict[tuple[object, ...], object] | None = None
    _kept_items = 0

    def __init__(self, connection: sqlite3.Connection, keep_lookups: bool = False) -> None:
        self.db = connection
        has_last_received = any(row[1] == "last_received" for row in connection.execute("PRAGMA table_info(contacts)"))
        self.columns = CONTACT_COLUMNS if has_last_received else CONTACT_COLUMNS_V2
        self._contacts: dict[str, Contact | None] = {}
        self._aliases: dict[str, set[str]] = {}
        self._trusted: dict[str, set[str]] = {}
        self._rows: dict[tuple[object, ...], list[Contact]] = {}
        self.memo: dict[tuple[object, ...], object] = {}
        """Results derived from the store (e.g. history.twins), kept for the store's lifetime: one
        process checking many messages asks about the same contacts again and again, and the
        store is replaced as soon as the file changes (``open_read_only``)."""
        self._kept_items = 0
        self._kept = {} if keep_lookups else None
        """Per-item answers of the word, name and pair lookups (``keep_lookups``: a store only read,
        replaced when its file changes, as ``open_read_only``'s). Each message asks about its own
        words and contacts, and the next message of the same writer about mostly the same: a
        lookup kept costs a dictionary access, against ~1-2 us per item in sqlite."""
        self._at: tuple[int, int] | None = None
        """(change, messages): the ``changes`` row and message count every kept count is read at,
        for a store ``open_read_only`` made (None: unknown, nothing is carried from it)."""

    @property
    def keeps_lookups(self) -> bool:
        """Whether this store keeps its lookups: then a count it handed out is its answer for as
        long as the store lives (it is only read, and replaced when its file changes)."""
        return self._kept is not None

    # -- contacts --------------------------------------------------------------------------

    def contact(self, addr: str) -> Contact | None:
        addr = addr.lower()
        if addr not in self._contacts:
            row = self.db.execute(f"SELECT {self.columns} FROM contacts WHERE addr = ?", (addr,)).fetchone()
            self._contacts[addr] = Contact(*row) if row else None
        return self._contacts[addr]

    def _many(self, where: str, args: Sequence[object], limit: int) -> list[Contact]:
        key = (where, *args, limit)
        if key not in self._rows:
            rows = self.db.execute(
                f"SELECT {self.columns} FROM contacts WHERE {where} ORDER BY sent DESC LIMIT ?", (*args, limit)
            ).fetchall()
            self._rows[key] = [Contact(*row) for row in rows]
        return list(self._rows[key])

    def full_forms(self, names: Iterable[str]) -> set[str]:
        """``names`` and the first names the history knows them as short forms of ("bill": william)."""
        names = sorted(set(names))
        if not names:
            return set()
        rows = self.db.execute(f"SELECT first FROM alias WHERE alias IN ({_marks(len(names))})", names)
        return {r[0] for r in rows} | set(names)

    def by_first(self, names: Iterable[str], limit: int = 50) -> list[Contact]:
        """Contacts whose first name is one of ``names`` or has one of them as a short form."""
        firsts = self.full_forms(names)
        if not firsts:
            return []
        found = [c for first in sorted(firsts) for c in self._many("first = ?", (first,), limit)]
        return sorted(found, key=lambda c: -c.sent)[:limit]

    def by_last(self, name: str, limit: int = 50) -> list[Contact]:
        return self._many("last = ?", (name,), limit) if name else []

    def at_domain(self, domain: str, limit: int = 20) -> list[Contact]:
        """The contacts the user writes to most at one domain."""
        return self._many("domain = ?", (domain,), limit)

    def by_prefix(self, addr: str, limit: int = 50) -> list[Contact]:
        return self._many("prefix = ?", (prefix_of(addr),), limit)

    def known_first_names(self, words: Sequence[str]) -> set[str]:
        """Those of ``words`` that are a first name (or a short form of one) in the history."""
        if not words:
            return set()
        wanted = set(words)
        names = self._kept_answers("name", wanted, lambda missing: dict.fromkeys(self._known_first_names(missing)))
        if names is None:
            return self._known_first_names(words)
        return names.keys() & wanted

    def _known_first_names(self, words: Sequence[str]) -> set[str]:
        rows = self.db.execute(f"SELECT DISTINCT alias FROM alias WHERE alias IN ({_marks(len(words))})", tuple(words))
        return {r[0] for r in rows}

    def _kept_answers(
        self, kind: str, wanted: set[str], query: Callable[[list[str]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """word -> answer of one kind of lookup, for the words asked so far that have one, once
        ``query`` (given the sorted words not asked yet) has answered ``wanted``; None if this store
        keeps no lookups. Set operations find what to ask and what was found."""
        kept = self._kept_for()
        if kept is None:
            return None
        entry = kept.get((kind,))
        if entry is None:
            entry = kept[(kind,)] = (set(), {})
        asked, known = cast("tuple[set[str], dict[str, Any]]", entry)
        missing = wanted - asked
        if missing:
            known.update(query(sorted(missing)))
            asked |= missing  # asked only once its answers are in (a reader on another thread)
            self._kept_items += len(missing)
        return known

    def _kept_for(self) -> dict[tuple[object, ...], object] | None:
        """The kept lookups, if this store keeps them (emptied first when they grew too many)."""
        kept = self._kept
        if kept is not None and len(kept) + self._kept_items > MAX_KEPT_LOOKUPS:
            kept.clear()
            self._kept_items = 0
        return kept

    def first_names_of(self, contact: Contact) -> set[str]:
        """Every greeting form of a contact's first name."""
        if len(contact.first) < 2:
            return set()
        if contact.first not in self._aliases:
            rows = self.db.execute("SELECT alias FROM alias WHERE first = ?", (contact.first,))
            self._aliases[contact.first] = {r[0] for r in rows} | {contact.first}
        return self._aliases[contact.first]

    # -- co-recipients, words, threads -------------------------------------------------------

    def pair_counts(self, ids: Sequence[int], others: Sequence[int]) -> dict[tuple[int, int], int]:
        if not ids or not others:
            return {}
        kept = self._kept_for()
        if kept is None:
            return self._pair_counts(ids, others)
        self._keep_counts("pair", ids, others, lambda i, o: _by_id(self._pair_counts(i, o)))
        wanted = set(others)
        out = {}
        for i in ids:
            counts = kept[("pair", i)][1]  # type: ignore[index]
            for o in counts.keys() & wanted:
                out[(i, o)] = counts[o]
        return out

    def _pair_counts(self, ids: Sequence[int], others: Sequence[int]) -> dict[tuple[int, int], int]:
        rows = self._read(
            f"SELECT a, b, n FROM pairs WHERE a IN ({_marks(len(ids))}) AND b IN ({_marks(len(others))})",
            (*ids, *others),
            3,
        )
        return {(a, b): n for a, b, n in rows}

    def _read(self, query: str, args: Sequence[object], width: int) -> list[Any]:
        """The rows of a counts query. A store that may carry its lookups over a change reads,
        in the same statement (one snapshot), which change the history is at: counts read at
        another than the store's own cannot be carried."""
        at = self._at
        if at is None:
            return self.db.execute(query, args).fetchall()
        marker = ", ".join(["NULL"] * (width - 1))
        rows = self.db.execute(
            f"SELECT {marker}, (SELECT ifnull(max(seq), 0) FROM changes) UNION ALL {query}", args
        ).fetchall()
        # the marker is the row whose first column is NULL (no counted row has one): a compound
        # select without ORDER BY promises no order
        found = next(i for i, row in enumerate(rows) if row[0] is None)
        if rows.pop(found)[-1] != at[0]:
            self._at = None
        return rows

    def contact_words(self, ids: Sequence[int], words: Sequence[str]) -> dict[int, Mapping[str, int]]:
        """Each id's word counts: of ``words``, those it has a row for, and maybe words asked
        about before (intersect with your own). Read only: a kept store hands out its own dicts,
        so the next message of the same writer costs no copy."""
        if not ids or not words:
            return {i: {} for i in ids}
        kept = self._kept_for()
        if kept is None:
            return self._contact_words(ids, words)
        self._keep_counts("word", ids, words, self._contact_words)
        return {i: kept[("word", i)][1] for i in ids}  # type: ignore[index]

    def _keep_counts(
        self,
        kind: str,
        ids: Sequence[int],
        items: Sequence[Any],
        query: Callable[[Sequence[int], Sequence[Any]], Mapping[int, Mapping[Any, int]]],
    ) -> None:
        """Keep, per id, the items asked about so far and the counts of those that have a row;
        sqlite is asked only about what some id was not asked about yet (set operations, so a
        miss costs little). A kept count never changes: a reader may derive from it."""
        kept = self._kept
        assert kept is not None
        wanted = set(items)
        gaps: dict[int, set[Any]] = {}
        missing: set[Any] = set()
        for i in dict.fromkeys(ids):
            entry = kept.get((kind, i))
            gap = wanted if entry is None else wanted - entry[0]  # type: ignore[index]
            if gap:
                gaps[i] = gap
                missing |= gap
        if not gaps:
            return
        found = query(list(gaps), sorted(missing, key=str))
        entries = {}
        for i, gap in gaps.items():
            entry = kept.get((kind, i))
            entries[i] = kept[(kind, i)] = (set(), {}) if entry is None else entry
            counts = entries[i][1]  # type: ignore[index]
            for x, n in found.get(i, {}).items():
                if x in gap:
                    counts[x] = n
        for i, gap in gaps.items():  # asked only once its counts are in (a reader on another thread)
            entries[i][0].update(gap)  # type: ignore[index]
        self._kept_items += sum(map(len, gaps.values()))

    def _contact_words(self, ids: Sequence[int], words: Sequence[str]) -> dict[int, Mapping[str, int]]:
        rows = self._read(
            f"SELECT contact, word, n FROM words WHERE contact IN ({_marks(len(ids))}) "
            f"AND word IN ({_marks(len(words))})",
            (*ids, *words),
            3,
        )
        out: dict[int, dict[str, int]] = {i: {} for i in ids}
        for c, w, n in rows:
            out[c][w] = n
        return out  # type: ignore[return-value]

    def vocab(self, words: Sequence[str]) -> dict[str, tuple[int, int, int]]:
        """word -> (messages, internal-only messages, messages with an outside participant), the
        words in sorted order (as sqlite answers an IN list on the key; a test checks it); a new
        dict, the caller's to change."""
        if not words:
            return {}
        wanted = set(words)
        known = self._kept_answers("vocab", wanted, self._vocab)
        if known is None:
            return self._vocab(words)
        found = sorted(known.keys() & wanted)
        return dict(zip(found, map(known.__getitem__, found)))

    def _vocab(self, words: Sequence[str]) -> dict[str, tuple[int, int, int]]:
        rows = self._read(
            f"SELECT word, df, internal, outside FROM vocab WHERE word IN ({_marks(len(words))})", tuple(words), 4
        )
        return {w: (df, i, o) for w, df, i, o in rows}

    def carry(self, previous: HistoryStore) -> bool:
        """Take over ``previous``'s kept word, pair and vocabulary counts (a store of the same file
        before it changed), with what each batch learned since added: a check after learning
        then asks sqlite only about what is new to it. Nothing is carried (False) unless every
        change between the two is in ``changes`` and every count was read at ``previous``'s own.
        ``previous`` keeps no lookups afterwards."""
        before, now, kept = previous._at, self._at, previous._kept
        if before is None or now is None or kept is None or self._kept is None or before[0] > now[0]:
            return False
        try:
            rows = self.db.execute(
                "SELECT before, after, notes FROM changes WHERE seq > ? AND seq <= ? ORDER BY seq", (before[0], now[0])
            ).fetchall()
        except sqlite3.OperationalError:  # a file of schema 5, not written to by this version yet
            return False
        messages = before[1]
        for start, end, notes in rows:
            if start != messages or not notes:
                return False  # a change learned by a version that does not note them, or a forget
            messages = end
        if len(rows) != now[0] - before[0] or messages != now[1]:
            return False
        if sum(len(row[2]) for row in rows) > MAX_CARRIED:
            return False  # far behind: adding it all up would cost more than reading afresh
        changes = [c for c in map(_change_of, (row[2] for row in rows)) if c is not None]
        if len(changes) != len(rows):
            return False  # not written by this version: read afresh rather than guess
        previous._kept, previous._at = None, None
        for key in [k for k in kept if k[0] not in ("word", "pair", "vocab")]:
            del kept[key]
        vocab = kept.get(("vocab",))
        for change in changes:
            for i, words, ns in change.words:
                entry = kept.get(("word", i))
                if entry is not None:
                    _add(entry, words.split(" "), ns)  # type: ignore[arg-type]
            for i, x, n in change.pairs:
                entry = kept.get(("pair", i))
                if entry is not None and x in entry[0]:  # type: ignore[index]
                    counts = entry[1]  # type: ignore[index]
                    counts[x] = counts.get(x, 0) + n
            if vocab is not None:
                _add_vocab(vocab, change)  # type: ignore[arg-type]
        self._kept, self._kept_items = kept, previous._kept_items
        return True

    def thread_participants(self, msgids: Sequence[str]) -> set[str]:
        if not msgids:
            return set()
        rows = self.db.execute(
            f"SELECT DISTINCT c.addr FROM participants p JOIN contacts c ON c.id = p.contact "
            f"WHERE p.msgid IN ({_marks(len(msgids))})",
            tuple(msgids),
        )
        return {r[0] for r in rows}

    def known_messages(self, msgids: Sequence[str]) -> list[tuple[str, int]]:
        """(msgid, outside) for those of ``msgids`` the history holds."""
        if not msgids:
            return []
        rows = self.db.execute(
            f"SELECT msgid, outside FROM messages WHERE msgid IN ({_marks(len(msgids))})", tuple(msgids)
        )
        return [(m, o) for m, o in rows]

    def subject_counts(self, subject: str, limit: int = 500) -> tuple[int, int]:
        """(messages, messages with an outside participant) under this subject key."""
        if not subject:
            return 0, 0
        row = self.db.execute(
            "SELECT count(*), coalesce(sum(outside), 0) FROM (SELECT outside FROM messages WHERE subject = ? LIMIT ?)",
            (subject, limit),
        ).fetchone()
        return int(row[0]), int(row[1])

    def subject_participants(self, subject: str, limit: int = 200) -> set[str]:
        """Addresses that took part in (at most ``limit``) messages under this subject key."""
        if not subject:
            return set()
        rows = self.db.execute(
            "SELECT DISTINCT c.addr FROM (SELECT msgid FROM messages WHERE subject = ? LIMIT ?) m "
            "JOIN participants p ON p.msgid = m.msgid JOIN contacts c ON c.id = p.contact",
            (subject, limit),
        )
        return {r[0] for r in rows}

    def senders_for(self, ids: Sequence[int]) -> dict[str, int]:
        if not ids:
            return {}
        rows = self.db.execute(
            f"SELECT sender, sum(n) FROM senders WHERE contact IN ({_marks(len(ids))}) GROUP BY sender", tuple(ids)
        )
        return {s: n for s, n in rows}

    def sent_from(self) -> list[str]:
        """The addresses the user's own learned mail came from, the most used first."""
        rows = self.db.execute("SELECT sender, sum(n) AS n FROM senders GROUP BY sender ORDER BY n DESC, sender")
        return [r[0] for r in rows]

    def frequent_domains(self, limit: int = 300) -> list[tuple[str, int]]:
        key = ("frequent_domains", limit)
        if key not in self.memo:
            rows = self.db.execute(
                "SELECT domain, sent FROM domains WHERE sent > 0 ORDER BY sent DESC LIMIT ?", (limit,)
            )
            self.memo[key] = [(d, n) for d, n in rows]
        return list(cast("list[tuple[str, int]]", self.memo[key]))

    def domain_counts(self, domain: str) -> tuple[int, int]:
        row = self.db.execute("SELECT sent, seen FROM domains WHERE domain = ?", (domain,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def meta(self, key: str) -> int:
        """A learned total: 'messages', 'sent' or 'wordsum' (word occurrences)."""
        memo_key = ("meta", key)
        if memo_key not in self.memo:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            self.memo[memo_key] = int(row[0]) if row else 0
        return self.memo[memo_key]  # type: ignore[return-value]

    def newest(self, until: float) -> tuple[float, float]:
        """(the Date of the newest mail the user sent, of the newest they received), of those dated
        no later than ``until`` (a Date in the future is a wrong clock); 0.0 for none."""
        received = "max(CASE WHEN last_received <= ?1 THEN last_received END)"
        if "0 AS last_received" in self.columns:
            received = "0"
        query = f"SELECT max(CASE WHEN last_sent <= ?1 THEN last_sent END), {received} FROM contacts"
        row = self.db.execute(query, (until,)).fetchone()
        return float(row[0] or 0.0), float(row[1] or 0.0)

    def judgement(self) -> str:
        """The fitted judgement (JSON, ``history.judgement``), or '' before the first fit."""
        key = ("judgement",)
        if key not in self.memo:
            try:
                row = self.db.execute("SELECT value FROM meta WHERE key = 'judgement'").fetchone()
            except sqlite3.Error:
                row = None
            self.memo[key] = row[0] if row else ""
        return self.memo[key]  # type: ignore[return-value]

    def lists(self, addrs: Iterable[str]) -> set[str]:
        """Which of ``addrs`` are mailing lists the user received mail through (mail.lists)."""
        wanted = sorted({a.lower() for a in addrs})
        try:
            rows = self.db.execute(f"SELECT addr FROM lists WHERE addr IN ({_marks(len(wanted))})", wanted)
            return {r[0] for r in rows}
        except sqlite3.OperationalError:
            return set()  # a file from before schema 4, read before its first write adds the table

    def near_addresses(self, addr: str, limit: int = 12) -> list[Contact]:
        """Edit-distance candidates: the addresses just before and after this one in sorted order.

        A typo after the first letters keeps an address close to its alphabetical place; two
        range scans on the unique index, ``limit`` rows each, whatever the history's size.
        """
        addr = addr.lower()
        rows = self.db.execute(
            f"SELECT {self.columns} FROM contacts WHERE addr > ? ORDER BY addr LIMIT ?", (addr, limit)
        ).fetchall()
        rows += self.db.execute(
            f"SELECT {self.columns} FROM contacts WHERE addr < ? ORDER BY addr DESC LIMIT ?", (addr, limit)
        ).fetchall()
        return [Contact(*row) for row in rows]

    def near_names(self, first: str, last: str, limit: int = 15) -> list[Contact]:
        """Candidates for a near-identical name ("Jon Smyth" for "John Smith").

        A misspelt name mostly keeps its first letters: the contacts whose first name starts with
        the same two letters and last name with the same one, and those whose first name starts
        with the same letter and last name with the same two — two lookups on the name-key
        indexes, ``limit`` contacts each (the most written to), whatever the history's size.
        """
        if len(first) < 2 or len(last) < 2:
            return []
        found: dict[str, Contact] = {}
        for expr, key in zip(NAME_KEYS, (first[:2] + last[:1], first[:1] + last[:2])):
            for c in self._many(f"{expr} = ?", (key,), limit):
                found.setdefault(c.addr, c)
        return sorted(found.values(), key=lambda c: -c.sent)

    # -- trust ---------------------------------------------------------------------------------

    def is_trusted(self, addr: str, rule: str, *, blanket: bool = True) -> bool:
        """``addr`` is trusted for ``rule``; ``blanket``: a trust for every rule counts too."""
        addr = addr.lower()
        if addr not in self._trusted:
            self._trusted[addr] = {r[0] for r in self.db.execute("SELECT rule FROM trust WHERE addr = ?", (addr,))}
        rules = self._trusted[addr]
        return rule in rules or (blanket and "*" in rules)


class _Change(NamedTuple):
    """One learned batch's additions, as ``Learner._note_changes`` notes them; a contact's words
    stay one string until a reader that kept counts of that contact splits it."""

    words: list[tuple[int, str, list[int]]]
    pairs: list[tuple[int, int, int]]
    vocab: list[str]
    vocab_counts: tuple[list[int], list[int], list[int]]


def _change_of(data: str) -> _Change | None:
    """One ``changes`` row (per contact its words in one string and their counts, the pairs, the
    vocabulary's words in one string and three lists of counts), or None if it is not in that
    form (another version's)."""
    import json

    try:
        change = json.loads(data)
        joined, dfs, inside, outside = change["vocab"]
        vocab = joined.split(" ") if joined else []
        words = [(i, text, counts) for i, text, counts in change["words"]]
        pairs = change["pairs"]
        if any(text.count(" ") + 1 != len(counts) for _, text, counts in words):
            return None  # a count for each word: the words between the spaces
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not (len(dfs) == len(inside) == len(outside) == len(vocab)) or not isinstance(pairs, list):
        return None
    return _Change(words, pairs, vocab, (dfs, inside, outside))


def _add(entry: tuple[set[Any], dict[Any, Any]], items: list[str], column: Sequence[int]) -> None:
    """Add to the kept counts of the items asked about the numbers at their place in ``items``."""
    asked, counts = entry
    hit = asked.intersection(items)
    if hit:
        get = counts.get
        for item, n in zip(items, column):  # each item once in a change
            if item in hit:
                counts[item] = get(item, 0) + n


def _add_vocab(entry: tuple[set[str], dict[str, tuple[int, int, int]]], change: _Change) -> None:
    """Add a change's vocabulary counts to those kept of the words asked about."""
    asked, counts = entry
    hit = asked.intersection(change.vocab)
    if hit:
        get, none = counts.get, (0, 0, 0)
        for word, df, inside, outside in zip(change.vocab, *change.vocab_counts):  # each word once
            if word in hit:
                was = get(word, none)
                counts[word] = (was[0] + df, was[1] + inside, was[2] + outside)


def open_read_only(state_dir: Path) -> HistoryStore | None:
    """The store for checking, or None when nothing has been learned (no file, or empty).

    One process checking many messages (``sendguard check`` of a folder) reuses the open store
    and its contact cache for as long as the files are unchanged.
    """
    key = _file_of(state_dir)
    try:
        stamp = (_stamp(key), _stamp(key + "-wal"))
    except OSError:
        return None
    if stamp[0] is None:
        return None
    kept = _KEPT.stores
    hit = kept.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    store = None
    if hit is not None and hit[1] is not None and hit[0][0] is not None and hit[0][0][2:] == stamp[0][2:]:
        store = reread(hit[1].db, hit[1])  # the same file, changed: its connection reads what is new
    if store is None:
        store = _open(key)
    kept.pop(key, None)
    while len(kept) >= MAX_OPEN:  # the least recently opened goes, and its connection with it
        _close(kept.pop(next(iter(kept)))[1])
    kept[key] = (stamp, store)
    return store


def _close(store: HistoryStore | None) -> None:
    """Close a store's connection now: Python 3.11's sqlite3 connection is in a reference
    cycle (its statement cache), so one merely let go stays open, three descriptors (WAL) and its
    page cache, until the cyclic collector runs. A worker checking for 2000 senders held over
    1000 descriptors that way (bench/README.md), past the 1024 a service gets by default."""
    if store is not None:
        store.db.close()


def _stamp(path: str) -> tuple[int, int, int, int] | None:
    """(mtime, size, device, inode) of a file, None if there is none: one stat (a check asks on
    every message)."""
    try:
        st = os.stat(path)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):  # as Path.exists
            return None
        raise
    if not stat.S_ISREG(st.st_mode):  # a directory or a FIFO (sqlite would wait on it): nothing learned
        return None
    return st.st_mtime_ns, st.st_size, st.st_dev, st.st_ino


# Open stores by file, each as of its stamp: one file replaces its own entry when it changes, so a
# user's process keeps one store as before, and a process checking for many people (the milter's
# workers: one history per sender) keeps each of theirs instead of reopening on every message.
# Each thread keeps its own: making room closes a store, and one thread must never close the
# store another is reading (a worker's notice thread reads histories while its checks run).
MAX_OPEN = 32
_Stamp = tuple[int, int, int, int]


class _Kept(threading.local):
    def __init__(self) -> None:
        self.stores: dict[str, tuple[tuple[_Stamp | None, _Stamp | None], HistoryStore | None]] = {}


_KEPT = _Kept()


@functools.lru_cache(maxsize=4 * MAX_OPEN)
def _file_of(state_dir: Path) -> str:
    """The history file of a state directory (pathlib's joining costs more than the stats)."""
    return str(path_in(state_dir))


def _open(path: str) -> HistoryStore | None:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error:
        return None  # a half-written or foreign file: check as if nothing was learned
    store = reread(db)
    if store is None:
        db.close()
    return store


def reread(db: sqlite3.Connection, previous: HistoryStore | None = None) -> HistoryStore | None:
    """A new store (no memos) on a connection to the file: reopening costs ~0.4 ms (sqlite
    reads the schema on a connection's first statement), and a connection sees each change
    committed since its last statement. With ``previous`` (the store of the file before it
    changed) the new one carries its kept counts over. None when nothing was learned (or the
    file is foreign)."""
    try:
        at: tuple[int, int] | None = None
        try:
            row = db.execute(
                "SELECT (SELECT value FROM meta WHERE key = 'messages'), (SELECT ifnull(max(seq), 0) FROM changes)"
            ).fetchone()
            if row[0] is not None:
                at = (int(row[1]), int(row[0]))
        except sqlite3.OperationalError:  # a file from before schema 5: nothing to carry
            row = db.execute("SELECT value FROM meta WHERE key = 'messages'").fetchone()
        if not row or row[0] is None or int(row[0]) == 0:
            return None
        store = HistoryStore(db, keep_lookups=True)
        store._at = at
        if previous is not None:
            store.carry(previous)
        return store
    except sqlite3.Error:
        return None


def open_for_write(state_dir: Path) -> sqlite3.Connection:
    """A read-write connection, the schema in place (learning, the delivery observer, trust)."""
    from sendguard import paths, sqlitewal

    paths.ensure_private_dir(Path(state_dir))
    # The history is as private as the mail it was learned from: the file is made 0600 before
    # sqlite opens it, and sqlite gives its -wal and -shm files the same mode (no umask switch:
    # that is the whole process's, and the milter's threads create files meanwhile).
    paths.create_private_file(path_in(state_dir))
    odd = not_a_file(path_in(state_dir))
    if odd:
        raise HistoryDamaged(state_dir, f"{odd}, not a file")
    db = sqlite3.connect(path_in(state_dir), timeout=30)
    try:
        sqlitewal.use_wal(db, 30)
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
    except sqlite3.DatabaseError as err:
        db.close()
        HistoryDamaged.reraise(err, state_dir)
    if not any(row[1] == "last_received" for row in db.execute("PRAGMA table_info(contacts)")):
        db.execute("ALTER TABLE contacts ADD COLUMN last_received REAL NOT NULL DEFAULT 0")  # schema 3
    if not any(row[1] == "notes" for row in db.execute("PRAGMA table_info(changes)")):
        db.execute("ALTER TABLE changes ADD COLUMN notes TEXT")  # schema 6
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    db.commit()
    return db
