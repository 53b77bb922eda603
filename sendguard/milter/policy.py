"""What the milter does with one message: the send path's checks, per sender, and the way out.

No milter library here: the adapter hands over a :class:`Transaction` (the envelope, the sender
and the bytes) and gets an :class:`Outcome` back, so the whole policy is tested with bytes. What
each verdict becomes: ARCHITECTURE.md, "The milter".
"""

from __future__ import annotations

import copy
import threading
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sendguard.act import notice_texts
from sendguard.act import queue as q
from sendguard.config.schema import Config, IdentitySection
from sendguard.milter import notices, senders
from sendguard.model import Severity, Verdict

if TYPE_CHECKING:
    from sendguard.history.fit import Read
    from sendguard.history.judgement import Judgement

ACCEPT = "accept"
REJECT = "reject"
QUARANTINE = "quarantine"
TEMPFAIL = "tempfail"

QUARANTINED = "quarantined"  # the milter queue's state for a copy of a message in Postfix's hold queue

HEADER = "X-Sendguard"
NOTING = 2.0  # seconds a check or told() waits for a held copy's lock while another thread notes one line on it
# An SMTP reply line may be 512 octets (RFC 5321 4.5.3.1.5); leave room for "550-5.7.1 ".
MAX_LINE = 480
MAX_LINES = 8


class RefitFailed(Exception):
    """``learn_many(refit=True)`` learned, and then could not refit the judgement."""


class Transaction(NamedTuple):
    """One SMTP transaction as the MTA showed it to the milter."""

    sender: str
    """Whose history judges it: the authenticated login or the envelope sender (senders.key_of)."""
    envelope_from: str
    recipients: list[str]
    raw: bytes
    queue_id: str = ""


class Outcome(NamedTuple):
    action: str
    verdict: Verdict
    code: str = ""
    xcode: str = ""
    lines: tuple[str, ...] = ()
    header: str = ""
    """Value of an X-Sendguard header to add ('' for none)."""
    reason: str = ""
    """One line for the quarantine reason and the milter's log."""
    entry_id: str = ""
    untold: bool = False
    """A hold whose copy may be confirmed only once this 550 is handed to the MTA: whoever
    hands it over calls :meth:`Policy.told` (the adapter, right after setting the reply)."""
    failed: str = ""
    """For a tempfail: why the check of this message failed (it raised, its process died, it
    took too long), in a few words; '' when the message was not at fault (no worker was free).
    The milter process counts these per message (lifecycle.Failures)."""


TOO_LONG = "the check took too long"
# A message whose check failed this many times within FAILURE_WINDOW seconds gets a 550 instead
# of another 451 (lifecycle.Failures). Mail programs show a 4xx at once (msmtp, mutt, aerc, git
# send-email), so their user sends it again by hand, and the third try says what is wrong; an
# MTA (Postfix relaying through the submission server) retries after about 5, 15 and 35 minutes
# and would go on for days (maximal_queue_lifetime, 5 d): it bounces the message to its sender
# with the 550 after a quarter of an hour instead.
FAILURE_LIMIT = 3
FAILURE_WINDOW = 86400.0


def tempfail(why: str, failed: str = "") -> Outcome:
    return Outcome(
        TEMPFAIL,
        Verdict.HOLD,
        "451",
        "4.3.0",
        (smtp_text(f"sendguard: {why}; please try again later."),),
        reason=why,
        failed=failed,
    )


def too_long() -> Outcome:
    """The check ran out of time: a 451 that counts as a failed check of this message."""
    return tempfail(TOO_LONG, failed=TOO_LONG)


def smtp_text(text: str) -> str:
    """One SMTP reply line: ASCII (accents folded), no control characters, bounded."""
    folded = unicodedata.normalize("NFKD", " ".join(text.split()))
    ascii_text = "".join(c for c in folded if not unicodedata.combining(c)).encode("ascii", "replace").decode()
    ascii_text = "".join(c if " " <= c <= "~" else "?" for c in ascii_text)
    return ascii_text if len(ascii_text) <= MAX_LINE else ascii_text[: MAX_LINE - 1] + "~"


