"""Queue entry ids, made where the message first arrives (the resident checker's client makes
the id, so that client and server can tell afterwards whether the server kept it)."""

from __future__ import annotations

import os
import time


def new_id() -> str:
    """``YYYYmmdd-HHMMSS-`` (local time) and six hex digits: the microsecond (five) and one
    random. Ids sort in the order the entries were made, also within one second: ``entries()``
    is oldest first by name, and "the latest" (``undo`` without an id, ``oops last``) must be
    the latest — a git series or a script sends several mails a second, and with a random
    suffix the last of them was any of them. A clash (same microsecond, same digit) is retried
    by ``Queue.create``. (os.urandom, not secrets: no import of secrets/random/hmac.)"""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(seconds))}-{nanos // 1000:05x}{os.urandom(1)[0] & 15:x}"


def valid(entry_id: object) -> bool:
    """An id as :func:`new_id` makes them (a client's id becomes a directory name)."""
    if not isinstance(entry_id, str) or len(entry_id) != 22:
        return False
    date, clock, tail = entry_id[:8], entry_id[9:15], entry_id[16:]
    return (
        entry_id[8] == "-"
        and entry_id[15] == "-"
        and date.isdigit()
        and clock.isdigit()
        and all(c in "0123456789abcdef" for c in tail)
    )
