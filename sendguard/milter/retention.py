"""How long the milter keeps its copies: ``[milter] keep_days``, never an undecided quarantine.

The milter keeps a copy of every message it holds, blocks or quarantines, in its own queue
under ``[milter] state_dir``; on a team's server that is one per rejected message, for good,
unless something removes them. :func:`prune` does, in the milter's own process
(lifecycle.Maintenance, off the reply path): a copy goes once it is decided or can no longer be
decided and has not changed for ``keep_days`` days. A copy of a message still in Postfix's hold
queue (quarantined, undecided, its queue id listed by ``postqueue -j``) stays whatever its age:
it is what the administrator's review shows. When the hold queue cannot be read, every
undecided quarantined copy stays.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from pathlib import Path
from typing import Any

from sendguard.act import queue as q

DAY = 86400.0
QUARANTINED = "quarantined"  # policy.QUARANTINED (not imported: the policy pulls in the checks)


def _age(meta: Any, now: float, field: str) -> float:
    stamp = meta.get(field) or meta.get("created")
    if not stamp:
        return 0.0
    try:
        return now - datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return 0.0  # unreadable: treated as new, so kept


def undecided_quarantine(meta: Any) -> bool:
    """A copy of a message Postfix may still hold for an administrator."""
    return meta.get("state") == QUARANTINED and not meta.get("postfix_decision")


def expired(meta: Any, now: float, keep_days: float, confirm_window: float) -> bool:
    """Old enough to go, hold queue aside: untouched for ``keep_days`` and, when held, no longer
    confirmable (its identical resend within ``confirm_window`` still sends it)."""
    if meta.get("state") not in {q.HELD, q.BLOCKED, q.CONFIRMED, QUARANTINED}:
        return False  # not a copy the milter made (or unreadable): a person should look
    if _age(meta, now, "updated") <= keep_days * DAY:
        return False
    return not (meta.get("state") == q.HELD and _age(meta, now, "created") <= confirm_window)


def prune(
    root: Path,
    config: Any,
    now: float,
    held_ids: Callable[[], Collection[str]] | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> list[str]:
    """Remove the milter's expired copies under ``root``; their ids.

    ``held_ids``: the queue ids in Postfix's hold queue (default: ``postqueue -j``), asked only
    when an undecided quarantined copy is old enough to go."""
    from sendguard.errors import SendguardError

    queue = q.Queue(root / "queue")
    section = config.milter
    candidates = [e for e in queue.entries() if expired(e.meta, now, section.keep_days, section.confirm_window)]
    held: Collection[str] | None = None
    if any(undecided_quarantine(e.meta) for e in candidates):
        try:
            held = (held_ids or _postfix_hold_ids(section.postfix_config))()
        except (OSError, SendguardError) as err:
            log(f"keeping every undecided quarantined copy: Postfix's hold queue could not be read: {err}")
    removed: list[str] = []
    for candidate in candidates:
        try:
            lock = queue.try_lock(candidate)
        except (OSError, SendguardError):
            continue  # someone is deciding it right now
        try:
            entry = queue.get(candidate.id)  # as it is now, under the lock
            if not expired(entry.meta, now, section.keep_days, section.confirm_window):
                continue
            if undecided_quarantine(entry.meta) and (held is None or entry.meta.get("postfix_queue_id") in held):
                continue
            if queue.unkeep(entry):
                removed.append(entry.id)
        except (OSError, ValueError, SendguardError):
            continue
        finally:
            lock.release()
    if removed:
        queue.prune_message_ids()
    queue.clean_leftovers()
    return removed


def _postfix_hold_ids(config_dir: str) -> Callable[[], set[str]]:
    def ids() -> set[str]:
        from sendguard.milter.postfix import hold_queue

        return {str(item.get("queue_id", "")) for item in hold_queue(config_dir)}

    return ids
