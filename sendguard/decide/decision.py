"""Decide: the one place where findings and configuration become a verdict.

A small declarative table, read top to bottom (Mailman's ``chains/builtin.py``):

1. ``[rules.ID] action`` overrides the severity of every finding of that rule (``off`` drops them).
2. Each finding's severity maps to a verdict (SEVERITY_TO_VERDICT); the highest wins.
3. Never nag: one WARN never holds; two independent pieces of evidence about one recipient do
   (two rules' WARNs, or a WARN and a corroborating INFO). Findings about the whole message count
   for every recipient.
4. What the judgement learned from the user's own mail (decide.train): a reason
   (``Finding.mechanism``) that would hold too much of the user's routine mail for what it
   catches only warns for this user: capped at WARN and left out of step 3. A rule whose
   action the user set is left as the user set it.

Steps 2 and 3 only raise the verdict, step 4 only caps reasons the user's own mail showed to
hold routine mail: more evidence never lowers it (a property test checks this).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import NamedTuple

from sendguard.model import Action, Finding, Severity, Verdict

SEVERITY_TO_VERDICT: Mapping[Severity, Verdict] = {
    Severity.INFO: Verdict.PASS,
    Severity.WARN: Verdict.WARN,
    Severity.HOLD: Verdict.HOLD,
    Severity.BLOCK: Verdict.BLOCK,
}

# INFO findings that add weight to a WARN about the same recipient. Being external is routine
# and corroborates nothing; never having written to someone does.
CORROBORATING_INFO: frozenset[str] = frozenset({"first-time-recipient"})

# How many agreeing findings from distinct rules raise a WARN to HOLD.
AGREEING_RULES_TO_HOLD = 2


class Decision(NamedTuple):  # not a dataclass: see sendmail_args.SendmailArgs
    """The verdict and the findings that led to it (after config overrides)."""

    verdict: Verdict
    findings: tuple[Finding, ...]
    escalated: bool = False
    """True when the verdict was raised because independent findings agreed."""

    @property
    def reasons(self) -> list[str]:
        return [f.message for f in self.findings if f.severity >= Severity.WARN]


def apply_actions(findings: Iterable[Finding], actions: Mapping[str, Action]) -> list[Finding]:
    """Step 1: the user's ``[rules.ID] action`` replaces each rule's own severity."""
    out: list[Finding] = []
    for finding in findings:
        action = actions.get(finding.rule)
        if action is None:
            out.append(finding)
        elif action is not Action.OFF:
            out.append(replace(finding, severity=Severity(int(action))))
    return out


def _agreement(findings: list[Finding]) -> bool:
    """Step 3: do independent findings agree about one recipient?"""
    per_recipient: dict[str | None, list[Finding]] = defaultdict(list)
    for finding in findings:
        per_recipient[finding.recipient].append(finding)
    message_level = per_recipient.pop(None, [])
    for own in list(per_recipient.values()) or [[]]:
        group = message_level + own
        if not any(f.severity == Severity.WARN for f in group):
            continue
        agreeing = {f.rule for f in group if f.severity >= Severity.WARN}
        # "Never written to before" corroborates a doubt about *who* gets the mail, not about
        # what it carries: it counts only beside a warning about this very recipient.
        if any(f.severity == Severity.WARN for f in own):
            agreeing |= {f.rule for f in own if f.severity == Severity.INFO and f.rule in CORROBORATING_INFO}
        if len(agreeing) >= AGREEING_RULES_TO_HOLD:
            return True
    return False


def apply_demotions(
    findings: list[Finding], actions: Mapping[str, Action], demoted: Mapping[str, str]
) -> tuple[list[Finding], list[Finding]]:
    """Step 4: (every finding, those step 3 may count). A demoted reason is capped at WARN, says why
    in its evidence and is left out of the agreement, unless the user set its rule's action."""
    effective: list[Finding] = []
    counted: list[Finding] = []
    for f in findings:
        if f.mechanism in demoted and f.rule not in actions and f.severity in (Severity.WARN, Severity.HOLD):
            why = demoted[f.mechanism]
            f = replace(f, severity=Severity.WARN, evidence=f"{f.evidence}; {why}" if f.evidence else why)
        else:
            counted.append(f)
        effective.append(f)
    return effective, counted


def decide(
    findings: Iterable[Finding],
    actions: Mapping[str, Action] | None = None,
    demoted: Mapping[str, str] | None = None,
) -> Decision:
    """Turn findings into a verdict. Pure: no I/O, no clock, no config file.

    ``demoted``: mechanism -> why it only warns for this user (step 4; added to the evidence).
    """
    actions = actions or {}
    effective = counted = apply_actions(findings, actions)
    if demoted:
        effective, counted = apply_demotions(effective, actions, demoted)
    verdict = max((SEVERITY_TO_VERDICT[f.severity] for f in effective), default=Verdict.PASS)
    escalated = False
    if verdict == Verdict.WARN and _agreement(counted):
        verdict, escalated = Verdict.HOLD, True
    ordered = tuple(sorted(effective, key=lambda f: -f.severity))
    return Decision(verdict=verdict, findings=ordered, escalated=escalated)
