"""The milter protocol side: pymilter callbacks in, a policy outcome out. Nothing is decided here.

libmilter runs one thread per MTA connection and calls these methods on one object per
connection; a connection may carry several transactions (``envfrom`` starts each anew). The
callbacks before end-of-message only collect and never answer (``@Milter.noreply``), so Postfix
does not wait for a round trip per header or body chunk, except ``data``: Postfix writes to the
milter socket with Nagle's algorithm on, so a small packet sent after unanswered ones waits for
the kernel's delayed ACK (40 ms on loopback per message); answering DATA acknowledges what
came before, and the headers go out at once. At ``eom`` the whole message goes to
the judge (lifecycle.Checker: the policy under a time limit) and its outcome becomes the reply:

* accept — ACCEPT, with an ``X-Sendguard`` header for a warning or a confirmed hold;
* reject — 550 5.7.1 and the policy's lines (a multi-line reply where the MTA supports it); for
  a hold, then ``told``: only a copy whose 550 went to the MTA can be confirmed by a resend;
* quarantine — ``smfi_quarantine`` (Postfix: the hold queue) and ACCEPT;
* tempfail — 451 4.3.0: the client keeps the message and tries again.

Anything unexpected here becomes a tempfail too: never a lost message, never an unchecked one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import Milter

from sendguard.milter import senders
from sendguard.milter.policy import ACCEPT, HEADER, QUARANTINE, REJECT, Outcome, Transaction, tempfail
from sendguard.milter.spec import ListenError
from sendguard.printable import printable

Judge = Callable[[Transaction], Outcome]
Told = Callable[[str], bool]


def _log(line: str) -> None:
    print(f"sendguard-milter: {line}", file=sys.stderr, flush=True)


class SendguardMilter(Milter.Base):
    """One MTA connection. ``judge`` is set by the lifecycle before the milter starts."""

    judge: Judge = staticmethod(lambda tx: tempfail("not ready"))
    told: Told = staticmethod(lambda entry_id: False)

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.envelope_from = ""
        self.auth_user = ""
        self.recipients: list[str] = []
        self.headers: list[bytes] = []
        self.body_chunks: list[bytes] = []

    @Milter.noreply
    def envfrom(self, mailfrom: str, *params: str) -> int:
        self._reset()
        self.envelope_from = mailfrom.strip().strip("<>")
        self.auth_user = self.getsymval("{auth_authen}") or ""
        return Milter.CONTINUE

    @Milter.noreply
    def envrcpt(self, to: str, *params: str) -> int:
        address = to.strip().strip("<>").strip().lower()
        if address:
            self.recipients.append(address)
        return Milter.CONTINUE

    def data(self) -> int:
        """Answered, unlike the callbacks around it: the reply saves a 40 ms stall (module docstring)."""
        return Milter.CONTINUE

    @Milter.decode("bytes")
    @Milter.noreply
    def header(self, name: str, value: bytes) -> int:
        if isinstance(value, str):  # pymilter hands bytes when asked; be safe either way
            value = value.encode("utf-8", "surrogateescape")
        self.headers.append(name.encode("ascii", "replace") + b": " + value.replace(b"\r\n", b"\n") + b"\n")
        return Milter.CONTINUE

    @Milter.noreply
    def body(self, chunk: bytes) -> int:
        self.body_chunks.append(chunk)
        return Milter.CONTINUE

    def raw(self) -> bytes:
        body = b"".join(self.body_chunks).replace(b"\r\n", b"\n")
        return b"".join(self.headers) + b"\n" + body

    def eom(self) -> int:
        queue_id = self.getsymval("i") or ""
        try:
            tx = Transaction(
                sender=senders.key_of(self.auth_user, self.envelope_from),
                envelope_from=self.envelope_from,
                recipients=list(dict.fromkeys(self.recipients)),
                raw=self.raw(),
                queue_id=queue_id,
            )
            outcome = type(self).judge(tx)
            result = self._apply(outcome)
        except Exception as err:  # noqa: BLE001 — a broken milter must make the client retry, not lose mail
            _log(f"{queue_id or '-'}: internal error: {type(err).__name__}: {printable(str(err))}")
            outcome = tempfail("internal error")
            self.setreply(outcome.code, outcome.xcode, *outcome.lines)
            result = Milter.TEMPFAIL
        if result == Milter.REJECT and outcome.untold:
            self._told(queue_id, outcome.entry_id)
        _log(
            f"{queue_id or '-'}: sender={printable(tx.sender) if 'tx' in locals() else '?'} "
            f"verdict={outcome.verdict.label} action={outcome.action}"
            + (f" id={outcome.entry_id}" if outcome.entry_id else "")
        )
        self._reset()
        return result

    def _apply(self, outcome: Outcome) -> int:
        if outcome.action == ACCEPT:
            if outcome.header:
                self.addheader(HEADER, outcome.header)
            return Milter.ACCEPT
        if outcome.action == QUARANTINE:
            self.quarantine(outcome.reason)
            return Milter.ACCEPT
        self.setreply(outcome.code, outcome.xcode, *outcome.lines)
        return Milter.REJECT if outcome.action == REJECT else Milter.TEMPFAIL

    def _told(self, queue_id: str, entry_id: str) -> None:
        """The hold's 550 is set and goes to the MTA as this callback returns: from now on an
        identical resend may confirm it (Policy.told). Not before: a copy kept by a check whose
        reply never reached the client must not turn the client's retry into a confirmation."""
        try:
            noted = type(self).told(entry_id)
        except Exception as err:  # noqa: BLE001 — the 550 goes out all the same; a resend is held again
            _log(f"{queue_id or '-'}: noting the hold {entry_id} failed: {type(err).__name__}: {printable(str(err))}")
            return
        if not noted:
            _log(f"{queue_id or '-'}: could not note the hold {entry_id} as told: an identical resend is held again")

    def abort(self) -> int:
        self._reset()
        return Milter.CONTINUE

    def close(self) -> int:
        return Milter.CONTINUE


def run(name: str, spec: str, judge: Judge, mta_timeout: int, told: Told | None = None) -> None:
    """Listen on ``spec`` until SIGTERM/SIGINT (libmilter handles the signals). ``told``: called
    with a hold's copy once its 550 is set (Policy.told)."""
    SendguardMilter.judge = staticmethod(judge)
    if told is not None:
        SendguardMilter.told = staticmethod(told)
    Milter.factory = SendguardMilter
    Milter.set_flags(Milter.ADDHDRS | Milter.QUARANTINE)
    try:
        Milter.runmilter(name, spec, timeout=mta_timeout, rmsock=True)
    except Milter.milter.error as err:  # what spec.check_listen could not foresee (a race, a limit)
        raise ListenError(f"cannot listen on {spec}: libmilter says {printable(str(err))}") from None
