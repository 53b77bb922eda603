"""The undo window: accepted mail waits ``[delay]`` seconds before it leaves, and can be taken back.

:func:`accept_delayed` keeps the entry ``delayed`` until ``not_before`` and starts a detached
worker (``python -m sendguard.act.delay ENTRY_DIR [CONFIG]``) that delivers it when due, under the
entry's lock. Never early, never twice and never lost come from the queue, not from the worker
(ARCHITECTURE.md, "The undo window"). The clock is injected everywhere (``now``, ``clock``,
``sleep``), so tests do not depend on it.
"""

from __future__ import annotations

import email.utils
import math
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from sendguard.act import events
from sendguard.act import queue as q
from sendguard.clock import now_iso
from sendguard.errors import DeliveryError, QueueError, QueueLockedError
from sendguard.exitcodes import ExitCode
from sendguard.runner import Runner

WORKER_MODULE = "sendguard.act.delay"
UNDOABLE = frozenset({q.DELAYED, q.DEFERRED})  # not left yet: waiting, or the transport failed


def delay_seconds(meta: q.Meta, config: Any) -> int:
    """How long this message waits: ``[delay]`` seconds, outside_seconds, rule_seconds (longest)."""
    delay = config.delay
    if not (delay.seconds or delay.outside_seconds or delay.rule_seconds):
        return 0
    seconds = delay.seconds
    if delay.outside_seconds:
        from sendguard.mail.message import domain_matches, domain_of

        org = config.organization.domains
        if any(not domain_matches(domain_of(a), org) for a in meta.get("envelope", [])):
            seconds = delay.outside_seconds
    if delay.rule_seconds and delay.rules:
        if {f.get("rule") for f in meta.get("findings", [])} & set(delay.rules):
            seconds = max(seconds, delay.rule_seconds)
    return max(0, int(seconds))


def not_before(entry: q.Entry) -> float:
    stamp = entry.meta.get("not_before")
    return datetime.fromisoformat(stamp).timestamp() if stamp else 0.0


def accept_delayed(
    queue: q.Queue,
    raw: bytes,
    meta: q.Meta,
    config: Any,
    event: str,
    *,
    now: float,
    say: Callable[..., None] | None = None,
    spawn: bool = True,
    env: Mapping[str, str] | None = None,
) -> int:
    """Keep an accepted message in the undo window and start its worker. Returns the exit code 0.
    ``env``: the sender's environment for the worker (and so for its transport and its desktop
    notification), when this runs in the resident checker on someone else's behalf."""
    delay = delay_seconds(meta, config)
    due = math.ceil(now + delay)
    stamp = now_iso(now)
    entry, lock = queue.create(
        raw,
        {
            **meta,
            "state": q.DELAYED,
            "not_before": now_iso(due),
            "delay": delay,
            "events": [{"time": stamp, "event": event, "state": q.DELAYED}],
        },
    )
    try:
        events.emit(entry, "delayed", config)
    finally:
        lock.release()
    started = True
    if spawn:
        try:
            spawn_worker(entry, config, env=env)
        except OSError:  # the message is kept and due all the same: queue run delivers it
            started = False
    if say is not None and not started:
        say(
            f"sendguard: the message {entry.id} waits, but its worker could not start; "
            "`sendguard queue run` delivers it when due"
        )
    if say is not None:
        warning = ""
        if meta.get("verdict") == "warn":
            reasons = [f["message"] for f in meta.get("findings", []) if f.get("severity") == "warn"]
            warning = f" Warning: {reasons[0]}" if reasons else ""
        from sendguard.printable import printable

        say(f"sendguard: leaves in {delay} s; `sendguard undo` takes it back ({entry.id}).{printable(warning)}")
    return int(ExitCode.OK)


def spawn_worker(entry: q.Entry, config: Any, *, env: Mapping[str, str] | None = None) -> int:
    """Start the detached worker for ``entry``; returns its pid (also written to worker.pid)."""
    from sendguard.detached import spawn_module

    args = [str(entry.path)] if config.path is None else [str(entry.path), str(config.path)]
    return spawn_module(WORKER_MODULE, *args, env=env)


FailureHandler = Callable[[q.Entry, DeliveryError], None]


