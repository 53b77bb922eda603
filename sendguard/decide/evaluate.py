"""Measure the recipient rules on the user's own mail (``sendguard evaluate``).

The method of Carvalho & Cohen (SDM 2007), as the misdirection benchmark uses it: the user's
sent mail is ordered by date; the older part (and all other mail) is learned into a temporary
history; every newer sent message is checked twice — as it was sent, and with one recipient
swapped for a contact the user could have picked by mistake (history.twins: same first or last
name, same typed prefix, a near address; frequent contacts more often, as autocomplete does).
Held swaps are caught mistakes; held originals are false alarms. Nothing is sent, nothing is
written outside a temporary directory.
"""

from __future__ import annotations

import email
import email.utils
import random
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sendguard.config.schema import Config
from sendguard.decide.check import check_message, envelope_for
from sendguard.history.learn import Learner
from sendguard.history.store import open_for_write, open_read_only
from sendguard.history.twins import confusables
from sendguard.mail.message import OutgoingMessage, normalize_address
from sendguard.model import Verdict
from sendguard.printable import printable

LEARN_SHARE = 0.7


@dataclass
class Score:
    replayed: int = 0
    false_holds: int = 0
    swapped: int = 0
    caught: int = 0
    crossing: int = 0
    crossing_caught: int = 0
    received: int = 0
    """Messages given that are not the user's own (their inbox): none makes every figure poorer."""
    empty: list[str] = field(default_factory=list)
    """The paths given that held no messages: an inbox given but empty is why ``received`` is 0."""
    given: int = 0
    """How many paths were given: more than one, all the user's own, is an inbox of sent mail."""
    operating_point: str = ""
    """What the judgement fitted on the learned part expects (history.judgement)."""
    trade_off: str = ""
    """What it would hold at other budgets, on the same simulated mail."""

    def _no_received(self) -> str:
        unknown = "who writes to you, their threads and whom you quote were unknown"
        if self.empty:
            names = ", ".join(printable(p) for p in self.empty)
            return f"no received mail: {names} {'holds' if len(self.empty) == 1 else 'hold'} no messages, so {unknown}"
        if self.given > 1:
            return f"no received mail: every message given is from [identity] addresses, so {unknown}"
        return (
            f"no received mail was given: {unknown}; give your inbox too (sendguard evaluate ~/Mail/Sent ~/Mail/INBOX)"
        )

    def lines(self) -> list[str]:
        fh = self.false_holds / self.replayed if self.replayed else 0.0
        rec = self.caught / self.swapped if self.swapped else 0.0
        out = [
            f"replayed {self.replayed} sent messages as sent: {self.false_holds} held for nothing ({fh:.1%})",
            f"replayed {self.swapped} with a confusable recipient swapped in: {self.caught} held ({rec:.1%})",
        ]
        if self.crossing:
            out.append(
                f"  of which {self.crossing} swapped to another domain: {self.crossing_caught} held "
                f"({self.crossing_caught / self.crossing:.1%})"
            )
        if self.replayed and not self.received:
            out.append(self._no_received())
        if self.operating_point:
            out.append(self.operating_point)
        if self.trade_off:
            out.append(self.trade_off)
        return out


def _date(raw: bytes) -> float:
    msg = email.message_from_bytes(raw)
    try:
        parsed = email.utils.parsedate_to_datetime(msg.get("Date", ""))
        return parsed.timestamp() if parsed else 0.0
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return 0.0


def _swap(raw: bytes, old: str, new: str) -> bytes:
    """The message with one recipient address replaced in its To/Cc/Bcc headers."""
    head, sep, body = raw.partition(b"\n\n")
    pattern = re.compile(re.escape(old.encode()), re.IGNORECASE)
    return pattern.sub(new.encode(), head) + sep + body


def evaluate(messages: list[bytes], config: Config, seed: int = 0) -> Score:
    own = {a.lower() for a in config.identity.addresses}
    sent: list[bytes] = []
    other: list[bytes] = []
    for raw in messages:
        sender = email.utils.parseaddr(email.message_from_bytes(raw).get("From", ""))[1]
        (sent if normalize_address(sender) in own else other).append(raw)
    sent.sort(key=_date)
    split = int(len(sent) * LEARN_SHARE)
    cutoff = _date(sent[split]) if split < len(sent) else float("inf")
    learn = sent[:split] + [m for m in other if _date(m) < cutoff]
    replay = sent[split:]
    rng = random.Random(seed)
    score = Score(received=len(other))
    with tempfile.TemporaryDirectory(prefix="sendguard-evaluate-") as tmp:
        state = Path(tmp)
        db = open_for_write(state)
        from sendguard.decide.train import Simulator, refresh

        simulate = Simulator(db, config).examples
        with Learner(db, config.identity.addresses, config.organization.domains, simulate) as learner:
            for raw in learn:
                learner.add(raw)
        fitted = refresh(db, config, force=True)
        score.operating_point = fitted.operating_point() if fitted is not None else ""
        score.trade_off = fitted.trade_off() if fitted is not None else ""
        db.close()
        store = open_read_only(state)
        for raw in replay:
            message = OutgoingMessage(raw)
            envelope = envelope_for(message, (), False)
            result = check_message(message, config, envelope=envelope, state_dir=state)
            score.replayed += 1
            score.false_holds += result.decision.verdict >= Verdict.HOLD
            if store is None:
                continue
            targets = [a for a in envelope if a not in own]
            if not targets:
                continue
            intended = rng.choice(targets)
            twins = [c for c, _ in confusables(store, intended, exclude=envelope) if c.sent > 0]
            if not twins:
                continue
            wrong = rng.choices(twins, weights=[c.sent for c in twins])[0]
            swapped = OutgoingMessage(_swap(raw, intended, wrong.addr))
            result = check_message(swapped, config, envelope=envelope_for(swapped, (), False), state_dir=state)
            held = result.decision.verdict >= Verdict.HOLD
            score.swapped += 1
            score.caught += held
            if wrong.domain != intended.rpartition("@")[2]:
                score.crossing += 1
                score.crossing_caught += held
    return score
