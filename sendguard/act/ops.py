"""Act on kept messages: release, discard, deliver what is due. Used by the CLI and the TUI.

Every operation takes the entry's lock and re-reads its state under it, so two releases, a
release and a ``queue run``, or a ``queue run`` and a late sendmail process never deliver one
message twice: the second one finds the entry locked or already delivered.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime

from sendguard.act import events
from sendguard.act import queue as q
from sendguard.act.delivery import deliver
from sendguard.config.schema import Config
from sendguard.errors import DeliveryError, QueueError, QueueLockedError
from sendguard.exitcodes import ExitCode

# DELAYED too: releasing mail in its undo window sends it now instead of when the window ends.
RELEASABLE = frozenset({q.HELD, q.BLOCKED, q.DEFERRED, q.FAILED, q.INTERRUPTED, q.RELEASED, q.ACCEPTED, q.DELAYED})


def effective_state(queue: q.Queue, entry: q.Entry) -> str:
    """The state as a person should see it: ``sending`` with nobody at work is ``interrupted``."""
    if entry.state != q.SENDING:
        return entry.state
    try:
        lock = queue.try_lock(entry)
    except QueueLockedError:
        return q.SENDING
    lock.release()
    return q.INTERRUPTED


def release(queue: q.Queue, entry_id: str, config: Config) -> q.Entry:
    """Deliver a kept message now (a person's decision). Raises if it already left."""
    with queue.locked(entry_id) as entry:
        if entry.state == q.SENDING:
            entry.meta["state"] = q.INTERRUPTED  # we hold the lock, so nobody is sending it
        if entry.state not in RELEASABLE:
            raise QueueError(f"message {entry.id} is {entry.state}; nothing to release")
        entry.save(state=q.RELEASED, event="released")
        events.emit(entry, "released", config)
        deliver(entry, config)
        events.emit(entry, "delivered", config)
        return entry


def discard(queue: q.Queue, entry_id: str, config: Config) -> q.Entry:
    """Drop a kept message: it will never be delivered; its record stays until pruned."""
    with queue.locked(entry_id) as entry:
        if entry.state in (q.DELIVERED, q.CONFIRMED):
            raise QueueError(f"message {entry.id} was already delivered; see `sendguard oops`")
        entry.save(state=q.DISCARDED, event="discarded")
        events.emit(entry, "discarded", config)
        return entry


@dataclass
class RunReport:
    lines: list[str] = field(default_factory=list)
    delivered: int = 0
    failed: int = 0

    @property
    def exit_code(self) -> int:
        return int(ExitCode.TEMPFAIL if self.failed else ExitCode.OK)


def _is_due(entry: q.Entry, now: float) -> bool:
    if entry.state not in q.DUE_STATES:
        return False
    not_before = entry.meta.get("not_before")
    return not (not_before and datetime.fromisoformat(not_before).timestamp() > now)


def run_due(queue: q.Queue, config: Config, now: float | None = None) -> RunReport:
    """Deliver every due entry nobody else is working on; mark abandoned sends interrupted."""
    now = time.time() if now is None else now
    report = RunReport()
    for entry in queue.entries():
        if entry.state not in q.DUE_STATES and entry.state != q.SENDING:
            _prune(entry, config, now)
            continue
        try:
            lock = queue.try_lock(entry)
        except QueueLockedError:
            continue
        try:
            entry.meta = json.loads((entry.path / "meta.json").read_text())
            if entry.state == q.SENDING:
                entry.save(state=q.INTERRUPTED, event="found interrupted while sending; not resent")
                report.lines.append(
                    f"{entry.id}: interrupted while sending; it may have left. "
                    f"Check, then `sendguard release` or `discard` it."
                )
                continue
            if not _is_due(entry, now):
                continue
            try:
                deliver(entry, config)
            except DeliveryError as err:
                report.failed += 1
                report.lines.append(f"{entry.id}: {err.message}")
                continue
            report.delivered += 1
            report.lines.append(f"{entry.id}: delivered")
            events.emit(entry, "delivered", config)
        finally:
            lock.release()
    from sendguard.incidents.restore import prune_restored

    prune_restored(queue.root.parent, config.queue.keep_days, now)  # what `oops` read back from the log
    return report


def _prune(entry: q.Entry, config: Config, now: float) -> None:
    """Remove final entries older than ``[queue] keep_days``."""
    if entry.state not in q.FINAL_STATES:
        return
    updated = entry.meta.get("updated") or entry.meta.get("created")
    if updated and now - datetime.fromisoformat(updated).timestamp() > config.queue.keep_days * 86400:
        shutil.rmtree(entry.path, ignore_errors=True)
