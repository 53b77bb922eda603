"""Fit the judgement (the per-user hold threshold) to the user's own mail, at learn time.

Never on the send path: it simulates autocomplete mistakes on the user's sent mail, judges each
as sent and swapped with the rules about who gets a message (JUDGED_RULES), and reads the
threshold from the margins seen and which other reasons to hold stay able to, all within one
false-hold budget (ARCHITECTURE.md, "The judgement: who was meant, decided per user");
``sendguard evaluate`` measures the same.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sendguard.decide.decision import CORROBORATING_INFO, decide
from sendguard.history import judgement as jm
from sendguard.history.learn import MAX_PARTICIPANTS, observe_message
from sendguard.history.store import Contact, HistoryStore, reread
from sendguard.model import Action, Finding, Severity, Verdict

VERSION = 7
"""Of the simulated examples: a change to the margin or to what is recorded makes older ones useless."""
JUDGED_RULES = (
    "first-time-recipient",
    "namesake",
    "greeting-mismatch",
    "internal-to-outside",
    "client-in-internal-thread",
    "lookalike-domain",
    "sender-identity",
)
"""The rules about who gets a message, run on each simulated message as the send path would."""
UNMEASURED = frozenset({"namesake:typo"})
"""Reasons the simulation cannot see catch (it swaps in contacts written to, never a mistyped
address): judged by routine holds alone they would always lose, so they are never demoted."""
MIN_SAMPLES = 50
MIN_SWAPS = 20
SWAPS = 2
STALE_SHARE = 0.1  # refit when the sent mail grew by this share since the last fit
STALE_MIN = 20
BANDWIDTH = 0.3  # of the smoothing kernel, in margin units
CURVE = (0.005, 0.01, 0.02, 0.03, 0.05)
"""Budgets at which the fit also reports what it would hold, so a user can choose their own."""


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

    def contact_words(self, ids: Any, words: Any) -> dict[int, Mapping[str, int]]:
        found = self.base.contact_words(ids, words)
        if not self.small:
            return found
        out = dict(found)
        for i in self.rcpt.intersection(found):
            counts = found[i]
            if not self.words.isdisjoint(counts):
                out[i] = {w: n - (w in self.words) for w, n in counts.items()}  # a copy: the base's are kept
        return out

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
        self.own = {a.lower() for a in (config.identity.addresses if own is None else own)}
        if self.own != {a.lower() for a in config.identity.addresses}:
            from sendguard.config.schema import IdentitySection

            config = copy.copy(config)  # judged as this sender's own send path would
            config.identity = IdentitySection(addresses=sorted(self.own), name=config.identity.name)
        self.config = config
        self.rng = random.Random(seed)
        from sendguard.rules import rule_class

        off = {rule for rule, action in config.actions().items() if action is Action.OFF}
        self.rules = [rule_class(rule)() for rule in JUDGED_RULES if rule not in off]
        self._store: HistoryStore | None = None
        """The store the last message was judged against: the next carries its counts over."""

    def examples(self, observed: Any, store: Any = None) -> str:
        """JSON: {"v": VERSION, "sent": judged, "swaps": [judged, ...]}, each judged message
        [the largest twin margin, [[mechanism, severity, recipient], ...]] (see ``judge``)."""
        from sendguard.decide.check import envelope_for
        from sendguard.decide.evaluate import _swap
        from sendguard.history.twins import confusables
        from sendguard.mail.message import OutgoingMessage

        # lookups kept for this message's judgements (the history does not change between them),
        # the counts read for the message before carried over what was learned since
        if store is None:
            store = self._store = reread(self.db, self._store) or HistoryStore(self.db, keep_lookups=True)
        # the margin is recorded as a number: the rule itself must neither warn nor hold on it
        jm.pin(store, *_prior(self.config), jm.Judgement(math.inf, math.inf))
        raw = observed.sample
        message = OutgoingMessage(raw)
        envelope = envelope_for(message, (), False)
        recipients = [a for a in envelope if a not in self.own]
        if not recipients:
            return ""
        out: dict[str, Any] = {"v": VERSION, "sent": self.judge(store, message, envelope, observed.date)}
        swaps = []
        for intended in self.rng.sample(recipients, min(SWAPS, len(recipients))):
            twins = [c for c, _ in confusables(store, intended, exclude=envelope) if c.sent > 0]
            if not twins:
                continue
            wrong = self.rng.choices(twins, weights=[c.sent for c in twins])[0]
            swapped = OutgoingMessage(_swap(raw, intended, wrong.addr))
            swaps.append(self.judge(store, swapped, envelope_for(swapped, (), False), observed.date))
        out["swaps"] = swaps
        return json.dumps(out)

    def judge(self, store: Any, message: Any, envelope: list[str], when: float) -> list[Any]:
        """[the largest twin margin the namesake rule saw (NO_MARGIN: none), the findings that
        may weigh in the decision as [mechanism, severity, recipient]] (none if nothing warns)."""
        from sendguard.rules.context import CheckContext
        from sendguard.rules.namesake import LARGEST

        context = CheckContext(self.config, envelope, when, None)  # type: ignore[arg-type]
        context.history = store
        findings: list[Finding] = []
        for rule in self.rules:
            try:
                findings += rule.check(message, context)
            except Exception:  # noqa: BLE001 — the send path holds such mail; learning goes on
                continue
        kept = [f for f in findings if f.severity >= Severity.WARN or f.rule in CORROBORATING_INFO]
        if not any(f.severity >= Severity.WARN for f in kept):
            kept = []
        return [
            context.cache.get(LARGEST, jm.NO_MARGIN),
            [[f.mechanism, int(f.severity), f.recipient or ""] for f in kept],
        ]


Judged = tuple[float, list[Finding]]
"""One simulated message: its largest twin margin and the findings that may weigh in the decision."""


def _judged(data: Any) -> Judged:
    margin, found = data
    findings = []
    for mechanism, severity, recipient in found:
        rule, _, kind = str(mechanism).partition(":")
        findings.append(Finding(rule, Severity(int(severity)), "", recipient or None, kind=kind or None))
    return float(margin), findings


def simulate(db: Any, config: Any, seed: int = 0, own: Any = None) -> tuple[list[Judged], list[Judged]]:
    """(the kept samples judged as sent, their swaps judged): margins and findings.

    A sample never judged (learned without simulation) or judged by an older VERSION is judged
    now against the history less that message (LeaveOut), and the result kept in ``examples``.
    """
    base = HistoryStore(db)
    simulator = Simulator(db, config, seed, own=own)
    ids: dict[str, int] | None = None
    rows = db.execute(
        "SELECT s.msgid, s.date, s.raw, e.data FROM samples s JOIN messages m ON m.msgid = s.msgid "
        "LEFT JOIN examples e ON e.msgid = s.msgid ORDER BY s.date, s.msgid"
    ).fetchall()
    sent: list[Judged] = []
    swaps: list[Judged] = []
    judged_now = []
    for msgid, date, raw, data in rows:
        found = _parsed(data)
        # never judged, or by an older VERSION (not those skipped while the history was young)
        if data is None or found.get("v", VERSION) != VERSION:
            observed = observe_message(bytes(raw), simulator.own, config.organization.domains)
            if observed is None or not observed.recipients:
                continue
            if ids is None:
                ids = dict(db.execute("SELECT addr, id FROM contacts"))
            data = simulator.examples(observed, LeaveOut(base, observed, ids))
            judged_now.append((msgid, date, data))
            found = _parsed(data)
        if found.get("v") != VERSION:
            continue  # judged while the history was young, or by an older margin
        try:
            judged = _judged(found["sent"]), [_judged(s) for s in found.get("swaps", [])]
        except (ValueError, TypeError, KeyError):
            continue
        sent.append(judged[0])
        swaps.extend(judged[1])
    if judged_now:
        with db:
            db.executemany("INSERT OR REPLACE INTO examples VALUES (?, ?, ?)", judged_now)
    return sent, swaps


def _parsed(data: str | None) -> dict[str, Any]:
    """A stored example ({} when none, unreadable or not an object)."""
    try:
        found = json.loads(data) if data else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def refresh(db: Any, config: Any, *, force: bool = False, own: Any = None) -> jm.Judgement | None:
    """Refit when the sent mail grew by STALE_SHARE since the last fit (or never was), or the
    budget or prior changed; None if fresh. ``own``: whose history it is, when not the config's
    identity (a sender of the milter)."""
    if not (force or stale(db, config)):
        return None
    fitted = fit(db, config, own=own)
    with db:
        db.execute("INSERT OR REPLACE INTO meta VALUES ('judgement', ?)", (fitted.dumps(),))
    return fitted


def stale(db: Any, config: Any) -> bool:
    """Whether the stored judgement is due for a refit (see ``refresh``): two rows read."""
    row = db.execute("SELECT value FROM meta WHERE key = 'judgement'").fetchone()
    hold, warn = _prior(config)
    current = jm.loads(row[0] if row else "", hold, warn)
    sent = _meta(db, "sent")
    fitted_at = int(current.report.get("sent", -1)) if row else -1
    return (
        fitted_at < 0
        or sent >= fitted_at + max(STALE_MIN, STALE_SHARE * fitted_at)
        or current.report.get("budget") != config.judgement.false_holds
        or current.report.get("prior") != [hold, warn]
        or current.report.get("version") != VERSION
    )


def _prior(config: Any) -> tuple[float, float]:
    return config.rule_option("namesake", "hold_margin"), config.rule_option("namesake", "warn_margin")


def _meta(db: Any, key: str) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def fit(db: Any, config: Any, seed: int = 0, own: Any = None) -> jm.Judgement:
    """The thresholds at the budget (see the module docstring), or the prior with too little mail."""
    started = time.monotonic()
    budget = config.judgement.false_holds
    hold, warn = _prior(config)
    sent, swaps = simulate(db, config, seed, own)
    report: dict[str, Any] = {
        "budget": budget,
        "prior": [hold, warn],
        "version": VERSION,
        "sent": _meta(db, "sent"),
        "samples": len(sent),
        "swaps": len(swaps),
    }
    if len(sent) < MIN_SAMPLES or len(swaps) < MIN_SWAPS:
        report["why"] = f"{len(sent)} sent messages and {len(swaps)} simulated mistakes, too few to fit on yet"
        return jm.Judgement(hold, warn, False, report)
    actions = config.actions()
    chosen = choose(sent, swaps, budget, hold, actions)
    curve = []
    for other in CURVE:
        if other != budget:
            there = choose(sent, swaps, other, hold, actions)
            curve.append([other, there.false_holds / len(sent), there.caught / len(swaps)])
    report.update(
        false_holds=chosen.false_holds / len(sent),
        recall=chosen.caught / len(swaps),
        demoted=chosen.demoted,
        kept=chosen.kept,
        curve=curve,
        seconds=round(time.monotonic() - started, 2),
    )
    return jm.Judgement(chosen.hold, chosen.hold - (hold - warn), True, report)


@dataclass
class Choice:
    """The fitted hold threshold, and which reasons only warn, with what was counted for them."""

    hold: float
    false_holds: int
    caught: int
    demoted: dict[str, dict[str, int]] = field(default_factory=dict)
    """mechanism -> {"held": sent messages only it held, "caught": mistakes only it caught}."""
    kept: dict[str, dict[str, int]] = field(default_factory=dict)
    """The same for the reasons that hold routine mail and earn it: why the total can pass the budget."""


def choose(sent: list[Judged], swaps: list[Judged], budget: float, floor: float, actions: dict[str, Action]) -> Choice:
    """The hold threshold, and which other reasons to hold only warn (see the module doc).

    The namesake margin gets the budget: its threshold is where ``budget`` of the margins as sent
    lie, never below ``floor``. Another reason keeps holding only while it earns its routine
    holds: it must catch at least as many simulated mistakes as the margin would catch if its
    budget grew by the routine messages that reason alone holds. Greedy, the reason furthest
    below that first, counted again after each demotion (two reasons holding together only
    count for both). Demoting never lowers the threshold: it only removes holds.
    """
    n = len(sent)
    margins = [m for m, _ in sent]
    t = max(threshold(margins, budget), floor)
    by_margin = sum(m >= t for m, _ in swaps)
    earned: dict[int, int] = {}

    def earn(k: int) -> int:
        """What the margin would catch with ``k`` more routine holds in its budget."""
        if k not in earned:
            wider = max(threshold(margins, budget + k / n), floor)
            earned[k] = sum(m >= wider for m, _ in swaps) - by_margin
        return earned[k]

    def held(findings: list[Finding], demoted: frozenset[str]) -> bool:
        if not findings:
            return False
        return decide(findings, actions, dict.fromkeys(demoted, "")).verdict >= Verdict.HOLD

    def outcome(demoted: frozenset[str]) -> tuple[list[bool], list[bool]]:
        """(each sent message held, each swap held)."""
        return [m >= t or held(fs, demoted) for m, fs in sent], [m >= t or held(fs, demoted) for m, fs in swaps]

    def lost(before: tuple[list[bool], list[bool]], after: tuple[list[bool], list[bool]]) -> dict[str, int]:
        return {
            "held": sum(a and not b for a, b in zip(before[0], after[0], strict=True)),
            "caught": sum(a and not b for a, b in zip(before[1], after[1], strict=True)),
        }

    candidates = sorted({f.mechanism for _, fs in sent for f in fs if f.severity >= Severity.WARN} - UNMEASURED)
    demoted: frozenset[str] = frozenset()
    now = outcome(demoted)
    while True:
        # what each reason still holding alone holds and catches
        alone = {m: lost(now, outcome(demoted | {m})) for m in sorted(set(candidates) - demoted)}
        # (how far below what the margin would earn, the reason) for each that does not earn its holds
        short = [
            (earn(d["held"]) - d["caught"], m)
            for m, d in alone.items()
            if d["held"] and (d["caught"] < earn(d["held"]) or not d["caught"])
        ]
        if not short:
            break
        demoted |= {max(short)[1]}
        now = outcome(demoted)
    why = {m: lost(outcome(demoted - {m}), now) for m in sorted(demoted)}
    kept = {m: d for m, d in alone.items() if d["held"]}
    return Choice(t, sum(now[0]), sum(now[1]), why, kept)


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
