"""Exactly once: the send path's answer when the message may already be in the queue.

Two ways one message reaches the send path twice:

1. The resident checker's client handed it to a server that stopped before it answered. The
   client chose the queue id (client.py), so it can tell: an entry with that id means the
   server kept it, and the client finishes that entry (:func:`adopt`) instead of keeping a
   second copy; no entry means the server never kept it — it is gone and cannot keep it later —
   and the client keeps the message under that id itself.
2. The mail program sent it again: its sendmail was killed mid-send, or said "not sent" after
   a crash. The last line of defence (:func:`earlier_copy`): the latest entry with the same
   Message-ID and the same content, within ``[sendmail] duplicate_window``. If it already
   left, or may have, the new copy is held; if it waits in the queue, that copy is sent once
   and the new one is not kept.
3. The person sent it again after the transport failed, and the program made a new Date and
   Message-ID (git send-email, mutt in batch, mail(1)): :func:`failed_twin`, a deferred or
   failed entry within the window whose message is the same but for those two. It is sent
   once, as sent again (a series' next patches reply to the new Message-ID), and the new copy
   is not kept — else ``queue run`` would send the deferred copy too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from sendguard.act import queue as q
from sendguard.errors import QueueLockedError, SendguardError

TWIN = "twin"  # kept after a transport failure, the same message but its Date and Message-ID (its lock is held)
LEFT = "left"  # it was delivered
MAYBE_LEFT = "maybe"  # its transport was interrupted, or is running right now
WAITING = "waiting"  # in the undo window: it leaves on its own
PENDING = "pending"  # kept and due, not yet sent: send that copy (its lock is held)

_NOT_SENDING = frozenset({q.HELD, q.BLOCKED, q.DISCARDED, q.UNDONE, q.CONFIRMED})


class Earlier(NamedTuple):
    kind: str
    entry: q.Entry
    lock: q.EntryLock | None  # held for PENDING


def earlier_copy(
    queue: q.Queue, message_id: str, window: float, now: float, same: Callable[[q.Entry], bool]
) -> Earlier | None:
    """The latest entry kept with ``message_id`` within ``window`` seconds whose content is the
    same (``same``), and what became of it; None if there is none that matters."""
    if not message_id or window <= 0:
        return None
    entry = queue.latest_with_message_id(message_id)
    if entry is None or entry.state in _NOT_SENDING:
        return None
    stamp = entry.meta.get("updated") or entry.meta.get("created")
    if not stamp or now - datetime.fromisoformat(stamp).timestamp() > window:
        return None
    if not same(entry):
        return None
    if entry.state == q.DELIVERED:
        return Earlier(LEFT, entry, None)
    if entry.state == q.DELAYED:
        return Earlier(WAITING, entry, None)
    if entry.state in (q.SENDING, q.INTERRUPTED):
        return Earlier(MAYBE_LEFT, entry, None)
    try:
        lock = queue.try_lock(entry)
    except QueueLockedError:  # a worker, queue run or a server is delivering it right now
        return Earlier(MAYBE_LEFT, entry, None)
    entry.meta = queue.get(entry.id).meta  # under the lock: it may have moved on meanwhile
    if entry.state in (q.ACCEPTED, q.RELEASED, q.DEFERRED, q.FAILED, q.RECEIVED):
        return Earlier(PENDING, entry, lock)
    lock.release()
    kinds: dict[str, str] = {q.DELIVERED: LEFT, q.DELAYED: WAITING, q.SENDING: MAYBE_LEFT, q.INTERRUPTED: MAYBE_LEFT}
    kind = kinds.get(entry.state)
    return None if kind is None else Earlier(kind, entry, None)


def failed_twin(queue: q.Queue, window: float, now: float, same: Callable[[q.Entry], bool]) -> Earlier | None:
    """The latest entry deferred or failed within ``window`` seconds whose message is ``same``
    (Date and Message-ID aside), locked; None if there is none."""
    if window <= 0:
        return None
    for entry_id in queue.transport_failed():
        try:
            entry = queue.get(entry_id)
        except SendguardError:  # gone (pruned): its note is stale
            continue
        if entry.state not in q.TRANSPORT_FAILED_STATES:
            continue
        stamp = entry.meta.get("created")
        if not stamp or now - datetime.fromisoformat(stamp).timestamp() > window:
            continue
        if not same(entry):
            continue
        try:
            lock = queue.try_lock(entry)
        except QueueLockedError:  # queue run is delivering it right now
            return Earlier(MAYBE_LEFT, entry, None)
        entry.meta = queue.get(entry.id).meta
        if entry.state in q.TRANSPORT_FAILED_STATES:
            return Earlier(TWIN, entry, lock)
        lock.release()
    return None


def wait_for_lock(queue: q.Queue, entry: q.Entry, timeout: float) -> q.EntryLock | None:
    """The entry's lock, waiting up to ``timeout`` s (a `queue run` may be at it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return queue.try_lock(entry)
        except QueueLockedError:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
