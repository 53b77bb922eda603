"""The send path: what ``sendguard-sendmail`` / ``sendguard sendmail`` does with one mail.

The same in process and in the resident checker. It runs on every mail, so it stays lean: no
click, Textual or notmuch (a test checks ``sys.modules``). Its order of work, and the exit codes
when something fails, are what keep every message: ARCHITECTURE.md, "The send path's order of
work". stdout stays empty.
"""

from __future__ import annotations

import errno
import io
import re
import sys
import time
from pathlib import Path
from typing import BinaryIO, TextIO

from sendguard import paths
from sendguard.act import aliases, events
from sendguard.act import queue as q
from sendguard.clock import now_iso
from sendguard.config import schema as config_mod
from sendguard.errors import DeliveryError, ResourceError, SendguardError, StateUnwritable
from sendguard.exitcodes import ExitCode
from sendguard.fsutil import atomic_write
from sendguard.model import Severity, Verdict
from sendguard.printable import ascii_text, printable
from sendguard.sendpath import once, render
from sendguard.sendpath.args import UnsupportedMode, parse, refuse_control_characters, without_read_recipients
from sendguard.sendpath.client import config_location, exit_now, read_stdin

# What a message sent again after a transport failure brings to the copy kept (once.TWIN).
_SENT_AGAIN_KEYS = ("message_id", "subject", "size", "fingerprint", "verdict", "findings", "config_key")
_VOLATILE_HEADERS = (b"date:", b"message-id:", b"x-sendguard-")
# A full disk or quota, or no memory or file descriptors left: exit 75 or 73, not 70.
_RESOURCE_ERRORS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.ENOMEM, errno.EMFILE, errno.ENFILE, errno.EIO}
)


def fingerprint(raw: bytes, envelope: list[str]) -> str:
    """Identity of a message for 'send it again to confirm': the envelope, the headers without
    Date and Message-ID (mutt and git regenerate them on every attempt), and the body with its
    MIME boundaries numbered (mutt, neomutt and aerc draw new ones on every attempt).

    The header fields are hashed as a sorted set: aerc writes them in a different order on
    every send (Go map iteration), and the order says nothing about who gets what."""
    import hashlib

    digest = hashlib.sha256("\0".join(sorted(envelope)).encode() + b"\0\0")
    # Split without copying the body: a big attachment must not be duplicated in memory.
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if i >= 0]
    split = min(ends) if ends else len(raw)
    head = raw[:split].replace(b"\r\n", b"\n")
    body = memoryview(raw)[split:]
    fields: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line  # a continuation belongs to its field
        else:
            fields.append(line)
    boundaries = _Boundaries() if _BOUNDARY.search(head) else None
    if boundaries is not None:
        fields = [boundaries.declared(field) for field in fields]
    for field in sorted(fields):
        if not field.lower().startswith(_VOLATILE_HEADERS):
            digest.update(field + b"\n")
    # The body in chunks of whole lines, CRLF folded to LF, so a message is the same whichever
    # line ending its client used, and at most one chunk is ever copied.
    carry = b""
    for start in range(0, len(body), 1 << 20):
        chunk = carry + bytes(body[start : start + (1 << 20)])
        cut = chunk.rfind(b"\n") + 1 if start + (1 << 20) < len(body) else len(chunk)
        if cut == 0:  # a line longer than a chunk: no MIME delimiter, no CRLF to fold but the last
            cut = len(chunk) - 1 if chunk.endswith(b"\r") else len(chunk)
        chunk, carry = chunk[:cut].replace(b"\r\n", b"\n"), chunk[cut:]
        digest.update(boundaries.numbered(chunk) if boundaries is not None else chunk)
    digest.update(carry)
    return digest.hexdigest()


_BOUNDARY = re.compile(rb'(boundary\s*=\s*)(?:"([^"\n]{1,200})"|([^\s;"]{1,200}))', re.IGNORECASE)