def deliver_if_due(
    queue: q.Queue, entry_id: str, config: Any, *, now: float, on_failure: FailureHandler | None = None
) -> str:
    """Deliver a delayed entry if its time has come. Returns the state found or reached,
    ``"waiting"`` when it is not due yet, or ``"locked"`` when someone else holds it.
    ``on_failure`` is called when the transport fails, after the state and the log record are
    written and the lock is released (so ``undo`` or ``release`` can act at once)."""
    from sendguard.act.delivery import deliver

    failed: tuple[q.Entry, DeliveryError] | None = None
    try:
        with queue.locked(entry_id) as entry:
            if entry.state != q.DELAYED:
                return entry.state
            if not_before(entry) > now:
                return "waiting"
            try:
                deliver(entry, config)
            except DeliveryError as err:
                events.emit(entry, entry.state, config)  # deferred/failed: queue run or a person
                failed = (entry, err)
            else:
                from sendguard.act.sent import file_delivered

                file_delivered(entry, config)  # a failure is recorded on the entry: nobody is here
                events.emit(entry, "delivered", config)
                return q.DELIVERED
    except QueueLockedError:
        return "locked"
    except QueueError:
        return "gone"
    assert failed is not None  # every other way out of the block returned
    if on_failure is not None:
        on_failure(*failed)
    return failed[0].state


class DelayWorker(Runner):
    """Waits for one entry to come due (re-reading it: it may be undone), then delivers it."""

    name = "undo worker"
    keep_pid_file = True  # worker.pid names the entry's last worker, also once it is gone

    def __init__(
        self,
        queue: q.Queue,
        entry_id: str,
        config: Any,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        lock_tries: int = 100,
        on_failure: FailureHandler | None = None,
        config_path: Path | None = None,
    ) -> None:
        super().__init__(pid_path=queue.root / entry_id / "worker.pid")
        self.queue = queue
        self.entry_id = entry_id
        self.config = config
        self.now = clock  # the wall clock of not_before, not the runner's idle clock
        self.sleep = sleep
        self.lock_tries = lock_tries
        self.on_failure = on_failure
        self.config_path = config_path
        self.result: str | None = None  # the state found or reached

    def start(self) -> None:
        """Load the config (after the pid file is written: a worker that cannot start is seen)."""
        from sendguard.config import schema as config_mod
        from sendguard.errors import SendguardError

        if self.config is not None:
            return
        try:
            self.config = config_mod.load(self.config_path, required=self.config_path is not None)
        except (SendguardError, OSError) as err:
            self._could_not_start(err)

    def _could_not_start(self, err: Exception) -> None:
        from sendguard.act.notify import notify

        self.log(f"sendguard: undo worker: {err}; `sendguard queue run` delivers it")
        notify(
            "sendguard: a delayed message waits for `sendguard queue run`",
            f"{self.entry_id}: its worker could not start ({err}); it leaves with the next `sendguard queue run`",
            urgency="critical",
            wait=NOTIFY_WAIT,
        )
        self.code = int(ExitCode.CONFIG)
        self.stop()

    def own(self) -> bool:
        try:
            return super().own()
        except OSError as err:
            self._could_not_start(err)
            return False

    def next_work(self, timeout: float | None) -> str | None:
        try:
            entry = self.queue.get(self.entry_id)
        except (QueueError, OSError, ValueError):
            self._done("gone")
            return None
        if entry.state != q.DELAYED:
            self._done(entry.state)
            return None
        remaining = not_before(entry) - self.now()
        if remaining > 0:
            self.sleep(min(remaining, 5.0))  # re-read now and then: it may have been undone
            return None
        return self.entry_id

    def _done(self, result: str) -> None:
        self.result = result
        self.stop()

    def work(self, item: str) -> bool:
        result = deliver_if_due(self.queue, item, self.config, now=self.now(), on_failure=self.on_failure)
        if result == "locked" and self.lock_tries > 0:
            self.lock_tries -= 1
            self.sleep(0.1)
            return True
        self.result = result
        return False


def wait_and_deliver(queue: q.Queue, entry_id: str, config: Any, **options: Any) -> str:
    """The worker's loop, in this process (``options`` as for :class:`DelayWorker`): sleep until
    due, re-reading the entry, then deliver. Returns the state found or reached."""
    worker = DelayWorker(queue, entry_id, config, **options)
    worker.serve()
    assert worker.result is not None  # serve ends only by _done or work, which both set it
    return worker.result


class Undone(NamedTuple):  # not a dataclass: see sendmail_args.SendmailArgs
    entry: q.Entry
    draft: Path


def latest_undoable(queue: q.Queue) -> q.Entry | None:
    for entry in reversed(queue.entries()):
        if entry.state == q.DELAYED:
            return entry
    return None


