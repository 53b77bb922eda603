"""File what sendguard itself delivers from the queue into the user's Sent maildir.

Mail sendguard delivered later (release, a fix, the undo window, ``queue run``) left without the
mail program, which therefore never filed it. A copy already filed by the mail program is not
filed twice, and filing never undoes a delivery (ARCHITECTURE.md, "The Sent folder").
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sendguard.act import queue as q
from sendguard.fsutil import fsync_dir, write_new

# A mail program files its copy right after sendmail returns; the entry was kept just before.
SLACK_SECONDS = 120


def sent_maildir(config: Any) -> Path | None:
    configured = config.sent.maildir
    return Path(configured).expanduser() if configured else None


def _message_id(raw: bytes) -> bytes:
    """The Message-ID header's value, as bytes, from the header block alone."""
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    for i, line in enumerate(lines):
        if line[:11].lower() == b"message-id:":
            value = line[11:]
            for more in lines[i + 1 :]:
                if more[:1] not in (b" ", b"\t"):
                    break
                value += more
            return b"".join(value.split())
    return b""


def already_filed(maildir: Path, message_id: bytes, since: float) -> bool:
    """A message with ``message_id`` written into ``maildir`` at or after ``since``."""
    if not message_id:
        return False
    for sub in ("cur", "new"):
        try:
            with os.scandir(maildir / sub) as it:
                files = [d.path for d in it if d.is_file() and d.stat().st_mtime >= since]
        except OSError:
            continue
        for path in files:
            try:
                with open(path, "rb") as handle:
                    head = handle.read(65536)
            except OSError:
                continue
            if _message_id(head) == message_id:
                return True
    return False


def write_seen(maildir: Path, data: bytes, *, now: float | None = None) -> Path:
    """Deliver ``data`` into ``maildir`` (made if missing, 0700) as a seen message."""
    from sendguard.paths import ensure_private_dir

    for sub in ("tmp", "new", "cur"):
        ensure_private_dir(maildir / sub)
    stamp = time.time() if now is None else now
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072") or "localhost"
    name = f"{int(stamp)}.M{int(stamp % 1 * 1e6)}P{os.getpid()}R{os.urandom(4).hex()}.{host}"
    tmp = maildir / "tmp" / name
    write_new(tmp, data.replace(b"\r\n", b"\n"))
    final = maildir / "cur" / f"{name}:2,S"
    os.rename(tmp, final)
    fsync_dir(final.parent)
    return final


def file_delivered(entry: q.Entry, config: Any) -> str | None:
    """File a copy of ``entry``, just delivered by sendguard from the queue, in ``[sent]
    maildir``. Returns a line for the person when something went wrong, else None."""
    maildir = sent_maildir(config)
    if maildir is None or entry.state != q.DELIVERED:
        return None
    raw = entry.raw()
    try:
        kept = datetime.fromisoformat(str(entry.meta.get("created"))).timestamp()
    except ValueError:
        kept = 0.0
    try:
        if already_filed(maildir, _message_id(raw), kept - SLACK_SECONDS):
            entry.save(event="already in the Sent folder (the mail program filed it)")
            return None
        path = write_seen(maildir, raw)
    except OSError as err:
        problem = f"it left, but no copy could be filed in {maildir}: {err.strerror or err}"
        entry.save(event=f"not filed in the Sent folder: {err.strerror or err}", sent_copy_error=problem)
        return problem
    entry.save(event=f"filed in {path.parent.parent}", sent_copy=str(path))
    return None