class _Boundaries:
    """MIME boundaries in the order they are declared, each replaced by its number: a resend
    with new random boundaries is the same message; any other difference still counts."""

    def __init__(self) -> None:
        self.names: dict[bytes, bytes] = {}

    def declared(self, text: bytes) -> bytes:
        """``text`` with each boundary parameter replaced by its number (learning new ones)."""

        def number(match: re.Match[bytes]) -> bytes:
            name = match.group(2) if match.group(2) is not None else match.group(3)
            if name not in self.names:
                self.names[name] = b"\0%d" % len(self.names)
            return match.group(1) + b'"' + self.names[name] + b'"'

        return _BOUNDARY.sub(number, text)

    def numbered(self, lines: bytes) -> bytes:
        """Whole lines (LF) with declarations and delimiter lines numbered. Plain bytes.find
        and replace (a 10 MB attachment costs a few ms): a part's content never holds a line
        that starts with its boundary (RFC 2046), so every "--NAME" at a line start is one;
        the longest names go first, so none is taken for a shorter one it starts with."""
        if b"oundary" in lines or b"OUNDARY" in lines:  # a part's own header declares one
            lines = self.declared(lines)
        lines = b"\n" + lines  # a chunk starts at the start of a line
        for name in sorted(self.names, key=len, reverse=True):
            lines = lines.replace(b"\n--" + name, b"\n--" + self.names[name])
        return lines[1:]


