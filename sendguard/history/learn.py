"""Learning: turn messages into contact statistics, in batches, idempotently.

A message already learned (by Message-ID) changes nothing when learned again; sent and received
mail count differently (ARCHITECTURE.md, "The history store").
"""

from __future__ import annotations

import email
import email.errors
import email.parser
import email.utils
import hashlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from email.message import Message

from sendguard.history import names
from sendguard.history.fit import Read
from sendguard.history.store import FUTURE_SLACK, KEPT_CHANGES, prefix_of
from sendguard.mail.greetings import MAX_BODY_CHARS, MAX_WORDS, subject_key, words
from sendguard.mail.lists import list_addresses
from sendguard.mail.message import domain_matches, domain_of, named_mailboxes, normalize_address
from sendguard.mail.mimetree import decode_header
from sendguard.mail.voice import voice_of

MAX_PARTICIPANTS = 20
# Every notice mail sendguard writes carries it (act/notice_texts.py; act sits above history):
# the send path's comes from the person's own address, and would be learned as their own mail.
NOTICE_HEADER = "X-Sendguard-Notice"
BATCH = 2000
COMMIT_SECONDS = 1.0
"""How long the simulated tail of a run may keep its writes in one transaction."""
CACHE_KIB = 65_536
"""sqlite's page cache while a Learner is open (sqlite's own default is 2,000 KiB): a batch's
counts land on pages all over the words and pairs tables, which a small cache writes out and
reads back within one transaction. Given back when learning ends."""
MAX_NAMES = 100_000
MAX_NOTED_CHANGES = 20_000
"""A batch that changes more counts than this notes only that it changed them: readers start
their lookups afresh after it (a first ``learn``), as they would after reading that many."""
# What the standard library's parser raises on mail it cannot read (deep nesting in addresses,
# impossible dates, unknown charsets).
UNREADABLE = (
    RecursionError,
    ValueError,
    TypeError,
    LookupError,
    IndexError,
    AttributeError,
    OverflowError,
    email.errors.MessageError,
)


@dataclass
class Observed:
    """One message, reduced to what the history keeps."""

    msgid: str
    sent: bool
    sender: str
    recipients: list[tuple[str, str]]
    """(address, display name) of To/Cc/Bcc, own addresses excluded."""
    sender_name: str
    subject: str
    date: float
    words: list[str]
    outside: bool
    voice: dict[str, str] = field(default_factory=dict)
    """How the user greets, addresses and signs off (sent mail only: mail.voice)."""
    sample: bytes = b""
    """For sent mail: its headers and text, kept (the newest SAMPLE_LIMIT) to fit the judgement on."""
    examples: str = ""
    """The judgement's training examples simulated on it as the history stood before it (JSON)."""
    copy_key: str = ""
    """The same mail under another Message-ID (a copy in another folder) has the same key."""
    lists: list[str] = field(default_factory=list)
    """The mailing lists it came through (their posting addresses: mail.lists)."""


