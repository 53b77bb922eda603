"""Postfix's hold queue, for ``sendguard queue list/release/discard --postfix``.

A quarantined message lives in Postfix's own queue, not in sendguard's: ``postqueue -j`` lists
it (one JSON object per line), ``postsuper -H`` releases it (to the deferred queue, then
``postqueue -i`` asks for delivery now), ``postsuper -d ID hold`` deletes it. What sendguard
knows about it (subject, findings) is joined from the milter's own copy by Postfix queue id.
The administrator's decision is noted on that copy (``postfix_decision``, an event) and in the
milter's incident log, and a decided copy is never joined again (Postfix reuses queue ids).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sendguard.errors import QueueError

if TYPE_CHECKING:
    from sendguard.act.queue import Meta

_QUEUE_ID = re.compile(r"^[0-9A-Za-z]{6,20}$")
_OBSERVERS = ("sendguard.incidents.observer",)


def _config_args(config_dir: str) -> list[str]:
    return ["-c", config_dir] if config_dir else []


def run_tool(command: list[str]) -> str:
    """A Postfix command's output; QueueError (one line) when it is missing, hangs or fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise QueueError(f"{command[0]} not found", hints=["is Postfix installed on this machine?"]) from None
    except subprocess.TimeoutExpired:
        raise QueueError(f"{' '.join(command)} did not answer within 60 s") from None
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise QueueError(f"{' '.join(command)} failed: {why[-1] if why else f'exit {done.returncode}'}")
    return done.stdout


def hold_queue(config_dir: str = "") -> list[dict[str, Any]]:
    """The messages in Postfix's hold queue, as ``postqueue -j`` describes them."""
    out = []
    for line in run_tool(["postqueue", *_config_args(config_dir), "-j"]).splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if item.get("queue_name") == "hold":
            out.append(item)
    return out


