"""What a check worker let through and has not learned yet, kept on disk until it is learned.

A worker learns in batches (worker.Learning); a worker killed before it learned its batch (past
the time limit, out of memory, the milter killed) would lose what it held, and a recipient a
sender confirmed would stay unknown. So each message is also appended to a journal file of its
batch, which is removed once the batch is learned. A journal is locked (flock) by the process
that holds its batch; one nobody locks is an orphan, and the next worker to scan learns it (a
worker scans as it starts, whenever it has learned all it was handed, every few seconds while
idle, and before it ends). ``release --postfix`` leaves such an orphan for a released message.
Learning a message again changes nothing (the history knows it by Message-ID), so a journal
learned and not yet removed costs time, not correctness. Appends are not fsynced: they survive
the death of the process, not of the machine.

A journal is a run of records: two 4-byte big-endian lengths, a JSON ``[sender, own addresses]``
and the message's bytes. A record cut short (killed mid-write) ends the journal.

Each attempt to learn a journal is counted in its name (``NAME+N.journal``, renamed by whoever
holds it) before it starts, so that a journal whose learning kills the process (out of memory)
is not taken up by every next worker for ever: one tried TRIES times is set aside in
``learning/failed/`` (``doctor --postfix`` names it) and never deleted. One whose learning
failed with an error (a history locked too long, or damaged) is kept, its mtime set to when it
may be tried again (RETRY_AFTER).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sendguard.paths import ensure_private_dir

DIRECTORY = "learning"
SUFFIX = ".journal"
FAILED = "failed"
"""Under DIRECTORY: the journals set aside after TRIES attempts."""
TRIES = 3
RETRY_AFTER = 60.0
"""Seconds after an attempt that failed with an error before the next one."""
_HEAD = struct.Struct(">II")

Record = tuple[str, tuple[str, ...], bytes]
"""Sender, their own addresses, the message."""


class Journal:
    """One batch's journal file, open and locked by this process."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    @property
    def tries(self) -> int:
        """Attempts to learn it so far (its name counts them)."""
        return tries_of(self.path.name)

    def attempt(self) -> None:
        """Count one more attempt in the name, before it starts: an attempt that kills the
        process is counted all the same."""
        counted = self.path.with_name(f"{_base(self.path.name)}+{self.tries + 1}{SUFFIX}")
        os.rename(self.path, counted)
        self.path = counted

    def later(self, delay: float = RETRY_AFTER) -> None:
        """Keep it for an attempt ``delay`` seconds from now (its mtime says when), and let it go."""
        try:
            when = time.time() + delay
            os.utime(self.fd, (when, when))
        finally:
            self._close()

    def set_aside(self) -> Path:
        """Move it into ``learning/failed/`` under its first name (moved back, it starts its
        count anew), and let it go; where it is now."""
        try:
            failed = ensure_private_dir(self.path.parent / FAILED)
            base = _base(self.path.name)
            target = failed / (base + SUFFIX)
            n = 1
            while target.exists():  # one set aside before, moved back and failing again
                target, n = failed / f"{base}.{n}{SUFFIX}", n + 1
            os.rename(self.path, target)
            self.path = target
        finally:
            self._close()
        return target

    @classmethod
    def create(cls, root: Path) -> Journal:
        """A new, empty journal under the milter's state directory ``root``, locked before any
        other process can see it (it is made under a hidden name and renamed once locked)."""
        directory = ensure_private_dir(root / DIRECTORY)
        name = f"{os.getpid()}-{time.time_ns()}"
        hidden = directory / f".{name}.new"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            path = directory / (name + SUFFIX)
            os.rename(hidden, path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(hidden)
            raise
        return cls(fd, path)

    def append(self, sender: str, own: tuple[str, ...], raw: bytes) -> None:
        head = json.dumps([sender, list(own)]).encode()
        data = memoryview(_HEAD.pack(len(head), len(raw)) + head + raw)
        while data:
            data = data[os.write(self.fd, data) :]

    def remove(self) -> None:
        """Remove the journal (its batch is learned), then let the lock go. One that cannot be
        removed (a read-only state directory: OSError) stays locked while this process lives, so
        that no scan, of this process or another, learns it again and again meanwhile."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._close()

    def release(self) -> None:
        """Let the lock go and leave the journal: an orphan, for the next scan of any worker."""
        self._close()

    def _close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def records(self) -> list[Record]:
        return read(self.fd)

    @classmethod
    def adopt(cls, path: Path) -> Journal | None:
        """The journal at ``path``, now locked by this process; None if another holds it, it is
        gone (its owner learned and removed it) or it is no journal file."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                os.close(fd)
                return None
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _named(path, os.fstat(fd)):  # learned and removed, or renamed (an attempt counted), meanwhile
                os.close(fd)
                return None
        except BlockingIOError:  # its owner is alive and holds it
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, path)