def without_received(raw: bytes) -> bytes:
    """The message without its Received: fields (Postfix adds one with a new queue id and time
    to every attempt; the client's resend is otherwise the same)."""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if i >= 0]
    split = min(ends) if ends else len(raw)
    kept: list[bytes] = []
    skipping = False
    for line in raw[:split].splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = line[:9].lower() == b"received:"
        if not skipping:
            kept.append(line)
    return b"".join(kept) + raw[split:]


def _weighty(decision: Any) -> list[Any]:
    return [f for f in decision.findings if f.severity >= Severity.WARN]


def _reason(finding: Any) -> str:
    """A finding as a sentence, with its suggestion."""
    return notice_texts.reason(finding.message, finding.suggestion)


def holding_reasons(decision: Any) -> list[str]:
    """Each finding that weighs (warn and up) as a sentence, with its suggestion."""
    return [_reason(f) for f in _weighty(decision)] or ["it could not be checked"]


def _first(decision: Any) -> Any:
    """The finding the headline speaks of: one that suggests someone, else the strongest."""
    weighty = _weighty(decision)
    suggesting = [f for f in weighty if f.recipient and f.suggestion]
    return (suggesting or weighty or [None])[0]


def headline(decision: Any) -> str:
    """The one sentence that says what is wrong, short enough for a mail program's error line:
    "X may be the wrong person; did you mean Y?" where a rule suggests someone, else the
    strongest finding's own sentence."""
    first = _first(decision)
    if first is not None and first.recipient and first.suggestion:
        return f"{first.recipient} may be the wrong person; did you mean {first.suggestion}?"
    return holding_reasons(decision)[0].rstrip(".") + "."


def reply_lines(decision: Any, main: str) -> list[str]:
    """``main`` (what happened, the way out, the headline) first and last, other reasons between.

    Mail programs show a multi-line reply differently, all cut at the terminal's width: mutt
    shows only the last line, aerc the lines joined from the first, git send-email and smtplib
    all of them. With one reason the reply is one line."""
    first = _first(decision)
    others = [f"Also: {_reason(f)}" for f in _weighty(decision) if f is not first]
    return [main, *others, main] if others else [main]


