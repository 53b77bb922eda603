"""The judgement: when a better-fitting twin is reason enough to warn or hold, per user.

For a recipient R and each confusable contact T (history.twins), ``margin`` is how much better
T fits the message than R (history.fit: co-recipients, topic, greeting, thread, quoted header,
organization, names; recency only adds to evidence from the message itself, and a topic that is
the only evidence counts at 1/TOPIC_ONLY_FACTOR). How large a margin is unusual differs from
one user's mail to the next — how many namesakes they have, how alike their correspondents'
topics are — so the hold and warn thresholds are fitted per user at learn time (decide.train)
on the user's own sent mail: the hold threshold at the false-hold budget ``[judgement]
false_holds``, never below the rule's own ``hold_margin`` (the prior, used until a history is
large enough to fit on). The same budget covers the other reasons to hold about who gets a
message (a dormant contact, a typo, a reply to someone else, a greeting, ...): the fit may let
one of them only warn for this user (``demoted``) when its holds of the user's routine mail cost
more of the budget than it catches. The send path only compares one number with two, and
looks up the reasons that only warn.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sendguard.history.fit import Fit
from sendguard.history.store import Contact

MIN_CONTENT_MARGIN = 0.25
TOPIC_ONLY_FACTOR = 1.5
LARGE_AUDIENCE = 5
"""On longer recipient lists margins count half: everyone there has namesakes."""
MECHANISMS = {
    "namesake:typo": "a new address a typo away from a regular contact",
    "namesake:dormant": "a contact written to once or twice, long ago",
    "namesake:reply": "a reply that goes to someone other than the quoted author",
    "namesake:crossing": "an outside recipient with an internal namesake",
    "greeting-mismatch": "a greeting that names someone else",
    "internal-to-outside": "an internal topic to someone outside",
    "client-in-internal-thread": "an outsider added to an internal thread",
    "lookalike-domain": "a domain that looks like a known one",
    "sender-identity": "another From address than usual",
}
"""The reasons other than the namesake margin that may hold mail about who gets it, in words."""
NO_MARGIN = -10.0
"""The margin of a twin whose advantage is recency alone: never a reason."""


def topic_only(twin: Fit, actual: Fit) -> bool:
    """The twin's advantage is the topic words alone: no greeting, quote, thread, names or circle."""
    return (
        twin.greeting <= actual.greeting
        and twin.thread <= actual.thread
        and twin.quoted <= actual.quoted
        and twin.mention <= actual.mention
        and twin.co <= actual.co + 0.5
        and twin.org <= actual.org
        and twin.topic_org <= actual.topic_org
    )


def margin(twin: Fit, actual: Fit) -> float:
    """How much better the twin fits, in units of the hold threshold (NO_MARGIN: recency alone).

    Two colleagues on the same desk share a vocabulary, so the topic alone counts at
    1/TOPIC_ONLY_FACTOR; people write to old contacts all the time, so recency only ever adds
    to a margin the message itself gives (at least MIN_CONTENT_MARGIN).
    """
    if twin.content_margin_over(actual) < MIN_CONTENT_MARGIN:
        return NO_MARGIN
    m = twin.margin_over(actual)
    return m / TOPIC_ONLY_FACTOR if topic_only(twin, actual) else m


