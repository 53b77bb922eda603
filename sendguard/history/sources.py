"""Where mail to learn from comes from: maildirs, mbox files, folders of message files, notmuch.

A directory is walked recursively and every regular file in it is a message (a maildir's
``cur`` and ``new`` are just folders of message files; ``tmp`` is skipped, being half-written
by definition). A file that starts with an mbox "From " line is split as an mbox; any other
file is one message. notmuch2 is imported only for ``--notmuch`` (never on the send path).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from sendguard.errors import SendguardError, UsageError
from sendguard.exitcodes import ExitCode

MAX_MESSAGE_BYTES = 50 * 1024 * 1024


class LearnSourceError(SendguardError):
    """A mail source cannot be read: bad input (65), not an internal error (70)."""

    exit_code = ExitCode.DATAERR


def message_files(path: Path, unreadable: list[str] | None = None) -> Iterator[Path]:
    """Every message file under ``path`` (itself if it is a file), in a stable order.

    A folder that cannot be read is never skipped in silence: it is appended to ``unreadable``
    (one line each, for the person), or without that list it ends the walk as an error."""
    if path.is_file():
        yield path
        return
    if not path.is_dir():
        what = "not a file or a directory" if path.exists() else "no such file or directory"
        raise UsageError(f"{path}: {what}")

    def refused(err: OSError) -> None:
        line = f"{err.filename or path}: cannot be read: {err.strerror or err}"
        if unreadable is None:
            raise LearnSourceError(line)
        unreadable.append(line)

    for root, dirs, files in os.walk(path, onerror=refused):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "tmp")
        for name in sorted(files):
            # regular files only: reading a FIFO or a device found in a mail folder never ends
            if not name.startswith(".") and (Path(root) / name).is_file():
                yield Path(root) / name


def read_messages(path: Path) -> Iterator[bytes]:
    """The raw bytes of each message in one file (an mbox gives several)."""
    try:
        if path.stat().st_size > MAX_MESSAGE_BYTES and not _is_mbox(path):
            return
        if _is_mbox(path):
            yield from _mbox(path)
        else:
            yield path.read_bytes()
    except OSError as err:
        raise LearnSourceError(f"{path}: cannot be read: {err.strerror}") from None


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(5) == b"From "


def _mbox(path: Path) -> Iterator[bytes]:
    import mailbox

    box = mailbox.mbox(path, create=False)
    try:
        for key in box.keys():
            yield box.get_bytes(key, from_=False)
    finally:
        box.close()


def notmuch_messages(query: str, database: Path | None = None) -> Iterator[bytes]:
    """The bytes of every message matching a notmuch query (the first file of duplicates)."""
    for file in notmuch_files(query, database):
        try:
            yield file.read_bytes()
        except OSError:
            continue  # notmuch knows a file that is gone: nothing to learn from it


def notmuch_files(query: str, database: Path | None = None) -> list[Path]:
    """The file of every message matching a notmuch query (the first file of duplicates)."""
    try:
        import notmuch2
    except ImportError as err:
        raise LearnSourceError(f"--notmuch needs the notmuch2 Python module: {err}") from None
    try:
        if database:  # an explicit database needs no notmuch config file
            db = notmuch2.Database(
                path=str(database), mode=notmuch2.Database.MODE.READ_ONLY, config=notmuch2.Database.CONFIG.EMPTY
            )
        else:
            db = notmuch2.Database(mode=notmuch2.Database.MODE.READ_ONLY)
    except notmuch2.NotmuchError as err:
        raise LearnSourceError(
            f"the notmuch database cannot be opened: {err}", hints=["Run `notmuch new` first, or check NOTMUCH_CONFIG."]
        ) from None
    try:
        return [Path(msg.path) for msg in db.messages(query)]
    except notmuch2.NotmuchError as err:
        raise LearnSourceError(f"notmuch query {query!r} failed: {err}") from None
    finally:
        db.close()
