"""Fit the judgement (the per-user hold threshold) to the user's own mail, at learn time.

Never on the send path: it simulates autocomplete mistakes on the user's sent mail and reads the
threshold from the margins seen (ARCHITECTURE.md, "The judgement: who was meant, decided per
user"); ``sendguard evaluate`` measures the same.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import replace
from typing import Any

from sendguard.history import judgement as jm
from sendguard.history.fit import FitModel, MessageView, organization
from sendguard.history.learn import MAX_PARTICIPANTS, observe_message
from sendguard.history.store import Contact, HistoryStore

VERSION = 3
"""Of the simulated examples: a change to the margin makes older ones useless."""
MIN_SAMPLES = 50
MIN_SWAPS = 20
SWAPS = 2
STALE_SHARE = 0.1  # refit when the sent mail grew by this share since the last fit
STALE_MIN = 20
BANDWIDTH = 0.3  # of the smoothing kernel, in margin units


class LeaveOut(HistoryStore):
    """The history as it would be without one message: its counts subtracted on the way out."""

    def __init__(self, base: HistoryStore, observed: Any, ids: dict[str, int]) -> None:
        self.db = base.db
        self.columns = base.columns
        self.base = base
        self._aliases = base._aliases
        self._trusted = base._trusted
        self._contacts = {}
        self._rows = {}
        self.memo = {}
        self.msgid = observed.msgid
        self.words = set(observed.words)
        self.outside = observed.outside
        self.rcpt = {ids[a] for a, _ in observed.recipients if a in ids}
        self.small = len(self.rcpt) <= MAX_PARTICIPANTS

    def _adjust(self, c: Contact | None) -> Contact | None:
        if c is None or c.id not in self.rcpt:
            return c
        return replace(c, sent=max(c.sent - 1, 0), seen=max(c.seen - 1, 0), words=max(c.words - self.small, 0))

    def contact(self, addr: str) -> Contact | None:
        return self._adjust(self.base.contact(addr))

    def _many(self, where: str, args: Any, limit: int) -> list[Contact]:
        return [self._adjust(c) for c in self.base._many(where, args, limit)]  # type: ignore[misc]

    def near_addresses(self, addr: str, limit: int = 12) -> list[Contact]:
        return [self._adjust(c) for c in self.base.near_addresses(addr, limit)]  # type: ignore[misc]

    def pair_counts(self, ids: Any, others: Any) -> dict[tuple[int, int], int]:
        counts = self.base.pair_counts(ids, others)
        if self.small:
            for key in list(counts):
                if key[0] in self.rcpt and key[1] in self.rcpt:
                    counts[key] -= 1
        return counts

    def word_counts(self, ids: Any, words: Any) -> dict[tuple[int, str], int]:
        counts = self.base.word_counts(ids, words)
        if self.small:
            for key in list(counts):
                if key[0] in self.rcpt and key[1] in self.words:
                    counts[key] -= 1
        return counts

    def vocab(self, words: Any) -> dict[str, tuple[int, int, int]]:
        found = self.base.vocab(words)
        for w in self.words & set(found):
            df, inside, outside = found[w]
            found[w] = (df - 1, inside - (not self.outside), outside - self.outside)
        return found

    def meta(self, key: str) -> int:
        n = self.base.meta(key)
        return n - 1 if key in ("messages", "sent") else n

    def subject_participants(self, subject: str, limit: int = 200) -> set[str]:
        if not subject:
            return set()
        rows = self.db.execute(
            "SELECT DISTINCT c.addr FROM (SELECT msgid FROM messages WHERE subject = ? AND msgid != ? LIMIT ?) m "
            "JOIN participants p ON p.msgid = m.msgid JOIN contacts c ON c.id = p.contact",
            (subject, self.msgid, limit),
        )
        return {r[0] for r in rows}


class Simulator:
    """Judges one sent message as sent and with recipients swapped for twins (see the module doc)."""

    def __init__(self, db: Any, config: Any, seed: int = 0, own: Any = None) -> None:
        self.db = db
        self.config = config
        self.own = {a.lower() for a in (config.identity.addresses if own is None else own)}
        self.rng = random.Random(seed)

    def examples(self, observed: Any, store: Any = None) -> str:
        """JSON: {"v": VERSION, "sent": margin, "swaps": [margin, ...]} (a margin: the largest twin's)."""
        from sendguard.decide.check import envelope_for
        from sendguard.decide.evaluate import _swap
        from sendguard.history.twins import confusables
        from sendguard.mail.message import OutgoingMessage
        from sendguard.rules.context import CheckContext

        store = store if store is not None else HistoryStore(self.db)
        raw = observed.sample
        message = OutgoingMessage(raw)
        envelope = envelope_for(message, (), False)
        recipients = [a for a in envelope if a not in self.own]
        if not recipients:
            return ""
        context = CheckContext(self.config, envelope, 0.0, None)  # type: ignore[arg-type]
        out: dict[str, Any] = {"v": VERSION, "sent": _largest(store, message, recipients, context, observed.date)}
        swaps = []
        for intended in self.rng.sample(recipients, min(SWAPS, len(recipients))):
            twins = [c for c, _ in confusables(store, intended, exclude=envelope) if c.sent > 0]
            if not twins:
                continue
            wrong = self.rng.choices(twins, weights=[c.sent for c in twins])[0]
            swapped = OutgoingMessage(_swap(raw, intended, wrong.addr))
            swapped_to = [a for a in envelope_for(swapped, (), False) if a not in self.own]
            swaps.append(_largest(store, swapped, swapped_to, context, observed.date))
        out["swaps"] = swaps
        return json.dumps(out)


def _largest(store: Any, message: Any, recipients: list[str], context: Any, when: float) -> float:
    """The largest twin margin the namesake rule sees in this message (NO_MARGIN: none)."""
    model = FitModel(store, MessageView(message, recipients), org_of=lambda a: organization(context, a), when=when)
    names = {a.addr: a.name for a in message.header_recipients}
    best = jm.NO_MARGIN
    for addr in recipients:
        actual = store.contact(addr)
        if actual is None or not (actual.sent or actual.received):
            continue
        twins = jm.known_twins(store, addr, names.get(addr, ""), recipients, context.is_own)
        if twins:
            _, _, compared = jm.compare(model, actual, twins, recipients)
            best = max(best, max(m for m, _, _ in compared))
    return best


def simulate(db: Any, config: Any, seed: int = 0) -> tuple[list[float], list[float]]:
    """(margins of the kept samples as sent, margins of their swaps)."""
    base = HistoryStore(db)
    simulator = Simulator(db, config, seed)
    ids: dict[str, int] | None = None
    rows = db.execute(
        "SELECT s.raw, e.data FROM samples s JOIN messages m ON m.msgid = s.msgid "
        "LEFT JOIN examples e ON e.msgid = s.msgid ORDER BY s.date, s.msgid"
    ).fetchall()
    sent: list[float] = []
    swaps: list[float] = []
    for raw, data in rows:
        if data is None:
            observed = observe_message(bytes(raw), simulator.own, config.organization.domains)
            if observed is None or not observed.recipients:
                continue
            if ids is None:
                ids = dict(db.execute("SELECT addr, id FROM contacts"))
            data = simulator.examples(observed, LeaveOut(base, observed, ids))
        try:
            found = json.loads(data) if data else {}
        except ValueError:
            continue
        if found.get("v") != VERSION:
            continue  # judged while the history was young, or by an older margin
        sent.append(float(found["sent"]))
        swaps.extend(float(s) for s in found.get("swaps", []))
    return sent, swaps


def refresh(db: Any, config: Any, *, force: bool = False) -> jm.Judgement | None:
    """Refit when the sent mail grew by STALE_SHARE since the last fit (or never was); None if fresh."""
    row = db.execute("SELECT value FROM meta WHERE key = 'judgement'").fetchone()
    hold, warn = _prior(config)
    current = jm.loads(row[0] if row else "", hold, warn)
    sent = _meta(db, "sent")
    fitted_at = int(current.report.get("sent", -1)) if row else -1
    stale = (
        fitted_at < 0
        or sent >= fitted_at + max(STALE_MIN, STALE_SHARE * fitted_at)
        or current.report.get("budget") != config.judgement.false_holds
        or current.report.get("prior") != [hold, warn]
    )
    if not (force or stale):
        return None
    fitted = fit(db, config)
    with db:
        db.execute("INSERT OR REPLACE INTO meta VALUES ('judgement', ?)", (fitted.dumps(),))
    return fitted


def _prior(config: Any) -> tuple[float, float]:
    return config.rule_option("namesake", "hold_margin"), config.rule_option("namesake", "warn_margin")


def _meta(db: Any, key: str) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def fit(db: Any, config: Any, seed: int = 0) -> jm.Judgement:
    """The thresholds at the budget (see the module docstring), or the prior with too little mail."""
    started = time.monotonic()
    budget = config.judgement.false_holds
    hold, warn = _prior(config)
    sent, swaps = simulate(db, config, seed)
    report: dict[str, Any] = {
        "budget": budget,
        "prior": [hold, warn],
        "sent": _meta(db, "sent"),
        "samples": len(sent),
        "swaps": len(swaps),
    }
    if len(sent) < MIN_SAMPLES or len(swaps) < MIN_SWAPS:
        report["why"] = f"{len(sent)} sent messages and {len(swaps)} simulated mistakes, too few to fit on yet"
        return jm.Judgement(hold, warn, False, report)
    fitted_hold = max(threshold(sent, budget), hold)
    report.update(
        false_holds=sum(s >= fitted_hold for s in sent) / len(sent),
        recall=sum(s >= fitted_hold for s in swaps) / len(swaps),
        seconds=round(time.monotonic() - started, 2),
    )
    return jm.Judgement(fitted_hold, fitted_hold - (hold - warn), True, report)


def threshold(scores: list[float], share: float) -> float:
    """The score above which ``share`` of ``scores`` lie, read from a smoothed distribution.

    A budget of 1 % on a few hundred messages is decided by the two or three highest scores;
    smoothing each score with a logistic kernel of width BANDWIDTH makes the threshold depend on
    the shape of the tail rather than on which of them happened to be in the sample.
    """
    if not scores or share <= 0:
        return max(scores, default=0.0) + BANDWIDTH

    def above(t: float) -> float:
        return sum(1 / (1 + math.exp(max(min((t - s) / BANDWIDTH, 50.0), -50.0))) for s in scores) / len(scores)

    low, high = min(scores) - 20 * BANDWIDTH, max(scores) + 20 * BANDWIDTH
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (mid, high) if above(mid) > share else (low, mid)
    # Smoothing must not spend more than the budget on ties: scores at one value (many equal
    # margins) are held all together or not at all, so step above them while they would be.
    allowed = share * len(scores) + 1
    while sum(s >= high for s in scores) > allowed:
        high = math.nextafter(min(s for s in scores if s >= high), math.inf)
    return high