def known_copies(milter_state: Path) -> dict[str, Meta]:
    """The milter's own records of quarantined, undecided messages, by Postfix queue id.

    Every copy the milter keeps (each 550's too) is in that queue, and the review screen asks
    every few seconds: plain reads, JSON parsed only where the bytes can match."""
    import os

    base = os.fspath(milter_state / "queue")
    try:
        with os.scandir(base) as it:
            names = [d.name for d in it if not d.name.startswith(".") and d.is_dir()]
    except FileNotFoundError:
        return {}
    out: dict[str, Meta] = {}
    for name in sorted(names):
        try:
            with open(os.path.join(base, name, "meta.json"), "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        if b'"quarantined"' not in data or b'"postfix_queue_id"' not in data:
            continue
        try:
            meta = json.loads(data)
        except ValueError:
            continue
        if not isinstance(meta, dict) or meta.get("state") != "quarantined" or meta.get("postfix_decision"):
            continue
        if meta.get("postfix_queue_id"):
            out[str(meta["postfix_queue_id"])] = meta  # type: ignore[assignment]
    return out


def listing(config_dir: str, milter_state: Path, held: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``queue list --json`` lines for Postfix's hold queue (the review screen reads them too).

    ``login``: whose history judged it (the authenticated login, else the envelope sender);
    ``sendguard_id``: the milter's own copy. Both empty for mail sendguard did not hold.
    ``held``: the hold queue as :func:`hold_queue` returns it (default: ask Postfix now).
    """
    from datetime import UTC, datetime

    copies = known_copies(milter_state)
    rows = []
    for item in hold_queue(config_dir) if held is None else held:
        qid = str(item.get("queue_id", ""))
        meta = copies.get(qid, {})
        rows.append(
            {
                "id": qid,
                "state": "held",
                "sender": item.get("sender", ""),
                "recipients": [r.get("address", "") for r in item.get("recipients", [])],
                "subject": meta.get("subject", ""),
                "verdict": meta.get("verdict", "hold"),
                "created": datetime.fromtimestamp(int(item.get("arrival_time", 0)), UTC).isoformat(timespec="seconds"),
                "reasons": [f["message"] for f in meta.get("findings", []) if f.get("severity") != "info"],
                "login": meta.get("milter_sender", ""),
                "sendguard_id": meta.get("id", ""),
            }
        )
    return rows


def _checked_id(queue_id: str) -> str:
    if not _QUEUE_ID.match(queue_id):
        raise QueueError(f"{queue_id!r} is not a Postfix queue id", hints=["see `sendguard queue list --postfix`"])
    return queue_id


def release(queue_id: str, config_dir: str = "", *, config: Any = None) -> list[str]:
    """Let a held message go: out of the hold queue, and ask for its delivery now.

    With ``config``, the decision is noted on the milter's copy; what could not be noted comes
    back as warnings (Postfix has acted either way)."""
    queue_id = _checked_id(queue_id)
    if queue_id not in {str(i.get("queue_id")) for i in hold_queue(config_dir)}:
        raise QueueError(
            f"no message {queue_id} in Postfix's hold queue", hints=["see `sendguard queue list --postfix`"]
        )
    run_tool(["postsuper", *_config_args(config_dir), "-H", queue_id])
    warnings = _note_decision(config, queue_id, "released")
    run_tool(["postqueue", *_config_args(config_dir), "-i", queue_id])
    return warnings


def discard(queue_id: str, config_dir: str = "", *, config: Any = None) -> list[str]:
    """Delete a held message from the hold queue (the milter's copy stays, in its incident log too)."""
    queue_id = _checked_id(queue_id)
    if queue_id not in {str(i.get("queue_id")) for i in hold_queue(config_dir)}:
        raise QueueError(
            f"no message {queue_id} in Postfix's hold queue", hints=["see `sendguard queue list --postfix`"]
        )
    run_tool(["postsuper", *_config_args(config_dir), "-d", queue_id, "hold"])
    return _note_decision(config, queue_id, "discarded")


def _note_decision(config: Any, queue_id: str, event: str) -> list[str]:
    """Mark the milter's copy of ``queue_id`` as decided and write the incident record.

    postsuper is root's alone, the milter runs as its own user: what is written here is written
    with that user's rights (fsutil.as_owner_of), so the milter can still read and prune it."""
    if config is None:
        return []
    import importlib

    from sendguard.fsutil import as_owner_of
    from sendguard.milter import senders

    # Loaded first: the owner's rights need not reach this interpreter's files (under /root).
    for name in ("mmap", "sendguard.act.events", "sendguard.act.queue", *_OBSERVERS, "sendguard.milter.journal"):
        importlib.import_module(name)
    root = senders.state_dir(config)
    with as_owner_of(root):
        return _note_as_owner(config, root, queue_id, event)


def _note_as_owner(config: Any, root: Path, queue_id: str, event: str) -> list[str]:
    from sendguard.act import events
    from sendguard.act.queue import Queue
    from sendguard.errors import SendguardError

    queue = Queue(root / "queue")
    warnings: list[str] = []
    if not queue.root.is_dir():
        return warnings
    try:
        ids = [
            e.id
            for e in queue.entries()
            if e.meta.get("postfix_queue_id") == queue_id
            and e.meta.get("state") == "quarantined"
            and not e.meta.get("postfix_decision")
        ]
        for entry_id in ids:
            with queue.locked(entry_id) as entry:
                entry.save(postfix_decision=event, event=f"{event} from Postfix's hold queue")
                events.emit(entry, event, config, observers=_OBSERVERS, warn=lambda w: warnings.append(_bare(w)))
                if event == "released":
                    warnings.extend(_learn_released(config, root, entry))
    except (OSError, SendguardError) as err:
        warnings.append(f"{queue_id} was {event}, but sendguard's copy of it could not be marked so: {err}")
    return warnings


def _learn_released(config: Any, root: Path, entry: Any) -> list[str]:
    """A released message leaves as one the milter let through: it goes into a journal of what
    to learn (milter.journal), which the milter's learning threads take up within ADOPT_EVERY
    seconds (or at its next start), so the sender's next mail to the same people is not held
    again for what the administrator allowed. Learning it here would need the history's code
    loaded under the milter's user's rights."""
    from sendguard.milter import senders
    from sendguard.milter.journal import Journal

    sender = str(entry.meta.get("milter_sender") or "")
    if not config.milter.learn or not sender:
        return []
    own = tuple(senders.own_addresses(sender, str(entry.meta.get("sender") or "")))
    try:
        journal = Journal.create(root)
        try:
            journal.append(sender, own, entry.raw())
        finally:
            journal.release()
    except OSError as err:
        return [f"{entry.id} was released, but will not be learned into {sender}'s history: {err}"]
    return []


def _bare(warning: str) -> str:
    """A warning without its ``sendguard: warning:`` prefix (the command adds it once)."""
    return warning.removeprefix("sendguard: warning: ")
