"""Where the milter keeps each sender's own learned history: one directory per sender.

``STATE/senders/ADDRESS/history.sqlite`` (the history store's own file name), so the rules read a
sender's history exactly as they read a single user's (``CheckContext.history``). The sender is
the authenticated login (Postfix's ``{auth_authen}``) or else the envelope sender, lower-cased.
``sendguard learn --as ADDRESS`` seeds the same directory. A notice about a held message goes to
the person who logged in (:func:`notice_address`).
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from urllib.parse import quote

from sendguard import paths


def state_dir(config: object) -> Path:
    """The milter's state directory: ``[milter] state_dir`` or ``$XDG_DATA_HOME/sendguard/milter``."""
    configured = getattr(getattr(config, "milter", None), "state_dir", "")
    if configured:
        return Path(configured).expanduser()
    return paths.state_dir() / "milter"


def key_of(auth_user: str | None, envelope_sender: str | None) -> str:
    """Who sent it: the authenticated login, else the envelope sender ('' for the null sender)."""
    for value in (auth_user, envelope_sender):
        value = (value or "").strip().strip("<>").strip().lower()
        if value:
            return value
    return ""


def own_addresses(sender: str, envelope_from: str) -> list[str]:
    """The sender's own addresses for their check and their history: the login (or envelope
    sender) and the envelope sender, each once."""
    return [a for a in dict.fromkeys([sender, envelope_from.lower()]) if "@" in a]


@functools.lru_cache(maxsize=1024)
def _sender_path(root: Path, key: str) -> Path:
    """The directory of one sender's history, quoted and joined once per (root, sender): the
    milter asks for it with every message."""
    return root / "senders" / dir_name(key)


def dir_name(key: str) -> str:
    """A file name for a sender key that can never leave the senders directory."""
    name = quote(key, safe="@+-_.=")
    if not name or name.startswith("."):
        name = "%2E" + name[1:] if name else "%00"
    return name


def sender_dir(root: Path, key: str, *, create: bool = False) -> Path:
    path = _sender_path(root, key)
    if create:
        paths.ensure_private_dir(path)
    return path


def notice_address(root: Path, key: str, envelope_sender: str) -> str:
    """Where a note about a held message goes: to the person who wrote it ('' for nobody).

    Whoever logged in wrote it, whatever MAIL FROM says (a shared mailbox, a list, a bounce
    address): the login itself when it is an address; a login that is not one reaches the
    address its history sends from most (what the milter let through, ``learn --as``); failing
    both, the envelope sender."""
    envelope_sender = envelope_sender.strip().strip("<>").strip()
    if not key or key == envelope_sender.lower():
        return envelope_sender
    if "@" in key:
        return key
    from sendguard.history.store import open_read_only

    try:
        store = open_read_only(sender_dir(root, key))
        known = store.sent_from() if store is not None else []
    except (OSError, sqlite3.Error):
        known = []
    return known[0] if known else envelope_sender