def body_text(msg: Message) -> str:
    """The first text/plain part (else text/html without tags), decoded, never raising."""
    html = None
    for part in msg.walk() if msg.is_multipart() else [msg]:
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html") or part.get_filename():
            continue
        try:
            data = part.get_payload(decode=True) or b""
        except (ValueError, TypeError, AssertionError):
            continue
        if not isinstance(data, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = data[: MAX_BODY_CHARS * 4].decode(charset, "replace")
        except LookupError:
            text = data[: MAX_BODY_CHARS * 4].decode("utf-8", "replace")
        if ctype == "text/plain":
            return text[:MAX_BODY_CHARS]
        html = html or text
    if html:
        import re

        return re.sub(r"<[^>]+>", " ", html)[:MAX_BODY_CHARS]
    return ""


# Above this size a message is read by the bounded MIME walker (headers, and the text parts in
# place), not by the stdlib's full parse, which holds a 20 MB mail several times over (the
# resident checker peaked at 8x the message size learning it after delivery).
BIG_MESSAGE = 1_000_000


def parse(raw: bytes) -> Message:
    """``email.message_from_bytes(raw)``, the same Message, without the stdlib's pass over a
    body it keeps as it is (a single-part, non-message entity's): a plain LF-delimited message
    is its header block parsed alone, by the same header parser, and the rest as the payload."""
    end = raw.find(b"\n\n") + 2
    head = raw[:end].lower()
    if end < 2 or b"multipart/" in head or b"message/" in head:
        return email.message_from_bytes(raw)
    msg = email.parser.BytesHeaderParser().parsebytes(raw[:end])
    if msg.get_payload() or msg.get_content_maintype() in ("multipart", "message"):
        # the stdlib's header block ended before that blank line (a line that is no header
        # field, an empty CRLF line): the rest is its body; multipart and message entities
        # have their body parsed into parts
        return email.message_from_bytes(raw)
    msg.set_payload(raw[end:].decode("ascii", "surrogateescape"))
    return msg


def observe_message(raw: bytes, own: set[str], org_domains: list[str], read: Read | None = None) -> Observed | None:
    """Parse one message; None when it has no usable From or is one of sendguard's notices.
    ``read``: what the check read of it."""
    body: str | None = None
    if len(raw) > BIG_MESSAGE:
        from sendguard.mail.message import OutgoingMessage

        outgoing = OutgoingMessage(raw)
        msg = outgoing.headers
        body = outgoing.body_text[:MAX_BODY_CHARS]
    else:
        msg = parse(raw)
    if msg.get(NOTICE_HEADER) is not None:
        return None  # sendguard's own notice about a message: neither sent nor received mail
    senders = named_mailboxes(msg.get_all("From", []))
    if not senders or "@" not in senders[0][1]:
        return None
    sender_name, sender = senders[0][0], normalize_address(senders[0][1])
    recipients: dict[str, str] = {}
    for display, addr in named_mailboxes(v for name in ("To", "Cc", "Bcc") for v in msg.get_all(name, [])):
        addr = normalize_address(addr)
        if "@" in addr and addr not in own and addr != sender:
            recipients.setdefault(addr, display.strip())
    msgid = normalize_address(decode_header(msg.get("Message-ID"))) or "sha256:" + hashlib.sha256(raw).hexdigest()
    date = 0.0
    try:
        parsed = email.utils.parsedate_to_datetime(decode_header(msg.get("Date")))
        date = parsed.timestamp() if parsed else 0.0
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        date = 0.0  # no usable date: the message still counts, it just has no time
    subject = " ".join(decode_header(msg.get("Subject")).split())
    sent = sender in own
    body = body_text(msg) if body is None else body
    people = list(recipients) + ([] if sent else [sender])
    outside = any(not domain_matches(domain_of(a), org_domains) for a in people) if org_domains else True
    return Observed(
        msgid=msgid,
        sent=sent,
        sender=sender,
        recipients=list(recipients.items()),
        sender_name=sender_name.strip(),
        subject=subject,
        date=date,
        words=list(read.words)
        if read is not None and read.subject == subject and read.body == body
        else words(subject + "\n" + body, MAX_WORDS),
        outside=outside,
        voice=voice_of(body) if sent else {},
        sample=_sample(msg, body) if sent and recipients else b"",
        copy_key=_copy_key(sender, date, recipients, subject),
        lists=list_addresses(msg),
    )


def observe(raw: bytes, own: set[str], org_domains: list[str], read: Read | None = None) -> Observed | None:
    """``observe_message``, None for a message the standard library cannot read: one hostile or
    broken message in a decade of mail must not stop the learning of the rest; it is counted with
    the unusable ones."""
    try:
        return observe_message(raw, own, org_domains, read)
    except UNREADABLE:
        return None


def _copy_key(sender: str, date: float, recipients: dict[str, str], subject: str) -> str:
    """Sender, date, recipients and subject: one mail filed twice, with two Message-IDs."""
    if not date:
        return ""  # undated mail cannot be told apart from another with the same subject
    text = "\n".join([sender, repr(date), subject, *sorted(recipients)])
    return "copy:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


SAMPLE_HEADERS = ("From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "In-Reply-To", "References")
SAMPLE_LIMIT = 1000
TAIL_LIMIT = 20_000
WARM_UP = 0.3  # the share of sent mail learned before mistakes are simulated on the rest
YOUNG = '{"young": true}'  # examples not simulated: the history was too young to judge by


def _sample(msg: Message, text: str) -> bytes:
    """A plain-text copy of a sent message: what the recipient rules read, nothing else."""
    head = []
    for name in SAMPLE_HEADERS:
        for value in msg.get_all(name, []):
            value = " ".join(decode_header(value).split())
            head.append(f"{name}: {value}")
    head.append("Content-Type: text/plain; charset=utf-8")
    head.append("Content-Transfer-Encoding: 8bit")
    return ("\n".join(head) + "\n\n" + text).encode("utf-8", "replace")


# What the ledger leaves out: the judgement's training material is not evidence to take back.
NOT_IN_LEDGER = ("sample", "examples", "copy_key", "lists")


def write_ledger(db: sqlite3.Connection, messages: list[Observed]) -> None:
    """Keep what each *sent* message added, so it can be taken back (history/forget.py) and the
    user's voice with a person read back (recover/oops.py). Received mail is never a mistake of
    the user's to undo, and it is most of the mail: it is not kept."""
    rows = []
    for m in messages:
        if m.sent:
            # the fields as they are: asdict's deep copy of every word list is most of the cost,
            # and json.dumps writes the same text from the originals (no dataclass nests here)
            data = {f.name: getattr(m, f.name) for f in fields(m) if f.name not in NOT_IN_LEDGER}
            rows.append((m.msgid, json.dumps(data, ensure_ascii=False)))
    db.executemany("INSERT OR REPLACE INTO ledger VALUES (?, ?)", rows)


@dataclass
class Batch:
    """Counts gathered in memory before one write."""

    messages: list[Observed] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)


class Learner:
    """Feeds messages into the store. Use as a context manager; ``add`` returns whether it was new.

    With ``simulate`` (decide.train), the newest SAMPLE_LIMIT sent messages of a run (and the
    mail that came after the oldest of them, up to TAIL_LIMIT messages) are held back and
    learned last, in date order, each sent one first judged by ``simulate`` against the history
    as it stood before it: the user's own mistakes simulated as the user would have met them.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        own: Iterable[str],
        org_domains: Iterable[str],
        simulate: Callable[[Observed], str] | None = None,
        now: float | None = None,
    ) -> None:
        self.db = db
        self.until = (time.time() if now is None else now) + FUTURE_SLACK
        self.own = {a.lower() for a in own}
        self.org_domains = list(org_domains)
        self.simulate = simulate
        self.batch = Batch()
        self.added = 0
        self.skipped = 0
        self.received = 0
        """Messages read that the user received, learned now or before (arrivals: an inbox)."""
        self.tail: list[tuple[float, int, Observed]] = []
        self.tail_ids: set[str] = set()
        self.tail_sent = 0
        self.copies: set[str] = set()
        self.names: dict[tuple[str, str], tuple[str, str, str, str, str, str]] = {}
        """A contact row's values by (address, display name), as ``_contact_ids`` derived them."""
        self.began = 0.0
        """When the open write transaction began (``flush``)."""
        self._cache = -2000
        """The connection's page cache before this Learner (``__enter__``), given back on exit."""

    def __enter__(self) -> Learner:
        (self._cache,) = self.db.execute("PRAGMA cache_size").fetchone()
        self.db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is not None:
            self.simulate = None  # interrupted: learn what was read, judge nothing more
        try:
            self.finish()
        finally:  # a connection kept open (a milter worker's) keeps no more pages than before
            self.db.execute(f"PRAGMA cache_size = {int(self._cache)}")

    def finish(self) -> None:
        """Learn what was held back, in date order, simulating on each sent message first."""
        import heapq

        learned = self._count("sent") if self.tail_sent else 0
        try:
            while self.tail:
                _, _, observed = heapq.heappop(self.tail)
                if self.simulate is not None and observed.sample:
                    # The simulation reads this connection, which sees its own writes: one commit
                    # a second, not one per simulated message (each rewrites the pages it touched).
                    self.flush(commit=time.monotonic() - self.began >= COMMIT_SECONDS)
                    # a young history judges everyone as new: mistakes on it say little about later
                    mature = learned >= WARM_UP * (learned + self.tail_sent)
                    observed.examples = self.simulate(observed) if mature else YOUNG
                    learned += 1
                    self.tail_sent -= 1
                self._queue(observed)
        finally:
            if self.db.in_transaction:  # interrupted: what was written is whole (flush undoes its own failures)
                self.db.commit()
        self.tail_ids.clear()
        self.tail_sent = 0
        self.flush()

    def _hold_back(self, observed: Observed) -> None:
        import heapq

        heapq.heappush(self.tail, (observed.date, self.added, observed))
        self.tail_ids.add(observed.msgid)
        self.tail_sent += bool(observed.sample)
        while self.tail and (
            self.tail_sent > SAMPLE_LIMIT
            or len(self.tail) > TAIL_LIMIT
            or (self.tail_sent >= SAMPLE_LIMIT and not self.tail[0][2].sample)
        ):
            _, _, oldest = heapq.heappop(self.tail)
            self.tail_ids.discard(oldest.msgid)
            self.tail_sent -= bool(oldest.sample)
            self._queue(oldest)

    def _queue(self, observed: Observed) -> None:
        self.batch.messages.append(observed)
        self.batch.ids.add(observed.msgid)
        if len(self.batch.messages) >= BATCH:
            self.flush()

    def add(self, raw: bytes, read: Read | None = None) -> bool:
        return self.add_observed(observe(raw, self.own, self.org_domains, read))

    def add_observed(self, observed: Observed | None) -> bool:
        """``add`` of what ``observe`` made of a message (read elsewhere: ``history.reading``)."""
        self.received += observed is not None and not observed.sent
        if (
            observed is None
            or observed.msgid in self.batch.ids
            or observed.msgid in self.tail_ids
            or self._known(observed.msgid)
            or self._copy(observed.copy_key)
        ):
            self.skipped += 1
            return False
        self.added += 1
        if self.simulate is not None:
            self._hold_back(observed)
        else:
            self._queue(observed)
        return True

    def _count(self, key: str) -> int:
        self.flush()
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _copy(self, key: str) -> bool:
        """A copy of a message learned already (in this run or before), under another Message-ID."""
        if not key:
            return False
        if key in self.copies:
            return True
        self.copies.add(key)
        return self.db.execute("SELECT 1 FROM copies WHERE key = ?", (key,)).fetchone() is not None

    def _known(self, msgid: str) -> bool:
        """Learned already, or forgotten on purpose (a mistake: history/forget.py)."""
        return bool(self._known_of([msgid]))

    def flush(self, commit: bool = True) -> None:
        """Write the batch; with ``commit`` false the transaction stays open for the next one
        (the write lock held: ``finish`` commits within COMMIT_SECONDS)."""
        db = self.db
        if self.batch.messages:
            if not db.in_transaction:
                # The write lock before the last look: a ``forget`` in another process (the
                # milter's ``forget --as`` while a worker's batch waits) committed before, and is
                # seen here, or waits for this write and then finds the message learned.
                db.execute("BEGIN IMMEDIATE")
                self.began = time.monotonic()
            try:
                known = self._known_of([m.msgid for m in self.batch.messages])
                messages = [m for m in self.batch.messages if m.msgid not in known]
                self.added -= len(self.batch.messages) - len(messages)
                self.skipped += len(self.batch.messages) - len(messages)
                if messages:
                    self._write(messages)
                    write_ledger(db, messages)
            except BaseException:
                db.rollback()
                raise
            self.batch = Batch()
        if commit and db.in_transaction:
            db.commit()

    def _note_changes(
        self,
        contact_words: dict[int, Counter[str]],
        pairs: Counter[tuple[int, int]],
        vocab_df: Counter[str],
        vocab_in: Counter[str],
        vocab_out: Counter[str],
        added: int,
    ) -> None:
        """What this batch adds to the counts readers keep, in ``changes`` (store.HistoryStore.carry),
        with the message count before and after it; the newest KEPT_CHANGES are kept."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'messages'").fetchone()
        before = int(row[0]) if row else 0
        notes = ""
        if sum(map(len, contact_words.values())) + len(pairs) + len(vocab_df) <= MAX_NOTED_CHANGES:
            # per contact one string of its words and a list of their counts: a reader splits
            # the string only for a contact it kept counts of (a list of triples cost it a
            # decoded object per count)
            vocab = list(vocab_df)
            notes = json.dumps(
                {
                    "words": [(c, " ".join(counts), list(counts.values())) for c, counts in contact_words.items()],
                    "pairs": [(a, b, n) for (a, b), n in pairs.items()],
                    "vocab": [
                        " ".join(vocab),
                        [vocab_df[w] for w in vocab],
                        [vocab_in[w] for w in vocab],
                        [vocab_out[w] for w in vocab],
                    ],
                },
                separators=(",", ":"),
                ensure_ascii=False,
            )
        seq = self.db.execute(
            "INSERT INTO changes (before, after, data, notes) VALUES (?, ?, '', ?)",
            (before, before + added, notes or None),
        ).lastrowid
        if seq is not None and seq > KEPT_CHANGES:
            self.db.execute("DELETE FROM changes WHERE seq <= ?", (seq - KEPT_CHANGES,))

    def _known_of(self, msgids: list[str]) -> set[str]:
        """Those of ``msgids`` learned already or forgotten on purpose, one query per 500."""
        found: set[str] = set()
        for start in range(0, len(msgids), 500):
            chunk = msgids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            q = f"SELECT msgid FROM messages WHERE msgid IN ({marks}) UNION ALL SELECT msgid FROM forgotten WHERE msgid IN ({marks})"
            found.update(r[0] for r in self.db.execute(q, (*chunk, *chunk)))
        return found

    def _contact_ids(self, people: dict[str, str]) -> dict[str, int]:
        db = self.db
        rows = []
        known_names = self.names
        if len(known_names) > MAX_NAMES:
            known_names.clear()
        for addr, display in people.items():
            found = known_names.get((addr, display))
            if found is None:
                first, last = names.contact_names(display, addr)
                found = known_names[(addr, display)] = (addr, display, first, last, prefix_of(addr), domain_of(addr))
            rows.append(found)
        db.executemany(
            "INSERT INTO contacts (addr, name, first, last, prefix, domain) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(addr) DO UPDATE SET "
            "name = CASE WHEN excluded.name != '' THEN excluded.name ELSE name END, "
            "first = CASE WHEN length(excluded.first) > length(first) THEN excluded.first ELSE first END, "
            "last = CASE WHEN last = '' THEN excluded.last ELSE last END "
            # only when something changes: an update of first or last rewrites the name indexes
            "WHERE (excluded.name != '' AND excluded.name != name) OR length(excluded.first) > length(first) "
            "OR (last = '' AND excluded.last != '')",
            rows,
        )
        ids: dict[str, int] = {}
        addrs = list(people)
        for start in range(0, len(addrs), 500):
            chunk = addrs[start : start + 500]
            q = f"SELECT addr, id FROM contacts WHERE addr IN ({','.join('?' * len(chunk))})"
            ids.update(self.db.execute(q, chunk).fetchall())
        firsts = sorted({r[2] for r in rows if len(r[2]) >= 2})
        known: set[str] = set()
        for start in range(0, len(firsts), 500):
            chunk = firsts[start : start + 500]
            q = f"SELECT DISTINCT first FROM alias WHERE first IN ({','.join('?' * len(chunk))})"
            known.update(r[0] for r in self.db.execute(q, chunk))
        firsts = [f for f in firsts if f not in known]  # the nickname table loads only for new names
        db.executemany("INSERT OR IGNORE INTO alias VALUES (?, ?)", sorted(names.all_aliases(firsts)))
        return ids

    def _write(self, messages: list[Observed]) -> None:
        people: dict[str, str] = {}
        for m in messages:
            if not m.sent:
                people[m.sender] = people.get(m.sender) or m.sender_name
            for addr, display in m.recipients:
                people[addr] = people.get(addr) or display
        ids = self._contact_ids(people)
        sent: Counter[int] = Counter()
        received: Counter[int] = Counter()
        seen: Counter[int] = Counter()
        nwords: Counter[int] = Counter()
        last_sent: dict[int, float] = {}
        last_seen: dict[int, float] = {}
        last_received: dict[int, float] = {}
        pairs: Counter[tuple[int, int]] = Counter()
        contact_words: dict[int, Counter[str]] = {}  # per contact, its words' counts
        vocab_df: Counter[str] = Counter()
        vocab_in: Counter[str] = Counter()
        vocab_out: Counter[str] = Counter()
        dom_sent: Counter[str] = Counter()
        dom_seen: Counter[str] = Counter()
        senders: Counter[tuple[int, str]] = Counter()
        participants: list[tuple[str, int]] = []
        for m in messages:
            rcpt = [ids[a] for a, _ in m.recipients]
            party = rcpt if m.sent else [ids[m.sender], *rcpt]
            when = m.date if m.date <= self.until else 0.0  # a wrong clock: the mail counts, its time not
            for cid in party:
                seen[cid] += 1
                last_seen[cid] = max(last_seen.get(cid, 0.0), when)
                participants.append((m.msgid, cid))
            for addr in {a for a, _ in m.recipients} | ({m.sender} if not m.sent else set()):
                dom_seen[domain_of(addr)] += 1
            if m.sent:
                for addr, _ in m.recipients:
                    cid = ids[addr]
                    sent[cid] += 1
                    last_sent[cid] = max(last_sent.get(cid, 0.0), when)
                    dom_sent[domain_of(addr)] += 1
                    senders[(cid, m.sender)] += 1
                owners = rcpt
            else:
                received[ids[m.sender]] += 1
                last_received[ids[m.sender]] = max(last_received.get(ids[m.sender], 0.0), when)
                owners = []  # what others write about says little about what the user sends them
            small = len(party) <= MAX_PARTICIPANTS
            if small:
                for a in party:
                    for b in party:
                        if a != b:
                            pairs[(a, b)] += 1
                for cid in owners:
                    nwords[cid] += 1
                    counts = contact_words.get(cid)
                    if counts is None:
                        counts = contact_words[cid] = Counter()
                    counts.update(m.words)  # counted in C, a message's words at once
            vocab_df.update(m.words)
            (vocab_out if m.outside else vocab_in).update(m.words)
        db = self.db
        touched = set(ids.values())
        db.executemany(
            "UPDATE contacts SET sent = sent + ?, received = received + ?, seen = seen + ?, words = words + ?, "
            "last_sent = max(last_sent, ?), last_seen = max(last_seen, ?), last_received = max(last_received, ?) "
            "WHERE id = ?",
            [
                (
                    sent[c],
                    received[c],
                    seen[c],
                    nwords[c],
                    last_sent.get(c, 0.0),
                    last_seen.get(c, 0.0),
                    last_received.get(c, 0.0),
                    c,
                )
                for c in touched
                if sent[c]
            ],
        )
        # without ``sent`` in the statement: every index of the contacts is by ``sent``
        db.executemany(
            "UPDATE contacts SET received = received + ?, seen = seen + ?, words = words + ?, "
            "last_seen = max(last_seen, ?), last_received = max(last_received, ?) WHERE id = ?",
            [
                (received[c], seen[c], nwords[c], last_seen.get(c, 0.0), last_received.get(c, 0.0), c)
                for c in touched
                if not sent[c]
            ],
        )
        db.executemany(
            "INSERT INTO pairs VALUES (?, ?, ?) ON CONFLICT(a, b) DO UPDATE SET n = n + excluded.n",
            [(a, b, n) for (a, b), n in pairs.items()],
        )
        db.executemany(
            "INSERT INTO words VALUES (?, ?, ?) ON CONFLICT(contact, word) DO UPDATE SET n = n + excluded.n",
            [(c, w, n) for c, counts in contact_words.items() for w, n in counts.items()],
        )
        db.executemany(
            "INSERT INTO vocab VALUES (?, ?, ?, ?) ON CONFLICT(word) DO UPDATE SET df = df + excluded.df, "
            "internal = internal + excluded.internal, outside = outside + excluded.outside",
            [(w, n, vocab_in[w], vocab_out[w]) for w, n in vocab_df.items()],
        )
        db.executemany(
            "INSERT INTO domains VALUES (?, ?, ?) ON CONFLICT(domain) DO UPDATE SET "
            "sent = sent + excluded.sent, seen = seen + excluded.seen",
            [(d, dom_sent[d], n) for d, n in dom_seen.items()],
        )
        db.executemany(
            "INSERT INTO senders VALUES (?, ?, ?) ON CONFLICT(contact, sender) DO UPDATE SET n = n + excluded.n",
            [(c, s, n) for (c, s), n in senders.items()],
        )
        db.executemany(
            "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?)",
            [(m.msgid, subject_key(m.subject), m.date, int(m.sent), int(m.outside)) for m in messages],
        )
        db.executemany("INSERT OR IGNORE INTO participants VALUES (?, ?)", participants)
        lists = Counter(a for m in messages for a in m.lists)
        db.executemany(
            "INSERT INTO lists VALUES (?, ?) ON CONFLICT(addr) DO UPDATE SET n = n + excluded.n", lists.items()
        )
        db.executemany(
            "INSERT OR IGNORE INTO copies VALUES (?, ?)", [(m.copy_key, m.msgid) for m in messages if m.copy_key]
        )
        samples = sorted((m for m in messages if m.sample), key=lambda m: -m.date)[:SAMPLE_LIMIT]
        if samples:
            db.executemany(
                "INSERT OR IGNORE INTO samples VALUES (?, ?, ?)", [(m.msgid, m.date, m.sample) for m in samples]
            )
            db.execute(
                "DELETE FROM samples WHERE date < (SELECT date FROM samples ORDER BY date DESC LIMIT 1 OFFSET ?)",
                (SAMPLE_LIMIT - 1,),
            )
            db.executemany(
                "INSERT OR REPLACE INTO examples VALUES (?, ?, ?)",
                [(m.msgid, m.date, m.examples) for m in samples if m.examples],
            )
            db.execute("DELETE FROM examples WHERE msgid NOT IN (SELECT msgid FROM samples)")
        self._note_changes(contact_words, pairs, vocab_df, vocab_in, vocab_out, len(messages))
        n_sent = sum(1 for m in messages if m.sent)
        wordsum = sum(len(m.words) for m in messages)
        for key, n in (("messages", len(messages)), ("sent", n_sent), ("wordsum", wordsum)):
            db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                "value = CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER)",
                (key, str(n)),
            )