def _split(name: str) -> tuple[str, int]:
    """A journal's name without its count of attempts and suffix, and that count. A name the
    milter did not make (``+²``, ``+5`` alone) counts none: int() of it would raise."""
    stem = name.removesuffix(SUFFIX)
    base, plus, count = stem.rpartition("+")
    if base and plus and count.isascii() and count.isdigit():
        return base, int(count)
    return stem, 0


def _base(name: str) -> str:
    return _split(name)[0]


def tries_of(name: str) -> int:
    return _split(name)[1]


def _named(path: Path, info: os.stat_result) -> bool:
    """Whether ``path`` still names the file ``info`` is of."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino) and info.st_nlink > 0


def adoptable(
    root: Path, failed: Callable[[OSError], None], aside: Callable[[Path], None]
) -> Iterator[tuple[Journal, list[Record]]]:
    """Each orphan under ``root`` (orphans), locked by this process, its attempt counted, with
    its records, one at a time. One kept after an error is left until its time has come; one
    tried TRIES times is set aside and passed to ``aside`` (where it is now). One that cannot be
    read (or counted) is let go (it stays for a later scan) and passed to ``failed``."""
    for path in orphans(root):
        try:
            journal = Journal.adopt(path)
            if journal is None:
                continue
            try:
                if journal.tries >= TRIES:
                    aside(journal.set_aside())
                    continue
                if journal.tries and os.fstat(journal.fd).st_mtime > time.time():  # kept after an error, not due
                    journal.release()
                    continue
                journal.attempt()  # counted before it is even read: reading a huge one may kill too
                records = journal.records()
            except BaseException:
                journal.release()
                raise
        except OSError as err:
            failed(err)
            continue
        yield journal, records


UNBORN_AGE = 60.0
"""Seconds after which a hidden journal nobody locks is one whose maker died before naming it."""


def orphans(root: Path) -> list[Path]:
    """The journals under ``root`` to try (Journal.adopt), in name order. Hidden ones whose
    maker died between making and naming them (they are empty) are removed on the way."""
    directory = root / DIRECTORY
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    for name in names:
        if name.startswith(".") and name.endswith(".new"):
            _remove_unborn(directory / name)
    return [directory / name for name in names if is_journal(name)]


def is_journal(name: str) -> bool:
    """A named journal (a hidden one is still being made)."""
    return name.endswith(SUFFIX) and not name.startswith(".")


def _remove_unborn(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    # its maker locks it within microseconds of making it: one older and unlocked is dead;
    # one held (its maker is alive) or that cannot be removed is looked at again next scan
    try:
        with contextlib.suppress(OSError):
            if time.time() - os.fstat(fd).st_mtime > UNBORN_AGE:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.unlink(path)
    finally:
        os.close(fd)


def read(fd: int) -> list[Record]:
    """The records of an open journal, up to the first one cut short or unreadable."""
    data = os.pread(fd, os.fstat(fd).st_size, 0)
    records: list[Record] = []
    at = 0
    while at + _HEAD.size <= len(data):
        head_size, raw_size = _HEAD.unpack_from(data, at)
        start = at + _HEAD.size
        end = start + head_size + raw_size
        if end > len(data):
            break
        try:
            sender, own = json.loads(data[start : start + head_size])
        except ValueError:
            break
        if not isinstance(sender, str) or not isinstance(own, list) or not all(isinstance(a, str) for a in own):
            break
        records.append((sender, tuple(own), data[start + head_size : end]))
        at = end
    return records
