"""Act on kept messages: release, discard, deliver what is due. Used by the CLI and the TUI.

Every operation takes the entry's lock and re-reads its state under it, so two releases, a
release and a ``queue run``, or a ``queue run`` and a late sendmail process never deliver one
message twice: the second one finds the entry locked or already delivered.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sendguard.act import aliases, events
from sendguard.act import queue as q
from sendguard.act.delivery import deliver
from sendguard.act.restored import prune_restored
from sendguard.act.sent import file_delivered
from sendguard.config.schema import Config
from sendguard.errors import DeliveryError, QueueError, QueueLockedError, SendguardError
from sendguard.exitcodes import ExitCode
from sendguard.model import Verdict

# DELAYED too: releasing mail in its undo window sends it now instead of when the window ends.
RELEASABLE = frozenset(
    {
        q.RECEIVED,
        q.SUPERSEDED,
        q.HELD,
        q.BLOCKED,
        q.DEFERRED,
        q.FAILED,
        q.INTERRUPTED,
        q.RELEASED,
        q.ACCEPTED,
        q.DELAYED,
    }
)


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


def unjudged(meta: q.Meta) -> bool:
    """Kept before any check decided about it: after an error (a broken config, a crash in the
    send path), or with no decision written. Such a message has no verdict a person could
    have agreed to, so releasing it must check it first."""
    return bool(meta.get("error")) or meta.get("state", q.RECEIVED) == q.RECEIVED


def judge(entry: q.Entry, config: Config, state_dir: Path) -> Verdict:
    """Check a kept message as the send path checks a new one, under ``config``; record the
    findings and the verdict (the caller holds the entry's lock). Held or blocked by the
    check, the entry says so; otherwise its state is left to the caller."""
    from sendguard.decide.check import check_message, recipients_for, refuse_guessed_envelope
    from sendguard.mail.message import OutgoingMessage, normalize_address
    from sendguard.sendpath.args import parse, refuse_control_characters, without_read_recipients
    from sendguard.sendpath.path import fingerprint

    raw = entry.raw()
    message = OutgoingMessage(raw)
    meta = entry.meta
    envelope = list(meta.get("envelope") or [])
    if not envelope:  # kept before the arguments were read: read them as the send path would
        args = refuse_control_characters(parse(list(meta.get("argv", []))))
        refuse_guessed_envelope(message, args.recipients, args.read_recipients)
        recipients = recipients_for(message, args.recipients, args.read_recipients)
        envelope = [normalize_address(addr) for addr in recipients]
        if not envelope:
            raise QueueError(
                f"message {entry.id} names no recipients; it cannot be checked or sent",
                hints=[f"sendguard discard {entry.id}, and send it again from your mail program"],
            )
        meta.update(
            {
                # as the send path hands them over: the list checked, never the transport's own -t
                "options": without_read_recipients(args.options),
                "recipients": recipients,
                "envelope": envelope,
                "read_recipients": args.read_recipients,
                "sender": args.sender,
            }
        )
    if not meta.get("aliases_expanded"):  # kept before msmtp's aliases were expanded: now, as the send path does
        recipients, expanded = aliases.expand(
            config.transport.command,
            list(meta.get("options", [])),
            list(meta.get("recipients") or envelope),
            raw[: message.header_block.end],
        )
        envelope = [normalize_address(addr) for addr in recipients]
        meta.update({"recipients": recipients, "envelope": envelope, "aliases_expanded": True})
        if expanded:
            meta["aliases"] = expanded
    from sendguard.config.cache import stamp

    config_key = stamp(config)
    decision = check_message(
        message, config, envelope=envelope, state_dir=state_dir, options=tuple(meta.get("options", []))
    ).decision
    verdict = decision.verdict
    changes: dict[str, Any] = {
        "verdict": verdict.label,
        "findings": [f.to_json() for f in decision.findings],
        "fingerprint": fingerprint(raw, envelope),
        "subject": message.subject,
        "error": [],
        "config_key": config_key,
        "event": f"checked (it had been kept unchecked): {verdict.label}",
    }
    if verdict == Verdict.BLOCK:
        changes["state"] = q.BLOCKED
    elif verdict == Verdict.HOLD:
        changes["state"] = q.HELD
    entry.save(**changes)
    if verdict >= Verdict.HOLD:
        events.emit(entry, entry.state, config)
    return verdict


def release(queue: q.Queue, entry_id: str, config: Config, *, unchecked: bool = False) -> q.Entry:
    """Deliver a kept message now (a person's decision). Raises if it already left.

    A message kept before it was checked is checked first, like a new one: held or blocked by
    that check, it stays (the returned entry says so) and the person decides again knowing why.
    ``unchecked`` sends it without the check, the documented way round (``release --unchecked``)."""
    with queue.locked(entry_id) as entry:
        if entry.state == q.SENDING:
            entry.meta["state"] = q.INTERRUPTED  # we hold the lock, so nobody is sending it
        if entry.state not in RELEASABLE:
            raise QueueError(f"message {entry.id} is {entry.state}; nothing to release")
        if unjudged(entry.meta):
            if not unchecked:
                if judge(entry, config, queue.root.parent) >= Verdict.HOLD:
                    return entry
            else:
                if not entry.meta.get("recipients"):
                    raise QueueError(
                        f"message {entry.id} names no recipients sendguard could read; it cannot be sent",
                        hints=["fix it in your mail program and send it again"],
                    )
                entry.save(event="released without a check (--unchecked)", released_unchecked=True)
        entry.save(state=q.RELEASED, event="released")
        events.emit(entry, "released", config)
        deliver(entry, config)
        file_delivered(entry, config)
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


def _reason(meta: q.Meta) -> str:
    order = {"block": 0, "hold": 1, "warn": 2}
    serious = sorted(
        (f for f in meta.get("findings", []) if f.get("severity") in order), key=lambda f: order[f["severity"]]
    )
    return str(serious[0].get("message", "")) if serious else ""


def _is_due(entry: q.Entry, now: float) -> bool:
    if entry.state == q.RECEIVED:  # never decided (a crash before the check): checked, then sent
        return True
    if entry.state not in q.DUE_STATES:
        return False
    not_before = entry.meta.get("not_before")
    return not (not_before and datetime.fromisoformat(not_before).timestamp() > now)


def run_due(queue: q.Queue, config: Config, now: float | None = None) -> RunReport:
    """Deliver every due entry nobody else is working on; mark abandoned sends interrupted."""
    now = time.time() if now is None else now
    report = RunReport()
    queue.clean_leftovers()  # what processes that died while keeping a message left
    for entry in queue.entries():
        if entry.state not in q.DUE_STATES and entry.state not in (q.SENDING, q.RECEIVED):
            _prune(entry, config, now)
            continue
        try:
            lock = queue.try_lock(entry)
        except QueueLockedError:
            continue
        try:
            try:
                entry.meta = q.read_meta(entry.path)
            except ValueError:  # damaged since it was listed: queue list shows it, nothing to send
                continue
            if entry.state == q.SENDING:
                entry.save(state=q.INTERRUPTED, event="found interrupted while sending; not resent")
                report.lines.append(
                    f"{entry.id}: interrupted while sending; it may have left. "
                    f"Check, then `sendguard release` or `discard` it."
                )
                continue
            if not _is_due(entry, now):
                continue
            if unjudged(entry.meta):
                try:
                    verdict = judge(entry, config, queue.root.parent)
                except SendguardError as err:
                    report.failed += 1
                    report.lines.append(f"{entry.id}: not checked, so not sent: {err.message}")
                    continue
                if verdict >= Verdict.HOLD:
                    report.lines.append(f"{entry.id}: checked now: {verdict.label} — {_reason(entry.meta)}")
                    continue
            try:
                deliver(entry, config)
            except DeliveryError as err:
                report.failed += 1
                first, *more = err.reason_lines()
                report.lines += [f"{entry.id}: {first}", *(f"  {line}" for line in more)]
                continue
            report.delivered += 1
            report.lines.append(f"{entry.id}: delivered")
            problem = file_delivered(entry, config)
            if problem:
                report.lines.append(f"{entry.id}: {problem}")
            events.emit(entry, "delivered", config)
        finally:
            lock.release()
    prune_restored(queue.root.parent, config.queue.keep_days, now)  # what `oops` read back from the log
    queue.prune_message_ids()  # of entries pruned above
    return report


def _prune(entry: q.Entry, config: Config, now: float) -> None:
    """Remove final entries older than ``[queue] keep_days``."""
    if entry.state not in q.FINAL_STATES and entry.state != q.SUPERSEDED:
        return
    updated = entry.meta.get("updated") or entry.meta.get("created")
    if updated and now - datetime.fromisoformat(updated).timestamp() > config.queue.keep_days * 86400:
        shutil.rmtree(entry.path, ignore_errors=True)