def _too_late(entry: q.Entry) -> QueueError:
    if entry.state in (q.DELIVERED, q.SENDING, q.INTERRUPTED):
        when = entry.meta.get("delivered") or entry.meta.get("updated", "")
        return QueueError(
            f"message {entry.id} already left ({entry.state} {when}); sendguard cannot recall mail",
            hints=[f"if it went to the wrong person: sendguard oops {entry.id}"],
        )
    return QueueError(
        f"message {entry.id} is {entry.state}, not waiting in the undo window",
        hints=["`sendguard queue list` shows what is waiting"],
    )


def draft_bytes(entry: q.Entry, *, now: float | None = None) -> bytes:
    """The message as a draft: Bcc recipients (only in the envelope) written back as a Bcc
    header, and a Date (when it was taken back) where the program that sent it gave none:
    without one, aerc lists the draft with "???????" for its date."""
    from sendguard.mail.message import OutgoingMessage

    raw = entry.raw().replace(b"\r\n", b"\n")
    message = OutgoingMessage(raw)
    shown = {a.addr for a in message.header_recipients}
    hidden = [a for a in entry.meta.get("envelope", []) if a not in shown]
    added = b""
    if hidden:
        added += b"\nBcc: " + ", ".join(hidden).encode()
    if not message.header("Date"):
        added += b"\nDate: " + email.utils.formatdate(time.time() if now is None else now, localtime=True).encode()
    if not added:
        return raw
    head, sep, body = raw.partition(b"\n\n")
    return head + added + b"\n" + (sep[1:] or b"\n") + body


def undo(
    queue: q.Queue, entry_id: str | None, config: Any, *, drafts_dir: Path, wait: float = 10.0, now: float | None = None
) -> Undone:
    """Take a message back before it leaves; leave it as a draft. Raises QueueError if too late."""
    if entry_id is None:
        latest = latest_undoable(queue)
        if latest is None:
            delivered = [e for e in queue.entries() if e.state == q.DELIVERED]
            hints = (
                [f"the last message that left is {delivered[-1].id}: sendguard oops {delivered[-1].id}"]
                if delivered
                else []
            )
            raise QueueError("no message is waiting in the undo window", hints=[*hints, "see `sendguard queue list`"])
        entry_id = latest.id
    deadline = time.monotonic() + wait
    while True:
        try:
            with queue.locked(entry_id) as entry:
                if entry.state not in UNDOABLE:
                    raise _too_late(entry)
                from sendguard.act.drafts import write_draft

                try:
                    draft = write_draft(drafts_dir, draft_bytes(entry, now=now), f"undone-{entry.id}", now=now)
                except OSError as err:  # taken back all the same: the person asked that it not leave
                    entry.save(state=q.UNDONE, event=f"undone; no draft could be written: {err.strerror}")
                    events.emit(entry, "undone", config)
                    raise QueueError(
                        f"{entry.id} is taken back and will not leave, but no draft could be written "
                        f"in {drafts_dir}: {err.strerror}",
                        hints=[f"the message is kept: {entry.message_path}", "[drafts] maildir names the folder"],
                    ) from None
                entry.save(state=q.UNDONE, event="undone", draft=str(draft))
                events.emit(entry, "undone", config)
                return Undone(entry, draft)
        except QueueLockedError:
            # The worker may be delivering it right now: wait to say honestly which way it went.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


NOTIFY_WAIT = 10.0  # seconds the exiting worker waits for notify-send (so it is not cut short)


def notify_failure(entry: q.Entry, err: DeliveryError) -> None:
    """Tell the person, who left the terminal long ago, that a delayed message did not leave."""
    from sendguard.act.notify import notify

    recipients = ", ".join(entry.meta.get("envelope") or entry.meta.get("recipients") or [])
    detail = err.message if len(err.message) <= 300 else err.message[:297] + "..."
    notify(
        f"sendguard could not send: {entry.meta.get('subject', '')}",
        "\n".join([f"to {recipients}", detail, *err.hints, "`sendguard queue list` shows it"]),
        urgency="critical",
        wait=NOTIFY_WAIT,
    )


def worker_main(argv: list[str]) -> int:
    """``python -m sendguard.act.delay ENTRY_DIR [CONFIG]``: wait for one entry and deliver it."""
    if not argv:
        print("usage: python -m sendguard.act.delay ENTRY_DIR [CONFIG]", file=sys.stderr)
        return int(ExitCode.USAGE)
    entry_dir = Path(argv[0])
    worker = DelayWorker(
        q.Queue(entry_dir.parent),
        entry_dir.name,
        None,
        on_failure=notify_failure,
        config_path=Path(argv[1]) if len(argv) > 1 else None,
    )
    code = worker.run()
    if code:
        return code
    return 0 if worker.result in (q.DELIVERED, q.UNDONE, "gone") else int(ExitCode.TEMPFAIL)


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
