"""The local queue: every message sendguard decided about, kept until it is safely gone.

One directory per message under ``$XDG_DATA_HOME/sendguard/queue/ID`` (message.eml, meta.json,
lock), built whole or not at all, worked on only under its flock (ARCHITECTURE.md, "The queue").
States are :class:`State`; every change of state goes through :meth:`Entry.save`, which
allows only the changes in :data:`TRANSITIONS` (ARCHITECTURE.md draws the machine).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypedDict

from sendguard import faults
from sendguard.clock import now_iso
from sendguard.errors import QueueError, QueueLockedError, SendguardError
from sendguard.fsutil import atomic_write, fsync_dir, write_new
from sendguard.ids import new_id


class State(StrEnum):
    """Where a kept message is. Stored in meta.json as its value; compares equal to it."""

    RECEIVED = "received"  # kept, not yet decided (a crash during the check): queue run re-checks
    ACCEPTED = "accepted"  # decided to go: queue run delivers it if its process died
    DELAYED = "delayed"  # waiting in the undo window until not_before
    HELD = "held"
    BLOCKED = "blocked"
    RELEASED = "released"  # a person said send; queue run delivers it
    SENDING = "sending"
    DELIVERED = "delivered"
    DEFERRED = "deferred"  # the transport failed temporarily; queue run retries
    FAILED = "failed"  # the transport failed permanently; kept for a person
    INTERRUPTED = "interrupted"  # killed while sending: may or may not have left
    DISCARDED = "discarded"
    CONFIRMED = "confirmed"  # a hold confirmed by sending the identical message again
    UNDONE = "undone"  # taken back within the undo window
    SUPERSEDED = "superseded"  # held, then sent again fixed: waits for nobody; still releasable


RECEIVED, ACCEPTED, DELAYED, HELD, BLOCKED = State.RECEIVED, State.ACCEPTED, State.DELAYED, State.HELD, State.BLOCKED
RELEASED, SENDING, DELIVERED, DEFERRED = State.RELEASED, State.SENDING, State.DELIVERED, State.DEFERRED
FAILED, INTERRUPTED, DISCARDED, CONFIRMED, UNDONE = (
    State.FAILED,
    State.INTERRUPTED,
    State.DISCARDED,
    State.CONFIRMED,
    State.UNDONE,
)
SUPERSEDED = State.SUPERSEDED

# The states the send path creates entries in (restored records are created "delivered").
INITIAL_STATES = frozenset({RECEIVED, ACCEPTED, DELAYED, HELD, BLOCKED, DELIVERED})

# Every allowed change of state: the one table that Entry.save enforces. Saving an entry
# without changing its state (a new event, an edit) is always allowed. To add a state, add
# its row and the rows that lead to it; tests/unit/test_queue_states.py walks the table.
_LEAVE_FOR_A_PERSON = frozenset({RELEASED, DISCARDED})
_CHECKED_AGAIN = frozenset({HELD, BLOCKED})  # a check before sending (release, queue run) may stop it
TRANSITIONS: dict[State, frozenset[State]] = {
    RECEIVED: frozenset({ACCEPTED, DELAYED, SENDING}) | _CHECKED_AGAIN | _LEAVE_FOR_A_PERSON,
    ACCEPTED: frozenset({SENDING}) | _CHECKED_AGAIN | _LEAVE_FOR_A_PERSON,
    DELAYED: frozenset({SENDING, UNDONE}) | _CHECKED_AGAIN | _LEAVE_FOR_A_PERSON,
    HELD: frozenset({CONFIRMED, BLOCKED, SUPERSEDED}) | _LEAVE_FOR_A_PERSON,
    BLOCKED: frozenset({HELD, SUPERSEDED}) | _LEAVE_FOR_A_PERSON,
    SUPERSEDED: _LEAVE_FOR_A_PERSON,
    RELEASED: frozenset({SENDING}) | _CHECKED_AGAIN | _LEAVE_FOR_A_PERSON,
    SENDING: frozenset({DELIVERED, DEFERRED, FAILED, INTERRUPTED, DISCARDED}),
    DEFERRED: frozenset({SENDING, UNDONE}) | _CHECKED_AGAIN | _LEAVE_FOR_A_PERSON,
    FAILED: _CHECKED_AGAIN | _LEAVE_FOR_A_PERSON,
    INTERRUPTED: frozenset({DELIVERED}) | _CHECKED_AGAIN | _LEAVE_FOR_A_PERSON,
    DELIVERED: frozenset(),
    DISCARDED: frozenset(),
    CONFIRMED: frozenset(),
    UNDONE: frozenset({DISCARDED}),
}

# Which of them `queue run` may deliver without a person.
DUE_STATES = frozenset({ACCEPTED, RELEASED, DEFERRED, DELAYED})
WAITING_STATES = frozenset({HELD, BLOCKED, DEFERRED, FAILED, INTERRUPTED, DELAYED, RECEIVED, ACCEPTED, RELEASED})
FINAL_STATES = frozenset({DELIVERED, DISCARDED, CONFIRMED, UNDONE})

MESSAGE_IDS = ".message-ids"  # in the queue directory: per Message-ID, a file per entry kept with it
TRANSPORT_FAILED = ".transport-failed"  # in the queue directory: a file per entry deferred or failed
TRANSPORT_FAILED_STATES = frozenset({DEFERRED, FAILED})


def check_transition(old: str, new: str) -> None:
    """Raise QueueError unless an entry in state ``old`` may move to ``new``."""
    if old == new:
        return
    try:
        allowed = new in TRANSITIONS[State(old)]
    except ValueError:  # a state this version does not know (a newer one wrote it): leave it be
        allowed = False
    if not allowed:
        raise QueueError(f"a message that is {old} cannot become {new}")


class Event(TypedDict):
    time: str
    event: str
    state: str | None


# "from" is a keyword, so it can only be declared in the functional form.
_MetaFrom = TypedDict("_MetaFrom", {"from": str}, total=False)


class Meta(_MetaFrom, total=False):
    """meta.json: what is known about a kept message. Every key is optional on disk (older
    entries, entries kept after an error); read with ``.get``."""

    id: str
    state: State | str
    created: str
    updated: str
    events: list[Event]
    argv: list[str]
    options: list[str]
    recipients: list[str]  # given to the transport after ``--``; empty: it reads the headers
    envelope: list[str]  # who gets it, as checked
    original_envelope: list[str]  # who it was for as the person wrote it, before a fix in review
    aliases_expanded: bool  # msmtp's aliases were replaced in recipients (act/aliases.py)
    aliases: dict[str, list[str]]  # each local recipient msmtp's aliases replaced -> by what
    read_recipients: bool
    sender: str | None
    subject: str
    message_id: str
    duplicate_of: str  # held because this message already left (or may have) as that entry
    already_left: bool  # with duplicate_of: it did leave; this copy needs nobody (sent twice only on release)
    size: int
    checker: str  # "process" or "resident"
    program: str  # the mail program that called sendmail (sendpath/caller.py); "" unknown
    verdict: str
    findings: list[dict[str, Any]]
    error: list[str]
    fingerprint: str
    confirms: str
    confirmed_rules: list[str]
    not_before: str
    delay: int
    draft: str
    transport: list[str]
    transport_exit: int
    transport_error: str
    delivered: str
    suggestion_taken: list[str]
    oops: dict[str, Any]
    note: str
    restored_from: str
    restored: str
    config_key: list[Any] | None  # the config version the verdict was judged under (config.cache.stamp)
    superseded_by: str
    sent_copy: str  # where the copy filed in the Sent folder is
    sent_copy_error: str
    milter_sender: str  # the milter's: whose history judged it
    postfix_queue_id: str
    thread: list[str]  # the milter's: the Message-IDs it replies to
    series: list[str]  # the milter's: Message-IDs let through on the strength of this confirmed hold
    confirmed_at: float  # the milter's: when the resend confirmed it (seconds since the epoch)
    told: bool  # the milter's: False until its 550 was handed to the MTA; only then can a resend confirm it
    told_at: float  # the milter's: when that 550 was handed over (seconds since the epoch)
    notice_sent_at: float  # the milter's: when the hold notice was handed to sendmail (a re-hold mails none)


class Entry:
    """One queued message. ``meta`` is the parsed meta.json.

    A plain class, not a dataclass (the per-class code generation costs every mail ~0.4 ms)."""

    def __init__(self, path: Path, meta: Meta | None = None) -> None:
        self.path = path
        self.meta: Meta = {} if meta is None else meta

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.path, self.meta) == (other.path, other.meta)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        return f"Entry(path={self.path!r}, meta={self.meta!r})"

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def state(self) -> str:
        return str(self.meta.get("state", RECEIVED))

    @property
    def message_path(self) -> Path:
        return self.path / "message.eml"

    def raw(self) -> bytes:
        return self.message_path.read_bytes()

    def save(self, *, durable: bool = True, **changes: Any) -> None:
        """Update meta.json atomically; ``event`` (if given) is appended to the history.

        ``durable=False``: for "delivered" only. A power cut then may leave the state before it,
        "sending" — shown as interrupted, never sent again — so nothing is lost or doubled, and
        every delivered mail saves two fsyncs (~1–5 ms each on a busy disk, measured)."""
        event = changes.pop("event", None)
        old = self.state
        if "state" in changes:
            check_transition(old, changes["state"])
        self.meta.update(changes)  # type: ignore[typeddict-item]
        stamp = now_iso()
        self.meta["updated"] = stamp
        if event:
            self.meta.setdefault("events", []).append({"time": stamp, "event": event, "state": self.meta.get("state")})
        atomic_write(self.path / "meta.json", meta_bytes(self.meta), durable)
        if (old in TRANSPORT_FAILED_STATES) != (self.state in TRANSPORT_FAILED_STATES):
            self._mark_transport_failed(self.state in TRANSPORT_FAILED_STATES)

    def _mark_transport_failed(self, on: bool) -> None:
        """Note (or forget) that this entry waits after a transport failure, so that the send
        path finds the copy a person sends again without reading every entry (once.py). Best
        effort: a note lost costs only that check; a stale one is read and skipped."""
        mark = self.path.parent / TRANSPORT_FAILED / self.path.name
        try:
            if on:
                mark.parent.mkdir(mode=0o700, exist_ok=True)
                os.close(os.open(mark, os.O_WRONLY | os.O_CREAT, 0o600))
            else:
                mark.unlink(missing_ok=True)
        except OSError:
            return


def read_meta(path: Path) -> Meta:
    """The meta.json of the entry at ``path``; ValueError when it is not a JSON object (a disk
    error, a hand edit): every reader then treats the entry as damaged, not the queue."""
    data = json.loads((path / "meta.json").read_text())
    if not isinstance(data, dict):
        raise ValueError(f"meta.json holds a JSON {type(data).__name__}, not an object")
    return data  # type: ignore[return-value]  # a dict with the keys Entry.save writes


def meta_bytes(meta: Mapping[str, Any]) -> bytes:
    """meta.json as written: UTF-8. A word of the command line with bytes that are not UTF-8
    (a recipient, -f: Python holds them as surrogates) is written as a \\udcXX escape and
    read back as it was given: the message is kept, not lost to a UnicodeEncodeError."""
    text = json.dumps(meta, indent=1, ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(meta, indent=1).encode()


def meta_of(path: Path) -> Meta:
    """The meta.json of the entry at ``path`` for a command on that one entry: unreadable, gone
    or a directory (a hand, a disk error), it is a QueueError naming the message that is kept."""
    try:
        return read_meta(path)
    except ValueError as err:
        raise damaged(path, err) from None
    except (FileNotFoundError, IsADirectoryError) as err:
        raise damaged(path, err.strerror or str(err)) from None


def damaged(path: Path, error: Exception | str) -> QueueError:
    """The one-line error for an entry whose meta.json cannot be read; its message is kept."""
    return QueueError(
        f"message {path.name} cannot be read: its meta.json is damaged ({error})",
        hints=[f"the message itself is kept: {path / 'message.eml'}"],
    )


class EntryLock:
    """An exclusive flock on an entry, held until released (or the process dies)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Queue:
    """The queue directory. Cheap to construct; touches the disk only when used."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Called with each new entry once it is on disk (the resident checker tells its client
        # "kept", so that a client whose server dies afterwards never sends the message again).
        self.on_kept: Callable[[Entry], None] | None = None
        # The id the next create() uses: the resident checker's client chose it (sendpath/client.py).
        self.reserved_id: str | None = None

    @classmethod
    def default(cls) -> Queue:
        from sendguard import paths

        return cls(paths.state_dir() / "queue")

    def _ensure(self) -> None:
        from sendguard.paths import ensure_private_dir

        ensure_private_dir(self.root)

    def create(self, raw: bytes, meta: Meta) -> tuple[Entry, EntryLock]:
        """Keep a new message; returns the entry and its lock, already held.

        It is built in ``.new-ID`` and renamed into place: it exists whole or not at all. If
        anything fails (a full disk), the half-built directory is removed, so nothing is left
        that a later ``queue run`` could send, and the error is raised."""
        self._ensure()
        reserved, self.reserved_id = self.reserved_id, None
        # Every file and directory below gets its mode explicitly, inside a 0700 root: no umask
        # switch, which is the whole process's and would race the milter's other threads.
        lock_fd = -1
        tmp: Path | None = None
        try:
            while True:
                entry_id = reserved or new_id()
                tmp = self.root / f".new-{entry_id}"
                if (self.root / entry_id).exists():
                    if reserved:
                        raise QueueError(f"message {entry_id} is already kept")
                    continue
                try:
                    tmp.mkdir(mode=0o700)
                    break
                except FileExistsError:  # another process makes the same id right now
                    if reserved:  # left by a resident checker that died (the client decides now)
                        shutil.rmtree(tmp, ignore_errors=True)
                    continue
            # The lock first: a .new- directory whose lock nobody holds is a leftover.
            lock_fd = os.open(tmp / "lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            write_new(tmp / "message.eml", raw)
            meta = {"id": entry_id, "created": now_iso(), **meta}
            meta.setdefault("events", []).append({"time": meta["created"], "event": "kept", "state": meta.get("state")})
            write_new(tmp / "meta.json", meta_bytes(meta))
            fsync_dir(tmp)
            self._remember_message_id(entry_id, meta)
            final = self.root / entry_id
            os.rename(tmp, final)
            tmp = None
            fsync_dir(self.root)
        except BaseException:
            if lock_fd >= 0:
                os.close(lock_fd)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        entry = Entry(final, meta)
        faults.point("after-kept")
        if self.on_kept is not None:
            self.on_kept(entry)
        return entry, EntryLock(lock_fd)

    def unkeep(self, entry: Entry) -> bool:
        """Remove an entry that must not be sent (its delivery could not even begin): renamed
        out of sight first, so a crash halfway leaves a leftover, never a sendable entry."""
        gone = self.root / f".new-{entry.id}.gone"
        try:
            os.rename(entry.path, gone)
        except OSError:
            return False
        shutil.rmtree(gone, ignore_errors=True)
        return True

    def clean_leftovers(self, min_age: float = 60.0) -> list[str]:
        """Remove ``.new-*`` directories of processes that died while keeping a message (or
        removing one); returns their names. One whose lock is held is still being built."""
        removed: list[str] = []
        try:
            names = [n for n in os.listdir(self.root) if n.startswith(".new-")]
        except FileNotFoundError:
            return removed
        now = time.time()
        for name in names:
            path = self.root / name
            try:
                fd = os.open(path / "lock", os.O_RDWR)
            except FileNotFoundError:
                try:  # no lock yet: being made right now, or its maker died at once
                    if now - path.stat().st_mtime < min_age:
                        continue
                except OSError:
                    continue
                fd = -1
            except OSError:
                continue
            try:
                if fd >= 0:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        continue  # its maker is alive and at work
                shutil.rmtree(path, ignore_errors=True)
                removed.append(name)
            finally:
                if fd >= 0:
                    os.close(fd)
        return removed

    # --- Message-IDs of kept messages: the last line against sending one message twice -------

    def _message_id_dir(self, message_id: str) -> Path:
        try:
            from _sha256 import sha256  # the built-in module: hashlib loads OpenSSL
        except ImportError:  # Python >= 3.12
            from _sha2 import sha256  # type: ignore[no-redef,unused-ignore]
        key: str = sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return self.root / MESSAGE_IDS / key

    def _remember_message_id(self, entry_id: str, meta: Meta) -> None:
        """Note that ``entry_id`` has this Message-ID: an empty file named after it, made before
        the entry is renamed into place (a crash right after must not hide the entry). Best
        effort: losing it (a full disk) costs only this last line of defence."""
        message_id = meta.get("message_id")
        if not message_id or meta.get("duplicate_of"):
            return
        directory = self._message_id_dir(message_id)
        try:
            try:
                os.close(os.open(directory / entry_id, os.O_WRONLY | os.O_CREAT, 0o600))
            except FileNotFoundError:
                from sendguard.paths import ensure_private_dir

                ensure_private_dir(directory)
                os.close(os.open(directory / entry_id, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError:
            return

    def remember_message_id(self, entry_id: str, message_id: str) -> None:
        """Note that ``entry_id`` now carries ``message_id`` too (its message was replaced)."""
        self._remember_message_id(entry_id, {"message_id": message_id})

    def transport_failed(self) -> list[str]:
        """Ids of entries noted as deferred or failed, newest first (some may have moved on)."""
        try:
            return sorted(os.listdir(self.root / TRANSPORT_FAILED), reverse=True)
        except OSError:
            return []

    def prune_message_ids(self) -> int:
        """Forget the Message-IDs of entries that are gone (pruned after keep_days); returns how
        many notes were removed. queue run calls it, so the notes never outgrow the queue."""
        removed = 0
        base = self.root / MESSAGE_IDS
        try:
            keys = os.listdir(base)
        except FileNotFoundError:
            return 0
        for key in keys:
            directory = base / key
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for name in names:
                if not (self.root / name).is_dir():
                    with contextlib.suppress(OSError):
                        os.unlink(directory / name)
                        removed += 1
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty
        return removed

    def latest_with_message_id(self, message_id: str) -> Entry | None:
        """The latest entry kept with this Message-ID that is still there."""
        if not message_id:
            return None
        directory = self._message_id_dir(message_id)
        try:
            names = sorted(os.listdir(directory), reverse=True)
        except OSError:
            return None
        for name in names:
            try:
                entry = self.get(name)
            except (OSError, ValueError, QueueError):
                with contextlib.suppress(OSError):  # never made (a failed keep), or pruned
                    if not (self.root / name).exists():
                        os.unlink(directory / name)
                continue
            if entry.meta.get("message_id") == message_id:
                return entry
        return None

    def resolve(self, entry_id: str) -> Path:
        """The directory of ``entry_id`` or of the single entry it is a prefix of."""
        # longer than a file name may be (a pasted Message-ID, a whole line): the lookup would
        # fail with ENAMETOOLONG, no entry has such a name
        too_long = len(os.fsencode(entry_id)) > 255
        if not entry_id or "/" in entry_id or entry_id.startswith(".") or too_long:
            raise QueueError(f"no queued message with id {entry_id!r}", hints=["see `sendguard queue list`"])
        path = self.root / entry_id
        if path.is_dir():
            return path
        matches = sorted(p for p in self._dirs() if p.name.startswith(entry_id))
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise QueueError(f"no queued message with id {entry_id!r}", hints=["see `sendguard queue list`"])
        raise QueueError(f"{entry_id!r} matches {len(matches)} messages; give more of the id")

    def get(self, entry_id: str) -> Entry:
        path = self.resolve(entry_id)
        return Entry(path, meta_of(path))

    def _dirs(self) -> Iterator[Path]:
        try:
            with os.scandir(self.root) as it:
                for d in it:
                    if d.is_dir() and not d.name.startswith("."):
                        yield Path(d.path)
        except FileNotFoundError:
            return

    def entries(self) -> list[Entry]:
        """Every entry, oldest first. An entry with unreadable meta is still listed."""
        out = []
        for path in sorted(self._dirs()):
            try:
                meta = read_meta(path)
            except (OSError, ValueError):
                meta = {"id": path.name, "state": INTERRUPTED, "note": "meta.json unreadable; message.eml is kept"}
            out.append(Entry(path, meta))
        return out

    def try_lock(self, entry: Entry) -> EntryLock:
        """Lock ``entry`` or raise QueueLockedError if another process holds it."""
        fd = os.open(entry.path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise QueueLockedError(f"message {entry.id} is being handled by another sendguard process") from None
            raise
        return EntryLock(fd)

    @contextlib.contextmanager
    def locked(self, entry_id: str, wait: float = 0.0) -> Iterator[Entry]:
        """Lock an entry and yield it freshly read (its state may have changed meanwhile).
        ``wait``: seconds to wait for another process that holds it, else QueueLockedError at once."""
        entry = Entry(self.resolve(entry_id))
        end = time.monotonic() + wait
        while True:
            try:
                lock = self.try_lock(entry)
                break
            except QueueLockedError:
                if time.monotonic() >= end:
                    raise
                time.sleep(0.005)
        try:
            entry.meta = meta_of(entry.path)
            yield entry
        finally:
            lock.release()

    def find_confirmable(self, fingerprint: str, window: float, now: float | None = None) -> Entry | None:
        """A held entry with this fingerprint, created within ``window`` seconds.

        The milter's copies count from when the sender was told (``told_at``); one whose sender
        was never told (``told`` False: the 550 never reached the MTA) is found whatever its
        age, to be held again, never confirmed."""
        return self._latest_kept(HELD, fingerprint, window, now)

    def find_blocked(self, fingerprint: str, window: float, now: float | None = None) -> Entry | None:
        """A blocked entry with this fingerprint, created within ``window`` seconds: nothing
        confirms a block, so the same message sent again is that one, blocked again."""
        return self._latest_kept(BLOCKED, fingerprint, window, now)

    def _latest_kept(self, state: State, fingerprint: str, window: float, now: float | None) -> Entry | None:
        now = time.time() if now is None else now
        for entry in reversed(self.entries()):
            if entry.state != state or entry.meta.get("fingerprint") != fingerprint:
                continue
            if entry.meta.get("told") is False:
                return entry
            told_at = entry.meta.get("told_at")
            start = told_at if isinstance(told_at, (int, float)) else None
            if start is None:
                start = datetime.fromisoformat(entry.meta["created"]).timestamp()
            if now - start <= window:
                return entry
        return None

    def confirm(self, entry_id: str) -> bool:
        """Mark a held entry confirmed (its identical message was sent again); False when it is
        no longer held or another process has it."""
        try:
            with self.locked(entry_id) as entry:
                if entry.state != HELD:
                    return False
                entry.save(state=CONFIRMED, event="confirmed by sending it again")
                return True
        except SendguardError:
            return False

    def find_confirmed_thread(
        self, envelope: list[str], thread_ids: list[str], rules: list[str], window: float, now: float | None = None
    ) -> Entry | None:
        """A message delivered as a confirmed hold (or in the thread of one) within ``window``
        seconds, to the same recipients, that this message replies to, and whose confirmed hold
        covered every rule that holds this one."""
        now = time.time() if now is None else now
        wanted = sorted(envelope)
        ids = set(thread_ids)
        for entry in reversed(self.entries()):
            meta = entry.meta
            if not meta.get("confirms") or meta.get("message_id") not in ids:
                continue
            if sorted(meta.get("envelope", [])) != wanted or not set(rules) <= set(meta.get("confirmed_rules", [])):
                continue
            if now - datetime.fromisoformat(meta["created"]).timestamp() <= window:
                return entry
        return None