class SendPath:
    """One run of the send path. Streams and clock are injected for tests."""

    def __init__(
        self,
        config_path: Path | None,
        stderr: TextIO,
        queue: q.Queue | None = None,
        now: float | None = None,
        *,
        detach_observers: bool = False,
        environ: dict[str, str] | None = None,
        cwd: str | None = None,
        observe_later: list[tuple[q.Entry, str, config_mod.Config]] | None = None,
        checker: str = "process",
        caller: dict[str, object] | None = None,
        entry_id: str | None = None,
    ) -> None:
        """``detach_observers``: only for a process that exits right after run() (the entry
        points; events.py). The resident checker runs this for a client: it passes the client's
        ``environ`` and ``cwd`` (for the transport), its ``caller`` (the mail program, from
        caller.detect), and ``observe_later``, a list that collects the observers' work to run
        after the client has its answer; ``checker`` is recorded with the entry."""
        self.config_path = config_path
        self.stderr = stderr
        self.queue = queue or q.Queue.default()
        self.now = time.time() if now is None else now
        self.detach_observers = detach_observers
        self.observer_worker: events.ObserverWorker | None = None
        self.environ = environ
        self.cwd = cwd
        self.observe_later = observe_later
        self.checker = checker
        if caller is None:
            from sendguard.sendpath import caller as caller_mod

            caller = caller_mod.detect()
        self.caller = caller
        self.config: config_mod.Config | None = None  # once loaded: the entry points ask it of the resident checker
        # The queue id the resident checker's client chose: it keeps the message under it, or
        # finishes the entry a server that stopped mid-way kept under it (once.py).
        self.entry_id = entry_id
        # Notice mails to start once the caller has its answer (mail_notices; act/notice_mail.py).
        self.notice_mails: list[tuple[str, str, config_mod.Config]] = []

    def _observe(self, entry: q.Entry, event: str, config: config_mod.Config) -> None:
        """Tell the observers, once the entry's state is on disk and its lock released."""
        if self.observe_later is not None:
            self.observe_later.append((entry, event, config))
        elif self.observer_worker is not None:
            self.observer_worker.emit(entry, event, config)
        else:
            events.emit(entry, event, config)

    def say(self, *lines: str) -> None:
        """Write to the caller's stderr. One it cannot take (/dev/full, a closed pipe) changes
        nothing of what happens to the message: the queue and the incident log have it."""
        if self.caller.get("ascii"):
            lines = tuple(ascii_text(line) for line in lines)
        try:
            self.stderr.write("\n".join(lines) + "\n")
            self.stderr.flush()
        except (OSError, ValueError):
            pass

    def run(self, argv: list[str], stdin: BinaryIO) -> int:
        """One mail; the exit code. The resident checker (``observe_later``) starts the notice
        mails itself once its client has the code; in a process of its own, they start here."""
        code = self._run_once(argv, stdin)
        if self.observe_later is None:
            self.mail_notices()
        return code

    def mail_notices(self) -> None:
        """Start the notice mails this mail left (detached: nobody waits for the transport)."""
        if not self.notice_mails:
            return  # passing mail imports nothing for them
        from sendguard.act import notice_mail

        aerc = self.caller.get("program") == "aerc"
        for entry_id, to, config in self.notice_mails:
            notice_mail.mail_later(
                self.queue.root / entry_id, to, config.path, env=self.environ, cwd=self.cwd, aerc=aerc
            )
        self.notice_mails.clear()

    def _run_once(self, argv: list[str], stdin: BinaryIO) -> int:
        raw = stdin.read()
        # nothing to check, deliver or keep: a blank held entry helps nobody (isspace, not
        # strip: strip would copy a 200 MB message to find that it is not blank)
        if not raw or raw.isspace():
            self.say("sendguard: error: the message is empty; nothing was sent or kept.")
            return int(ExitCode.DATAERR)
        try:
            if self.entry_id is not None:
                if (self.queue.root / self.entry_id).is_dir():
                    return self._adopt(self.entry_id)
                self.queue.reserved_id = self.entry_id
            return self._run(argv, raw)
        except UnsupportedMode as err:  # the entry points answer these before reading a message
            self.say(f"sendguard: error: {printable(err.message)}; nothing was sent or kept.")
            return int(err.exit_code)
        except SendguardError as err:
            return self._keep_after_error(raw, argv, err.details(), int(err.exit_code))
        except OSError as err:
            if err.errno not in _RESOURCE_ERRORS:
                return self._keep_after_error(
                    raw, argv, [f"internal error: {type(err).__name__}: {err}"], int(ExitCode.SOFTWARE)
                )
            return self._keep_after_error(raw, argv, [f"not sent: {err.strerror or err}"], int(ExitCode.TEMPFAIL))
        except Exception as err:  # noqa: BLE001 — fail closed: keep the message, say where
            return self._keep_after_error(
                raw, argv, [f"internal error: {type(err).__name__}: {err}"], int(ExitCode.SOFTWARE)
            )

    def _keep_after_error(self, raw: bytes, argv: list[str], lines: list[str], code: int) -> int:
        meta: q.Meta = {
            "state": q.HELD,
            "argv": argv,
            "options": [],
            "recipients": [],
            "verdict": "hold",
            "error": lines,
            "findings": [],
        }
        meta.update(self._addressing_if_readable(argv, raw))
        try:
            entry, lock = self.queue.create(raw, meta)
            lock.release()
            where = f"the message is kept as {entry.id} (sendguard queue list)"
        except OSError as err:
            unwritable = StateUnwritable.from_error(err, self.queue.root.parent)
            if unwritable is None:
                where = f"and it could not be kept either ({err}); your mail program still has it"
                code = int(ExitCode.CANTCREAT)  # nothing is left behind (Queue.create)
            else:  # the state cannot be written: that is the problem to fix, in one line
                self.say(f"sendguard: error: {printable(unwritable.message)}; not sent, your mail program still has it")
                return int(unwritable.exit_code)
        except SendguardError as err:  # the reserved id is taken: a server kept it meanwhile
            where = f"and it could not be kept either ({err}); your mail program still has it"
            code = int(ExitCode.CANTCREAT)
        self.say(*render.error(lines), f"  Not sent; {where}.")
        return code

    def _run(self, argv: list[str], raw: bytes) -> int:
        args = refuse_control_characters(parse(argv))
        if args.mode != "send":
            raise UnsupportedMode(f"{args.mode} is not a mail: run sendguard-sendmail with it, without a message")
        config = config_mod.load(self.config_path, required=self.config_path is not None)
        self.config = config
        from sendguard.config.cache import stamp

        config_key = stamp(config)  # before the check: the version the verdict is judged under
        from sendguard.decide.check import check_message, recipients_for, refuse_guessed_envelope
        from sendguard.mail.message import OutgoingMessage, normalize_address

        message = OutgoingMessage(raw)
        refuse_guessed_envelope(message, args.recipients, args.read_recipients)
        # The transport gets exactly the recipients checked: never its own -t.
        recipients = recipients_for(message, args.recipients, args.read_recipients)
        if not recipients:
            from sendguard.errors import UsageError

            raise UsageError("no recipients: none given as arguments, and none in the message's To, Cc or Bcc")
        options = without_read_recipients(args.options)
        # msmtp's aliases: expanded here, judged, and never expanded by msmtp (act/aliases.py)
        recipients, expanded = aliases.expand(
            config.transport.command,
            options,
            recipients,
            message.raw[: message.header_block.end],
            environ=self.environ,
            cwd=self.cwd,
        )
        envelope = [normalize_address(addr) for addr in recipients]
        # The previous mail's observers may still be writing the history this check reads.
        events.settle(paths.state_dir(), timeout=3.0)
        if self.detach_observers:  # forked now, before the rules open the history (events.py)
            self.observer_worker = events.ObserverWorker.start(config)
        result = check_message(
            message, config, envelope=envelope, state_dir=paths.state_dir(), options=args.options, now=self.now
        )
        decision = result.decision
        meta: q.Meta = {
            "argv": argv,
            "options": options,
            "recipients": recipients,
            "envelope": envelope,
            "aliases_expanded": True,
            **({"aliases": expanded} if expanded else {}),
            "read_recipients": args.read_recipients,
            "sender": args.sender,
            "from": str(message.sender) if message.sender else "",
            "subject": message.subject,
            "verdict": decision.verdict.label,
            "findings": [f.to_json() for f in decision.findings],
            "size": len(raw),
            "checker": self.checker,
            "program": str(self.caller.get("program", "")),  # where oops and undo open their drafts
            "config_key": config_key,
            "message_id": message.header("Message-ID").strip(),
        }
        if decision.verdict <= Verdict.WARN:
            return self._deliver_new(raw, meta, config, "accepted")
        # Held now, but this very message already left (released in review from mutt's compose
        # menu, then sent from the composer): "held, not sent" would be untrue, and sending it
        # again to confirm would send it twice. Say what the passing path says.
        earlier = self._earlier_copy(raw, meta, config)
        if earlier is not None and earlier.kind in (once.LEFT, once.MAYBE_LEFT):
            return self._sent_again(earlier, raw, meta, config)
        if earlier is not None and earlier.lock is not None:
            earlier.lock.release()  # kept and due: it goes on its own; this copy is judged as new
        # Only a kept hold can be confirmed, so only holds need the fingerprint (hashlib loads
        # OpenSSL: not worth it for the mail that simply goes out).
        meta["fingerprint"] = fingerprint(raw, envelope)
        shows = render.caller_shows(self.caller, config.sendmail.silent_callers)
        # hold_action = "queue" exits 0 for a hold: then only what the program shows on success counts
        quiet_hold = decision.verdict == Verdict.HOLD and config.sendmail.hold_action == "queue"
        seen = shows.success if quiet_hold else shows.failure
        if decision.verdict == Verdict.HOLD:
            from sendguard.decide import confirm

            resend = confirm.resend(
                self.queue,
                fingerprint=meta["fingerprint"],
                envelope=envelope,
                thread=_thread_ids(message),
                rules=_holding_rules(decision),
                window=config.sendmail.confirm_window,
                now=self.now,
                could_show_hold=seen,
            )
            if resend is not None and resend.kind == "confirm" and self.queue.confirm(resend.earlier.id):
                meta.update(
                    {
                        "confirms": resend.earlier.id,
                        "confirmed_rules": _holding_rules(decision),
                        "message_id": message.header("Message-ID").strip(),
                    }
                )
                return self._deliver_new(raw, meta, config, f"confirmed by sending {resend.earlier.id} again")
            if resend is not None and resend.kind == "series":
                meta.update(
                    {
                        "confirms": resend.earlier.meta["confirms"],
                        "confirmed_rules": resend.earlier.meta["confirmed_rules"],
                        "message_id": message.header("Message-ID").strip(),
                    }
                )
                return self._deliver_new(raw, meta, config, f"in the thread of {resend.earlier.id}, confirmed")
            if resend is not None and resend.kind == "repeat":
                # the same message, still held, from a program that showed nothing: keep one copy
                self.say(*render.held_again(resend.earlier.id, resend.earlier.meta))
                self._tell_unseen("held-again", resend.earlier.id, resend.earlier.meta, config, seen)
                return ExitCode.OK if config.sendmail.hold_action == "queue" else ExitCode.TEMPFAIL
        if decision.verdict == Verdict.BLOCK:
            blocked = self.queue.find_blocked(meta["fingerprint"], config.sendmail.confirm_window, self.now)
            if blocked is not None:  # the same message, blocked a moment ago: one copy, one notice
                self.say(*render.blocked_again(blocked.id, blocked.meta))
                self._tell_unseen("blocked-again", blocked.id, blocked.meta, config, seen)
                return ExitCode.NOPERM
        state = q.BLOCKED if decision.verdict == Verdict.BLOCK else q.HELD
        entry, lock = self.queue.create(raw, {**meta, "state": state})
        lock.release()
        self.say(
            *render.held(
                entry.id,
                entry.meta,
                blocked=state == q.BLOCKED,
                escalated=decision.escalated,
                confirm_window=config.sendmail.confirm_window,
                resend_confirms=seen,
                program=str(self.caller.get("program", "")),
            )
        )
        self._tell_unseen("blocked" if state == q.BLOCKED else "held", entry.id, entry.meta, config, seen)
        self._observe(entry, state, config)
        if state == q.BLOCKED:
            return ExitCode.NOPERM
        return ExitCode.OK if config.sendmail.hold_action == "queue" else ExitCode.TEMPFAIL

    @classmethod
    def _addressing_if_readable(cls, argv: list[str], raw: bytes) -> q.Meta:
        """Options and recipients for a message kept after an error (a broken config, say), so
        that `sendguard release` can send it where the caller meant; nothing if argv is unusable."""
        try:
            args = refuse_control_characters(parse(argv))
            from sendguard.decide.check import recipients_for, refuse_guessed_envelope
            from sendguard.mail.message import OutgoingMessage, normalize_address

            message = OutgoingMessage(raw)
            refuse_guessed_envelope(message, args.recipients, args.read_recipients)
            recipients = recipients_for(message, args.recipients, args.read_recipients)
        except Exception:  # noqa: BLE001 — already on the error path: keep the message whatever happens
            return {}
        if not recipients:
            return {}
        return {
            "options": without_read_recipients(args.options),
            "recipients": recipients,
            "envelope": [normalize_address(addr) for addr in recipients],
            "read_recipients": args.read_recipients,
            "sender": args.sender,
            "subject": message.subject,  # the queue list names it
        }

    def _earlier_copy(self, raw: bytes, meta: q.Meta, config: config_mod.Config) -> once.Earlier | None:
        """This message's copy kept earlier under its Message-ID within the duplicate window."""
        return once.earlier_copy(
            self.queue,
            str(meta.get("message_id", "")),
            config.sendmail.duplicate_window,
            self.now,
            lambda entry: self._same_message(entry, raw, meta),
        )

    def _deliver_new(self, raw: bytes, meta: q.Meta, config: config_mod.Config, event: str) -> int:
        from sendguard.act import delay as undo
        from sendguard.act.delivery import deliver

        earlier = self._earlier_copy(raw, meta, config)
        if earlier is None:
            earlier = once.failed_twin(
                self.queue,
                config.sendmail.duplicate_window,
                self.now,
                lambda entry: self._same_message(entry, raw, meta),
            )
        if earlier is not None:
            return self._sent_again(earlier, raw, meta, config)
        if undo.delay_seconds(meta, config):  # the undo window: keep it, a worker delivers it later
            if meta["verdict"] == "warn":
                seen = render.caller_shows(self.caller, config.sendmail.silent_callers).success
                self._tell_unseen("waiting", "", meta, config, seen)
            return undo.accept_delayed(
                self.queue, raw, meta, config, event, now=self.now, say=self.say, env=self.environ
            )
        entry, lock = self.queue.create(raw, {**meta, "state": q.ACCEPTED})
        try:
            entry.meta.setdefault("events", []).append({"time": now_iso(), "event": event, "state": q.ACCEPTED})
            try:
                deliver(entry, config, env=self.environ, cwd=self.cwd)
            except DeliveryError as err:
                self.say(*render.error(err.details()))
                meta = {**entry.meta, "transport_error": err.message}
                seen = render.caller_shows(self.caller, config.sendmail.silent_callers).failure
                self._tell_unseen("deferred", entry.id, meta, config, seen)
                return int(err.exit_code)
            except ResourceError as err:  # nothing ran: take it back (under its lock), or say where it is
                if self.queue.unkeep(entry):
                    self.say(
                        f"sendguard: error: {printable(err.message)}",
                        "  Not sent and not kept: your mail program still has it.",
                    )
                    return int(ExitCode.CANTCREAT)
                self.say(
                    f"sendguard: error: {printable(err.message)}",
                    f"  Not sent yet; kept as {entry.id}: `sendguard queue run` sends it.",
                )
                return int(ExitCode.TEMPFAIL)
        finally:
            lock.release()
        if meta["verdict"] == "warn":
            self.say(*render.warned(meta))
            seen = render.caller_shows(self.caller, config.sendmail.silent_callers).success
            self._tell_unseen("warned", entry.id, meta, config, seen)
        self._observe(entry, "delivered", config)
        return ExitCode.OK

    def _same_message(self, earlier: q.Entry, raw: bytes, meta: q.Meta) -> bool:
        """Same recipients, headers (but Date and Message-ID) and body: :func:`fingerprint`."""
        if "fingerprint" not in meta:
            meta["fingerprint"] = fingerprint(raw, meta["envelope"])
        theirs = earlier.meta.get("fingerprint") or fingerprint(earlier.raw(), list(earlier.meta.get("envelope", [])))
        return bool(theirs == meta["fingerprint"])

    def _sent_again(self, earlier: once.Earlier, raw: bytes, meta: q.Meta, config: config_mod.Config) -> int:
        """The mail program sent a message again that is already in the queue (once.py)."""
        from sendguard.act.delivery import deliver

        entry = earlier.entry
        if earlier.kind == once.TWIN:  # the new Date and Message-ID are what the program will refer to
            assert earlier.lock is not None
            try:
                atomic_write(entry.message_path, raw)
                entry.save(
                    **{k: meta[k] for k in _SENT_AGAIN_KEYS if k in meta},  # type: ignore[literal-required]
                    event="sent again by the mail program (new Date and Message-ID): this copy goes, once, as sent again",
                )
                if meta.get("message_id"):
                    self.queue.remember_message_id(entry.id, str(meta["message_id"]))
            except BaseException:
                earlier.lock.release()
                raise
            earlier = once.Earlier(once.PENDING, entry, earlier.lock)
        if earlier.kind == once.PENDING:
            assert earlier.lock is not None
            try:
                if entry.state in (q.FAILED, q.RECEIVED):
                    entry.save(state=q.RELEASED, event="sent again by the mail program")
                else:
                    entry.save(event="sent again by the mail program: this copy goes, once")
                try:
                    deliver(entry, config, env=self.environ, cwd=self.cwd)
                except DeliveryError as err:
                    self.say(*render.error(err.details()))
                    return int(err.exit_code)
            finally:
                earlier.lock.release()
            self._observe(entry, "delivered", config)
            return ExitCode.OK
        if earlier.kind == once.WAITING:
            self.say(
                f"sendguard: this message already waits to leave as {entry.id} "
                f"(at {entry.meta.get('not_before', '?')}); not kept twice. `sendguard undo` takes it back."
            )
            return ExitCode.OK
        left = earlier.kind == once.LEFT
        when = entry.meta.get("delivered") or entry.meta.get("updated", "")
        message = (
            f"this message already left at {when} ({entry.id})"
            if left
            else f"this message may already have left at {when}: its sending ({entry.id}) was interrupted"
        )
        finding = {
            "rule": "sent-twice",
            "severity": "hold",
            "message": message,
            "recipient": None,
            "suggestion": None,
            "evidence": None,
        }
        held: q.Meta = {**meta, "state": q.HELD, "verdict": "hold", "findings": [finding], "duplicate_of": entry.id}
        if left:
            held["already_left"] = True
        held.pop("fingerprint", None)  # not confirmable by sending it again: only release sends it
        new, lock = self.queue.create(raw, held)
        lock.release()
        self.say(
            "sendguard: " + ("already sent — not sent twice." if left else "HELD — it may already have left."),
            f"  {printable(message)}.",
            f"  This copy is kept as {new.id}; `sendguard release {new.id}` sends it anyway.",
        )
        self._observe(new, q.HELD, config)
        if left:
            return ExitCode.OK
        return ExitCode.OK if config.sendmail.hold_action == "queue" else ExitCode.TEMPFAIL

    def _adopt(self, entry_id: str) -> int:
        """Finish the entry a resident checker kept under our id and then stopped (once.py)."""
        from sendguard.act.delivery import deliver

        config = config_mod.load(self.config_path, required=self.config_path is not None)
        self.config = config
        entry = q.Entry(self.queue.root / entry_id)
        lock = once.wait_for_lock(self.queue, entry, timeout=10.0)
        if lock is None:
            self.say(
                f"sendguard: the message is kept as {entry_id}; another sendguard process is at it (sendguard queue list)."
            )
            return ExitCode.TEMPFAIL
        observe: str | None = None
        try:
            entry.meta = self.queue.get(entry_id).meta
            state = entry.state
            if state in (q.ACCEPTED, q.RELEASED, q.DEFERRED):
                try:
                    deliver(entry, config, env=self.environ, cwd=self.cwd)
                except DeliveryError as err:
                    self.say(*render.error(err.details()))
                    return int(err.exit_code)
                observe, code = "delivered", ExitCode.OK
            elif state == q.DELIVERED:
                code = ExitCode.OK
            elif state == q.DELAYED:
                from sendguard.act import delay as undo

                try:
                    undo.spawn_worker(entry, config, env=self.environ)
                except OSError:
                    pass  # it is due all the same: queue run delivers it
                self.say(
                    f"sendguard: leaves at {entry.meta.get('not_before', '?')}; `sendguard undo` takes it back ({entry_id})."
                )
                code = ExitCode.OK
            elif state in (q.HELD, q.BLOCKED):
                self.say(
                    f"sendguard: {'HELD' if state == q.HELD else 'BLOCKED'} — not sent. Kept as {entry_id}.",
                    "  `sendguard review` shows why.",
                )
                observe = state
                code = (
                    ExitCode.NOPERM
                    if state == q.BLOCKED
                    else ExitCode.OK
                    if config.sendmail.hold_action == "queue"
                    else ExitCode.TEMPFAIL
                )
                # The resident checker starts the notice mail once its client has the code, so
                # one that stopped before answering never did (the mail's claim keeps it one).
                shows = render.caller_shows(self.caller, config.sendmail.silent_callers)
                if not (shows.success if code == ExitCode.OK else shows.failure):
                    self._notice_mail(entry_id, entry.meta, config)
            elif state == q.SENDING:
                entry.save(state=q.INTERRUPTED, event="found interrupted while sending; not resent")
                self.say(
                    f"sendguard: error: the resident checker stopped while sending {entry_id}; it may have left.",
                    f"  Check your sent mail, then `sendguard release {entry_id}` or `sendguard discard {entry_id}`.",
                )
                code = ExitCode.TEMPFAIL
            else:
                self.say(f"sendguard: the message is kept as {entry_id} ({state}); see `sendguard queue list`.")
                code = ExitCode.TEMPFAIL
        finally:
            lock.release()
        if observe is not None:
            self._observe(entry, observe, config)
        return code

    def _tell_unseen(self, kind: str, entry_id: str, meta: q.Meta, config: config_mod.Config, seen: bool) -> None:
        """What the mail program does not show becomes a notice (shown at the next sendguard
        command and in review) and a desktop notification; a hold is notified either way. A
        hold or block it does not show is also mailed to the person (``[sendmail] notice_mail``)."""
        if seen and kind not in ("held", "held-again", "blocked", "blocked-again"):
            return
        title, body = render.notice(kind, entry_id, meta)
        if not seen:
            from sendguard.act import notices

            notices.add(paths.state_dir(), kind, entry_id, title, body)
            if kind in ("held", "blocked"):  # not held-again: one each
                self._notice_mail(entry_id, meta, config)
        if config.sendmail.notify:
            from sendguard.act.notify import notify

            notify(title, "\n".join(body), env=self.environ)

    def _notice_mail(self, entry_id: str, meta: q.Meta, config: config_mod.Config) -> None:
        """Mail the person the hold or block of this kept message, once the caller has its
        answer (``[sendmail] notice_mail``)."""
        if not config.sendmail.notice_mail:
            return
        from sendguard.act.notice_mail import recipient

        to = recipient(str(meta.get("from", "")), config.identity.addresses)
        if to is not None:
            self.notice_mails.append((entry_id, to, config))


def _holding_rules(decision) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted({f.rule for f in decision.findings if f.severity >= Severity.WARN})


def _thread_ids(message) -> list[str]:  # type: ignore[no-untyped-def]
    """The Message-IDs this message replies to (In-Reply-To, References)."""
    text = message.header("In-Reply-To") + " " + message.header("References")
    return [word for word in text.split() if word.startswith("<") and word.endswith(">")]


def run(argv: list[str], config_path: Path | None = None, *, detach_observers: bool = False) -> int:
    """One mail from stdin. ``detach_observers`` only when the process exits right after."""
    located = config_location(config_path)  # the same rule as the resident checker's client
    from sendguard.sendpath import modes

    code = modes.run(argv, located)
    if code is not None:
        return code
    raw = read_stdin()
    if raw is None:
        return int(ExitCode.DATAERR)
    path = SendPath(Path(located) if located else None, sys.stderr, detach_observers=detach_observers)
    return path.run(argv, io.BytesIO(raw))


def main() -> None:
    """The send path in this process, whatever the config says of the resident checker."""
    exit_now(run(sys.argv[1:], detach_observers=True))