class Policy:
    """The milter's decisions, for one configuration. Thread-safe: one instance serves every
    connection; each call works on its own message."""

    def __init__(
        self,
        config: Config,
        root: Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        later: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.config = config
        self.root = root or senders.state_dir(config)
        self.queue = q.Queue(self.root / "queue")
        self.clock = clock
        self.deferred: list[Callable[[], None]] = []
        self.later = later or self.deferred.append
        """Takes work the reply need not wait for (notices). The worker and the lifecycle run it
        after the reply, on a thread of its own; by default it waits in ``deferred``, unrun, so
        a policy made for a test or a benchmark never mails anyone."""
        self.to_learn: Callable[[str, bytes, list[str], Read | None], None] = self.learn
        """Where a message let through goes to be learned: at once by default; the worker
        batches them and learns when idle (worker.py)."""
        self._confirm_lock = threading.Lock()
        self._configs: dict[tuple[str, str], tuple[Config, Config]] = {}

    # -- the decision -------------------------------------------------------------------------

    MAX_CONFIGS = 1024

    def config_for(self, tx: Transaction) -> Config:
        """The configuration with the sender as the identity (a shallow copy; sections shared),
        made once per sender and envelope sender: the check only reads it."""
        key = (tx.sender, tx.envelope_from)
        found = self._configs.get(key)
        if found is not None and found[0] is self.config:
            return found[1]
        own = senders.own_addresses(tx.sender, tx.envelope_from)
        config = copy.copy(self.config)
        config.identity = IdentitySection(addresses=own, name=self.config.identity.name)
        if len(self._configs) >= self.MAX_CONFIGS:
            self._configs.clear()
        self._configs[key] = (self.config, config)
        return config

    def judge(self, tx: Transaction, cancelled: Any = None) -> Outcome:
        """``cancelled``: anything with ``is_set()`` (a threading.Event, worker.Deadline); once
        set, nothing more is kept or confirmed and the outcome is a tempfail."""
        from sendguard.decide.check import check_message
        from sendguard.mail.message import OutgoingMessage

        cancelled = threading.Event() if cancelled is None else cancelled
        config = self.config_for(tx)
        sender_dir = senders.sender_dir(self.root, tx.sender)
        message = OutgoingMessage(tx.raw)
        result = check_message(message, config, envelope=tx.recipients, state_dir=sender_dir, now=self.clock())
        decision = result.decision
        if cancelled.is_set():
            return too_long()
        if decision.verdict <= Verdict.WARN:
            self._learn_later(tx, config, result.read)
            if decision.verdict == Verdict.WARN:
                rules = sorted({f.rule for f in decision.findings if f.severity == Severity.WARN})
                return Outcome(ACCEPT, decision.verdict, header=smtp_text("warn: " + ", ".join(rules)))
            return Outcome(ACCEPT, decision.verdict)
        meta = self._meta(tx, message, decision)
        if decision.verdict == Verdict.BLOCK:
            entry = self._keep(tx, meta, q.BLOCKED, cancelled)
            if entry is None:
                return too_long()
            main = (
                f"Blocked; it cannot be sent as it is. {headline(decision)} "
                f"(sendguard {entry.id}; ask your mail administrator)"
            )
            return self._reply(REJECT, decision.verdict, reply_lines(decision, main), entry.id)
        if self.config.milter.hold == "quarantine":
            entry = self._keep(tx, meta, QUARANTINED, cancelled)
            if entry is None:
                return too_long()
            reason = smtp_text("sendguard: " + "; ".join(holding_reasons(decision)))
            queue_id = tx.queue_id
            self._notice_later(tx, lambda to: notice_texts.quarantined(to, entry.meta, entry.id, queue_id))
            return Outcome(QUARANTINE, decision.verdict, reason=reason, entry_id=entry.id)
        return self._hold_or_confirm(tx, meta, decision, config, cancelled)

    def _hold_or_confirm(self, tx: Transaction, meta: q.Meta, decision: Any, config: Config, cancelled: Any) -> Outcome:
        from sendguard.sendpath.path import fingerprint

        window = self.config.milter.confirm_window
        contact = notices.contact(self.config)
        rules = sorted({f.rule for f in decision.findings if f.severity >= Severity.WARN})
        message_id = str(meta.get("message_id", ""))
        meta["fingerprint"] = fingerprint(without_received(tx.raw), [*tx.recipients, f"sender:{tx.sender}"])
        with self._confirm_lock:  # two connections resending at once: only one confirms
            earlier = self.queue.find_confirmable(meta["fingerprint"], window, self.clock())
            if earlier is not None and earlier.meta.get("told") is False:
                # Its 550 never reached the client (the worker died or was timed out after
                # keeping it, the client got a 451): this retry is the first time they hear of
                # it. Held again, the same copy; the notice too, as the first may never have left.
                again = self._hold_again(tx, earlier.id, cancelled)
                if again is not None:
                    return self._held(tx, again, decision, window, contact, again=True)
                if cancelled.is_set():
                    return too_long()
                earlier = None  # decided meanwhile (released, discarded): a hold of its own
            if earlier is not None and self._confirm(earlier.id, message_id, rules, cancelled):
                self._learn_later(tx, config)
                now, found = self.clock(), earlier.meta
                self._notice_later(
                    tx, lambda to: notice_texts.sent_anyway(to, found, earlier.id, now=now, contact=contact)
                )
                return Outcome(
                    ACCEPT,
                    decision.verdict,
                    header=smtp_text(f"confirmed by the sender ({', '.join(rules)})"),
                    entry_id=earlier.id,
                )
            series = self._confirmed_series(tx, meta, rules, window)
            if series is not None and not cancelled.is_set() and self._note_series(series.id, message_id):
                self._learn_later(tx, config)
                return Outcome(
                    ACCEPT,
                    decision.verdict,
                    header=smtp_text(f"in a series the sender confirmed ({', '.join(rules)})"),
                    entry_id=series.id,
                )
            entry = self._keep(tx, {**meta, "told": False}, q.HELD, cancelled)
        if entry is None:
            return too_long()
        return self._held(tx, entry, decision, window, contact)

    def _held(
        self, tx: Transaction, entry: q.Entry, decision: Any, window: int, contact: str, again: bool = False
    ) -> Outcome:
        """The 550 for a held copy, and its notice after the reply (``again``: the way out opens
        now, not when the copy was first kept), unless the copy's notice already went out."""
        kept, now = entry.meta, self.clock()
        since = now if again else None
        if "notice_sent_at" not in kept:
            self._notice_later(
                tx,
                lambda to: notice_texts.held(to, kept, entry.id, window=window, now=now, contact=contact, since=since),
                noting=entry.id,
            )
        minutes = max(1, window // 60)
        main = f"Held; send again within {minutes} min to send anyway. {headline(decision)} (sendguard {entry.id})"
        return self._reply(REJECT, decision.verdict, reply_lines(decision, main), entry.id)._replace(untold=True)

    def _hold_again(self, tx: Transaction, entry_id: str, cancelled: Any) -> q.Entry | None:
        """The held copy whose sender was never told, noted as held again (in the incident log
        too: the worker that kept it may have died before it wrote the record); None when it is
        no longer such a copy (decided meanwhile), another process has it, or time is up."""
        from sendguard.errors import SendguardError

        try:
            with self.queue.locked(entry_id, wait=NOTING) as entry:
                if entry.state != q.HELD or entry.meta.get("told") is not False or cancelled.is_set():
                    return None
                entry.save(
                    postfix_queue_id=tx.queue_id,
                    event="held again: the client never got the first 550 (it was told to try again)",
                )
        except SendguardError:
            return None
        self._record(entry, "held again")
        return entry

    def told(self, entry_id: str) -> bool:
        """Note that the 550 for this held copy was handed to the MTA: from now on (for
        ``confirm_window``) an identical resend confirms it. One save, not made durable: a
        power cut that loses it only makes the next resend a hold again. False when the copy is
        not waiting for this (a send-path entry, decided meanwhile) or cannot be had now."""
        from sendguard.errors import SendguardError

        try:  # waits out a notice being noted on the copy (_notice_sent)
            with self.queue.locked(entry_id, wait=NOTING) as entry:
                if entry.state != q.HELD or entry.meta.get("told") is not False:
                    return False
                entry.save(durable=False, told=True, told_at=self.clock())
                return True
        except (SendguardError, OSError):
            return False

    def _notice_sent(self, entry_id: str) -> None:
        """Note on the held copy that its notice was handed to sendmail, so that holding it again
        (its 550 lost) mails no second one. Not made durable: a lost note costs a second notice."""
        from sendguard.errors import SendguardError

        try:
            with self.queue.locked(entry_id, wait=5) as entry:
                entry.save(durable=False, notice_sent_at=self.clock(), event="hold notice mailed to the sender")
        except (SendguardError, OSError):
            return

    # git send-email sends a series as one message per patch, threaded to the first, and stops at
    # the first one held; sent again, each patch has a new Message-ID and its In-Reply-To points
    # at the new first one. So a confirmed message lends its confirmation to the messages of its
    # thread that follow within the window: same sender, same recipients, held for nothing it
    # was not confirmed for. Otherwise every run would confirm one patch and hold the next.

    def _confirmed_series(self, tx: Transaction, meta: q.Meta, rules: list[str], window: float) -> q.Entry | None:
        thread = set(meta.get("thread", []))
        if not thread:
            return None
        now, wanted = self.clock(), sorted(tx.recipients)
        for entry in reversed(self.queue.entries()):
            found = entry.meta
            if entry.state != q.CONFIRMED or found.get("milter_sender") != tx.sender:
                continue
            if not thread & set(found.get("series", [])) or sorted(found.get("envelope", [])) != wanted:
                continue
            if set(rules) <= set(found.get("confirmed_rules", [])) and now - found.get("confirmed_at", 0) <= window:
                return entry
        return None

    def _confirm(self, entry_id: str, message_id: str, rules: list[str], cancelled: Any) -> bool:
        """Confirm the held copy by its resend (``message_id``) for ``rules``, in one save: state,
        series and the rules together, so a follower never finds it confirmed for nothing. False
        when it is no longer held, cannot be had, or time ran out while waiting for it (the
        worker's reply would come too late: the client's retry must find it still held)."""
        from sendguard.errors import SendguardError

        try:
            with self.queue.locked(entry_id, wait=NOTING) as entry:
                if entry.state != q.HELD or cancelled.is_set():
                    return False
                entry.save(
                    state=q.CONFIRMED,
                    event="confirmed by sending it again",
                    series=_with_series(entry.meta, message_id),
                    confirmed_rules=rules,
                    confirmed_at=self.clock(),
                )
                return True
        except SendguardError:
            return False

    def _note_series(self, entry_id: str, message_id: str) -> bool:
        """Add ``message_id`` to the series of a confirmed entry; False when the entry cannot be
        had (another holds it past NOTING: its held notice may be noted on it just now)."""
        from sendguard.errors import SendguardError

        try:
            with self.queue.locked(entry_id, wait=NOTING) as entry:
                if entry.state != q.CONFIRMED:
                    return False
                entry.save(series=_with_series(entry.meta, message_id))
                return True
        except SendguardError:
            return False

    @staticmethod
    def _reply(action: str, verdict: Verdict, lines: list[str], entry_id: str) -> Outcome:
        text = tuple(smtp_text(line).replace("%", "%%") for line in lines)
        if len(text) > MAX_LINES:
            text = (*text[: MAX_LINES - 1], text[-1])
        return Outcome(action, verdict, "550", "5.7.1", text, reason=text[-1], entry_id=entry_id)

    # -- a message whose check keeps failing --------------------------------------------------

    def failure_key(self, tx: Transaction) -> str:
        """What makes two tries the same message (a hold's fingerprint: envelope, sender, the
        bytes but for Received, Date, Message-ID and MIME boundaries); the bytes' digest where
        even that cannot be had of this message."""
        from sendguard.sendpath.path import fingerprint

        envelope = [*tx.recipients, f"sender:{tx.sender}"]
        try:
            return fingerprint(without_received(tx.raw), envelope)
        except Exception:  # noqa: BLE001 — the message that breaks the check may break this too
            import hashlib

            digest = hashlib.sha256(without_received(tx.raw))
            digest.update("\0".join(envelope).encode("utf-8", "surrogateescape"))
            return "raw:" + digest.hexdigest()

    def unchecked(self, tx: Transaction, why: str, tries: int, entry_id: str = "") -> Outcome:
        """Refuse a message whose check failed ``tries`` times (``why``: the last failure): a
        550 with one line, and a copy kept (state blocked, the reason in ``error``, an incident
        record, a notice to the sender), so it is never sent unchecked and never lost.
        ``entry_id``: the copy an earlier refusal of the same message kept (nothing is kept or
        mailed twice) while it is there."""
        if entry_id and ("/" in entry_id or not (self.queue.root / entry_id / "meta.json").is_file()):
            entry_id = ""  # removed meanwhile (keep_days): this try is kept
        if not entry_id:
            meta: q.Meta = {
                "sender": tx.envelope_from,
                "milter_sender": tx.sender,
                "recipients": list(tx.recipients),
                "envelope": list(tx.recipients),
                "subject": _subject(tx.raw),
                "size": len(tx.raw),
                "checker": "milter",
                "postfix_queue_id": tx.queue_id,
                "error": [f"not checked: {why} ({tries} tries)"],
                "state": q.BLOCKED,
            }
            entry, lock = self.queue.create(tx.raw, meta)
            lock.release()
            self._record(entry, "unchecked")
            entry_id = entry.id
            kept = entry.meta
            self._notice_later(tx, lambda to: notice_texts.unchecked(to, kept, entry.id, why=why, tries=tries))
        main = f"sendguard could not check this message: {why} ({tries} tries); it was not sent (sendguard {entry_id})"
        return self._reply(REJECT, Verdict.HOLD, [main], entry_id)

    # -- keeping and confirming ---------------------------------------------------------------

    @staticmethod
    def _meta(tx: Transaction, message: Any, decision: Any) -> q.Meta:
        return {
            "sender": tx.envelope_from,
            "milter_sender": tx.sender,
            "from": str(message.sender) if message.sender else "",
            "recipients": list(tx.recipients),
            "envelope": list(tx.recipients),
            "subject": message.subject,
            "verdict": decision.verdict.label,
            "findings": [f.to_json() for f in decision.findings],
            "size": len(tx.raw),
            "checker": "milter",
            "postfix_queue_id": tx.queue_id,
            "message_id": message.header("Message-ID").strip(),
            "thread": _thread_ids(message),
        }

    def _keep(self, tx: Transaction, meta: q.Meta, state: str, cancelled: Any) -> q.Entry | None:
        """Keep a copy (fsynced) and write its incident record; None if the check was cancelled."""
        if cancelled.is_set():
            return None
        entry, lock = self.queue.create(tx.raw, {**meta, "state": state})
        lock.release()
        self._record(entry, {QUARANTINED: "held", q.HELD: "held", q.BLOCKED: "blocked"}[state])
        return entry

    def _record(self, entry: q.Entry, event: str) -> None:
        from sendguard.act import events

        events.emit(entry, event, self.config, observers=("sendguard.incidents.observer",))

    # -- work after the reply -----------------------------------------------------------------

    def _learn_later(self, tx: Transaction, config: Config, read: Read | None = None) -> None:
        if not self.config.milter.learn or not tx.sender:
            return
        self.to_learn(tx.sender, tx.raw, list(config.identity.addresses), read)

    def learn(self, sender: str, raw: bytes, own: list[str], read: Read | None = None) -> None:
        """Add one message to the sender's history (as sent by them); ``read``: what the check
        read of it (CheckResult.read), so as not to read it again."""
        self.learn_many(sender, [raw], own, [read])

    def learn_many(
        self,
        sender: str,
        raws: list[bytes],
        own: list[str],
        reads: list[Read | None] | None = None,
        *,
        refit: bool = False,
    ) -> None:
        """Add messages of one sender to their history: one connection, one transaction.
        ``refit``: then refit their judgement if it is due, on the same connection (so a thread
        that learns while another checks shares no open store with it)."""
        from sendguard.decide.refit import refit_on
        from sendguard.history.learn import Learner
        from sendguard.history.store import open_for_write

        directory = senders.sender_dir(self.root, sender, create=True)
        db = open_for_write(directory)
        try:
            with Learner(db, own or [sender], self.config.organization.domains) as learner:
                for raw, read in zip(raws, reads or [None] * len(raws), strict=True):
                    learner.add(raw, read)
            if refit:
                try:
                    refit_on(db, directory, self.config, own=own or [sender])
                except Exception as err:  # noqa: BLE001 — learned all the same; the caller logs it
                    raise RefitFailed(f"{type(err).__name__}: {err}") from err
        finally:
            db.close()

    def refit(self, sender: str, own: list[str]) -> Judgement | None:
        """Refit the sender's judgement once their history grew enough since it was fitted."""
        from sendguard.decide.refit import refit

        return refit(senders.sender_dir(self.root, sender, create=True), self.config, own=own or [sender])

    def _notice_later(self, tx: Transaction, mail: Callable[[str], bytes], noting: str = "") -> None:
        """Mail the sender ``mail(address)`` after the reply (its address may need their history);
        a notice that cannot be made or sent is logged by whoever runs it, and costs nothing else.
        ``noting``: the held copy to note it on once sendmail took it."""
        if not self.config.milter.notify or not (tx.sender or tx.envelope_from):
            return
        command, root = list(self.config.milter.notice_command), self.root

        def notice() -> None:
            to = senders.notice_address(root, tx.sender, tx.envelope_from)
            if to:
                notices.submit(command, mail(to))
                if noting:
                    self._notice_sent(noting)

        self.later(notice)


def _subject(raw: bytes) -> str:
    """The Subject of a message no parser may be trusted with: its first line, printable, bounded."""
    from sendguard.printable import printable

    for line in raw[:65536].split(b"\n\n", 1)[0].splitlines():
        if line[:8].lower() == b"subject:":
            return printable(line[8:].strip()[:200].decode("utf-8", "replace"))
    return ""


def _thread_ids(message: Any) -> list[str]:
    """The Message-IDs a message replies to (In-Reply-To, References)."""
    text = message.header("In-Reply-To") + " " + message.header("References")
    return [word for word in text.split() if word.startswith("<") and word.endswith(">")]


def _with_series(meta: Any, message_id: str) -> list[str]:
    """A confirmed copy's series with ``message_id`` (one more of its messages let through)."""
    return [*meta.get("series", []), *([message_id] if message_id else [])]
