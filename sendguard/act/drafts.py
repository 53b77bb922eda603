"""Drafts for the mail program: maildir files that ``undo`` and ``oops`` leave behind.

A draft is a complete message in a maildir's ``cur/`` with the draft flag (``:2,D``), so it
shows up in a mail program that reads that maildir as its Drafts folder (``[drafts] maildir``),
and any single file opens directly: ``mutt -H FILE`` / ``neomutt -H FILE``. Written through
``tmp/`` and fsynced: a draft is the person's words and must survive a crash.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sendguard.fsutil import write_new
from sendguard.paths import ensure_private_dir


def drafts_maildir(config: Any, state_dir: Path) -> Path:
    configured = config.drafts.maildir
    return Path(configured).expanduser() if configured else state_dir / "drafts"


def write_draft(maildir: Path, data: bytes, label: str, *, now: float | None = None) -> Path:
    """Write ``data`` as a draft into ``maildir``; returns the file's path."""
    for sub in ("tmp", "new", "cur"):
        ensure_private_dir(maildir / sub)
    stamp = int(time.time() if now is None else now)
    name = f"{stamp}.{os.getpid()}_{os.urandom(4).hex()}.{label}"
    tmp = maildir / "tmp" / name
    write_new(tmp, data.replace(b"\r\n", b"\n"))
    final = maildir / "cur" / f"{name}:2,D"
    os.rename(tmp, final)
    return final


def rewrite_draft(maildir: Path, path: Path, data: bytes) -> Path | None:
    """Replace the draft written earlier at ``path`` with ``data``, in place (atomically), where
    it is now: a mail program may have moved it between ``new/`` and ``cur/`` or changed its
    flags. None when it is gone (sent or deleted): it is not written again."""
    base = path.name.split(":2,", 1)[0]
    current = None
    for sub in ("cur", "new"):
        folder = maildir / sub
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        current = next((folder / n for n in names if n.split(":2,", 1)[0] == base), None)
        if current is not None:
            break
    if current is None:
        return None
    tmp = maildir / "tmp" / f"{base}.{os.urandom(4).hex()}"
    ensure_private_dir(tmp.parent)
    write_new(tmp, data.replace(b"\r\n", b"\n"))
    os.replace(tmp, current)
    return current