@dataclass
class Judgement:
    """The fitted thresholds on ``margin``, and what the fit measured."""

    hold: float
    warn: float
    fitted: bool = False
    """False: the rule's own margins (too little sent mail to fit on yet)."""
    report: dict[str, Any] = field(default_factory=dict)
    """The operating point measured when fitting: budget, samples, swaps, false_holds, recall, and
    ``demoted``: mechanism -> {"held": sent messages only it held, "caught": mistakes only it caught};
    ``kept``: the same for reasons that hold routine mail and earn it; ``curve``: [budget,
    false_holds, recall] at other budgets, on the same simulated mail."""

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    def operating_point(self) -> str:
        """One line for learn, evaluate and doctor."""
        r = self.report
        if not self.fitted:
            why = r.get("why", "nothing fitted yet")
            return f"judgement: the rule's own margins ({why})"
        line = (
            f"judgement: fitted on {r.get('samples', 0)} sent messages and {r.get('swaps', 0)} simulated "
            f"mistakes: hold at margin {self.hold:.2f}; held-out false holds {r.get('false_holds', 0.0):.1%} "
            f"(budget {r.get('budget', 0.0):.1%}), mistakes held {r.get('recall', 0.0):.1%}"
        )
        kept = r.get("kept") or {}
        if kept and r.get("false_holds", 0.0) > r.get("budget", 0.0):
            line += f"; over the budget, as these catch more than they cost: {_counted(kept)}"
        demoted = r.get("demoted") or {}
        if demoted:
            line += f"; only warn, too costly on your mail: {_counted(demoted)}"
        return line

    def trade_off(self) -> str:
        """What other budgets would hold on the same simulated mail (evaluate), or ''."""
        curve = self.report.get("curve") or []
        if not self.fitted or not curve:
            return ""
        points = "; ".join(f"{b:.1%}: {fh:.1%}, {rec:.1%}" for b, fh, rec in curve)
        return f"at other budgets ([judgement] false_holds), held for nothing and mistakes held: {points}"

    def demotions(self) -> dict[str, str]:
        """mechanism -> why it only warns for this user (for the finding's evidence)."""
        r = self.report
        return {
            m: (
                f"only warns for you: on your sent mail it would have held {d.get('held', 0)} of "
                f"{r.get('samples', 0)} messages for nothing and caught {d.get('caught', 0)} of "
                f"{r.get('swaps', 0)} simulated mistakes"
            )
            for m, d in (r.get("demoted") or {}).items()
        }


def _counted(reasons: dict[str, dict[str, int]]) -> str:
    return "; ".join(
        f"{MECHANISMS.get(m, m)} [{m}] (held {d.get('held', 0)}, caught {d.get('caught', 0)})"
        for m, d in sorted(reasons.items())
    )


def loads(text: str, hold: float, warn: float) -> Judgement:
    """The stored judgement, or the given (prior) margins when there is none or it is unreadable."""
    prior = Judgement(hold, warn)
    if not text:
        return prior
    try:
        data = json.loads(text)
        return Judgement(float(data["hold"]), float(data["warn"]), bool(data["fitted"]), dict(data["report"]))
    except (ValueError, KeyError, TypeError):
        return prior


def judgement_of(store: Any, hold: float = 1.0, warn: float = 0.75) -> Judgement:
    """The store's judgement (``hold``/``warn``: the prior), parsed once per store."""
    key = ("judgement.parsed", hold, warn)
    found = store.memo.get(key)
    if found is None:
        found = store.memo[key] = loads(store.judgement(), hold, warn)
    return found  # type: ignore[no-any-return]


def pin(store: Any, hold: float, warn: float, judgement: Judgement) -> None:
    """Make ``judgement_of(store, hold, warn)`` answer ``judgement`` instead of the stored one."""
    store.memo[("judgement.parsed", hold, warn)] = judgement


def known_twins(
    store: Any, addr: str, display: str, recipients: list[str], is_own: Callable[[str], bool]
) -> list[tuple[Contact, str]]:
    """(contact, why) for the confusable contacts of ``addr`` the user has met in their mail.

    Written to, heard from, or only seen beside others: the person meant is often one the user
    has so far only been copied with.
    """
    from sendguard.history.twins import confusables

    twins = confusables(store, addr, display, exclude=recipients)
    return [(c, why) for c, why in twins if (c.sent or c.received or c.seen) and not is_own(c.addr)]


def compare(
    model: Any, actual: Contact, twins: list[tuple[Contact, str]], recipients: list[str]
) -> tuple[Fit, dict[int, Fit], list[tuple[float, Fit, str]]]:
    """The recipient's fit, every fit, and (margin, twin's fit, why confusable) for each twin."""
    fits = model.fits([c for c, _ in twins] + [actual], [a for a in recipients if a != actual.addr])
    base = fits[actual.id]
    scale = 0.5 if len(recipients) > LARGE_AUDIENCE else 1.0
    return base, fits, [(scale * margin(fits[c.id], base), fits[c.id], why) for c, why in twins]
