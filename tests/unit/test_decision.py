"""decision.py: the one place findings become a verdict. A table of cases, then the invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendguard.decide.decision import CORROBORATING_INFO, decide
from sendguard.model import Action, Finding, Severity, Verdict

INFO, WARN, HOLD, BLOCK = Severity.INFO, Severity.WARN, Severity.HOLD, Severity.BLOCK
ANNA = "anna@kundenfirma.example"
BOB = "bob@other.example"


def f(rule: str, severity: Severity, recipient: str | None = None) -> Finding:
    return Finding(rule, severity, f"{rule} says {severity.label}", recipient=recipient)


@pytest.mark.parametrize(
    ("findings", "actions", "verdict", "escalated"),
    [
        ([], {}, Verdict.PASS, False),  # nothing found
        ([f("external-recipient", INFO, ANNA)], {}, Verdict.PASS, False),  # routine client mail
        ([f("a", WARN, ANNA)], {}, Verdict.WARN, False),  # one weak signal never holds
        (
            [f("a", WARN, ANNA), f("external-recipient", INFO, ANNA)],
            {},
            Verdict.WARN,
            False,
        ),  # being external corroborates nothing
        ([f("a", WARN, ANNA), f("a", WARN, ANNA)], {}, Verdict.WARN, False),  # one rule twice is not independent
        ([f("a", WARN, ANNA), f("b", WARN, ANNA)], {}, Verdict.HOLD, True),  # two rules agree on Anna
        ([f("a", WARN, ANNA), f("b", WARN, BOB)], {}, Verdict.WARN, False),  # they disagree on who
        ([f("a", WARN, ANNA), f("b", WARN)], {}, Verdict.HOLD, True),  # message-level counts for everyone
        ([f("a", WARN), f("b", WARN)], {}, Verdict.HOLD, True),  # both about the whole message
        (
            [f("a", WARN, ANNA), f("first-time-recipient", INFO, ANNA)],
            {},
            Verdict.HOLD,
            True,
        ),  # WARN + never written to
        ([f("a", WARN, ANNA), f("first-time-recipient", INFO, BOB)], {}, Verdict.WARN, False),  # ... about someone else
        ([f("first-time-recipient", INFO, ANNA)], {}, Verdict.PASS, False),  # a new contact alone is routine
        (
            [f("forgotten-attachment", WARN), f("first-time-recipient", INFO, ANNA)],
            {},
            Verdict.WARN,
            False,
        ),  # a doubt about the content is not one about Anna
        ([f("a", HOLD, ANNA)], {}, Verdict.HOLD, False),  # conclusive evidence holds on its own
        ([f("a", BLOCK, ANNA), f("b", WARN, ANNA)], {}, Verdict.BLOCK, False),  # the highest wins
        ([f("a", HOLD, ANNA), f("b", WARN, ANNA)], {}, Verdict.HOLD, False),  # not "escalated": HOLD already
        # [rules.ID] action
        ([f("external-recipient", INFO, ANNA)], {"external-recipient": Action.HOLD}, Verdict.HOLD, False),
        ([f("a", HOLD, ANNA)], {"a": Action.OFF}, Verdict.PASS, False),  # off drops the findings
        ([f("a", HOLD, ANNA)], {"a": Action.WARN}, Verdict.WARN, False),  # may also lower a rule's own say
        ([f("a", BLOCK, ANNA)], {"a": Action.INFO}, Verdict.PASS, False),
        ([f("a", WARN, ANNA), f("b", WARN, ANNA)], {"b": Action.OFF}, Verdict.WARN, False),  # agreement needs both
        ([f("a", WARN, ANNA)], {"b": Action.BLOCK}, Verdict.WARN, False),  # actions of other rules do nothing
    ],
)
def test_decision_table(findings, actions, verdict, escalated):
    decision = decide(findings, actions)
    assert decision.verdict == verdict
    assert decision.escalated == escalated


def test_findings_are_ordered_most_serious_first_and_keep_their_text():
    decision = decide([f("a", INFO, ANNA), f("b", BLOCK, ANNA), f("c", WARN)])
    assert [x.severity for x in decision.findings] == [BLOCK, WARN, INFO]
    assert decision.reasons == ["b says block", "c says warn"]


def test_action_replaces_the_severity_in_the_reported_findings():
    (finding,) = decide([f("external-recipient", INFO, ANNA)], {"external-recipient": Action.BLOCK}).findings
    assert finding.severity == BLOCK
    assert finding.to_json() == {
        "rule": "external-recipient",
        "severity": "block",
        "message": "external-recipient says info",
        "recipient": ANNA,
        "suggestion": None,
        "evidence": None,
    }


def test_decide_does_not_change_its_input():
    findings = [f("a", WARN, ANNA), f("b", WARN, ANNA)]
    copy = list(findings)
    decide(findings, {"a": Action.HOLD})
    assert findings == copy


# ---- invariants -------------------------------------------------------------------------------

_rules = st.sampled_from(["a", "b", "c", "external-recipient", *sorted(CORROBORATING_INFO)])
_recipients = st.sampled_from([None, ANNA, BOB, "carl@x.example"])
_findings = st.builds(f, _rules, st.sampled_from(list(Severity)), _recipients)
_actions = st.dictionaries(_rules, st.sampled_from(list(Action)), max_size=3)


@given(before=st.lists(_findings, max_size=8), more=st.lists(_findings, min_size=1, max_size=5), actions=_actions)
def test_more_findings_never_lower_the_verdict(before, more, actions):
    assert decide(before + more, actions).verdict >= decide(before, actions).verdict


@given(before=st.lists(_findings, max_size=8), more=st.lists(_findings, max_size=5), actions=_actions)
def test_order_of_findings_does_not_matter(before, more, actions):
    assert decide(before + more, actions).verdict == decide(more + before, actions).verdict


@given(
    warn=st.builds(f, _rules, st.just(WARN), _recipients),
    infos=st.lists(st.builds(f, st.just("external-recipient"), st.just(INFO), _recipients), max_size=5),
)
def test_a_single_warn_never_holds(warn, infos):
    # one weak signal, however many routine INFO findings come with it
    assert decide([warn, *infos]).verdict == Verdict.WARN


@given(findings=st.lists(_findings, max_size=8))
def test_the_verdict_is_at_least_the_worst_severity(findings):
    worst = max((x.severity for x in findings), default=INFO)
    assert decide(findings).verdict >= Verdict(int(worst))
    assert decide(findings).verdict <= max(Verdict(int(worst)), Verdict.HOLD)  # escalation stops at HOLD
