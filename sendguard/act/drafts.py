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

from sendguard.act.queue import write_new
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
