"""Private, crash-safe file writes: create-new and write-temp-fsync-rename."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes, durable: bool = True) -> None:
    """Create ``path`` (it must not exist), private (0600), with all of ``data``; fsynced unless
    ``durable`` is False. The queue, the incident log, restored entries and drafts write so."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old or the new content, never half.

    ``durable=False`` skips the two fsyncs: a crash of the process still leaves old or new
    (the rename is atomic), a power cut may leave the old. Only for a state whose loss is
    harmless — see Entry.save."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(3).hex()}.tmp")
    try:
        write_new(tmp, data, durable)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


@contextlib.contextmanager
def as_owner_of(path: Path) -> Iterator[None]:
    """Run the block with the file rights of ``path``'s owner when root acts on someone else's
    directory: what it writes there stays theirs (owner, group, mode), not root's 0600.

    For commands only root may run (postsuper) whose bookkeeping lives in another user's state
    (the milter's). Effective ids only, restored on leaving; anywhere else a no-op."""
    try:
        st = path.stat()
    except OSError:
        st = None
    if os.geteuid() != 0 or st is None or st.st_uid == 0:
        yield
        return
    groups, egid = os.getgroups(), os.getegid()
    try:  # a drop that fails half-way is undone as well
        os.setgroups([])
        os.setegid(st.st_gid)
        os.seteuid(st.st_uid)
        yield
    finally:
        os.seteuid(0)
        os.setegid(egid)
        os.setgroups(groups)
