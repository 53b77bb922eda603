"""The false-hold budget covers the other reasons to hold about recipients (decide.train.choose,
decision step 4, and the send path applying what was fitted)."""

from __future__ import annotations

from sendguard.config.schema import parse
from sendguard.decide.decision import decide
from sendguard.decide.train import choose, fit
from sendguard.history import judgement as jm
from sendguard.history.store import open_for_write
from sendguard.model import Action, Finding, Severity, Verdict
from tests.support import history_fixtures as hf

A = "a@x.example"


def dormant(severity: Severity = Severity.HOLD) -> Finding:
    return Finding("namesake", severity, "written to once, long ago", A, evidence="dormant 200 days", kind="dormant")


def typo() -> list[Finding]:
    return [
        Finding("namesake", Severity.WARN, "a typo away", A, kind="typo"),
        Finding("first-time-recipient", Severity.INFO, "never written to", A),
    ]


def world(
    *, routine: list[list[Finding]], caught: list[list[Finding]], n_sent: int = 200, n_swaps: int = 200
) -> tuple[list[tuple[float, list[Finding]]], list[tuple[float, list[Finding]]]]:
    """Margins spread evenly (as sent 0..2, swaps 1..5); the given findings on the first messages."""
    sent = [(2.0 * i / n_sent, routine[i] if i < len(routine) else []) for i in range(n_sent)]
    swaps = [(1.0 + 4.0 * i / n_swaps, caught[i] if i < len(caught) else []) for i in range(n_swaps)]
    return sent, swaps


def test_a_reason_that_holds_routine_mail_and_catches_nothing_only_warns():
    sent, swaps = world(routine=[[dormant()]] * 3, caught=[])
    before = choose(sent, swaps, 0.01, 1.0, {})
    assert before.demoted == {"namesake:dormant": {"held": 3, "caught": 0}}
    # the threshold is the margin's own: demoting frees nothing for it, it only removes holds
    assert before.hold == choose([(m, []) for m, _ in sent], swaps, 0.01, 1.0, {}).hold
    assert before.false_holds == sum(m >= before.hold for m, _ in sent)


def test_the_typo_check_is_never_demoted_as_the_simulation_cannot_see_it_catch():
    # simulated mistakes pick contacts written to, never a mistyped address: zero catches by design
    sent, swaps = world(routine=[typo(), typo(), typo()], caught=[])
    assert choose(sent, swaps, 0.01, 1.0, {}).demoted == {}
    assert decide(typo()).verdict == Verdict.HOLD


def test_a_reason_that_catches_more_than_the_margin_would_keeps_holding():
    sent, swaps = world(routine=[[dormant()]], caught=[[dormant()]] * 40)
    chosen = choose(sent, swaps, 0.01, 1.0, {})
    assert chosen.demoted == {}
    assert chosen.caught == sum(m >= chosen.hold for m, _ in swaps[40:]) + 40


def test_a_reason_is_weighed_against_what_its_holds_would_buy_at_the_margin():
    # many simulated mistakes lie just under the margin's threshold: one more routine hold in its
    # budget would catch 20 of them, the dormant reason catches 2 for its one routine hold
    sent = [(10.0 * i / 200, [dormant()] if i == 0 else []) for i in range(200)]
    near = choose([(m, []) for m, _ in sent], [], 0.01, 1.0, {}).hold
    swaps = [(near - 0.01 - 0.005 * i, []) for i in range(20)] + [(0.0, [dormant()])] * 2
    chosen = choose(sent, swaps, 0.01, 1.0, {})
    assert chosen.demoted == {"namesake:dormant": {"held": 1, "caught": 2}}
    assert chosen.hold == near
    # with the mistakes far from the threshold the same reason earns its hold
    far = [(0.0, [])] * 20 + [(0.0, [dormant()])] * 2
    assert choose(sent, far, 0.01, 1.0, {}).demoted == {}


def test_two_reasons_that_hold_only_together_are_weighed_as_one():
    crossing = Finding("namesake", Severity.WARN, "internal namesake", A, kind="crossing")
    inside = Finding("internal-to-outside", Severity.WARN, "internal topic", A)
    sent, swaps = world(routine=[[crossing, inside]] * 4, caught=[])
    chosen = choose(sent, swaps, 0.01, 1.0, {})
    assert len(chosen.demoted) == 1  # either one stops the agreement: one demotion is enough
    assert list(chosen.demoted.values()) == [{"held": 4, "caught": 0}]


def test_a_rule_whose_action_the_user_set_is_never_demoted():
    sent, swaps = world(routine=[[dormant()]] * 3, caught=[])
    assert choose(sent, swaps, 0.01, 1.0, {"namesake": Action.HOLD}).demoted == {}


def test_too_little_mail_keeps_every_reason(tmp_path):
    db = open_for_write(tmp_path)
    fitted = fit(db, hf.config())
    assert not fitted.fitted and fitted.demotions() == {}


def test_a_demoted_reason_warns_and_says_why():
    d = decide([dormant()], demoted={"namesake:dormant": "only warns for you"})
    assert d.verdict == Verdict.WARN
    assert d.findings[0].evidence == "dormant 200 days; only warns for you"
    assert d.findings[0].to_json()["severity"] == "warn" and "kind" not in d.findings[0].to_json()


def test_a_demoted_reason_no_longer_corroborates_but_others_still_hold():
    assert decide(typo()).verdict == Verdict.HOLD
    assert decide(typo(), demoted={"namesake:typo": "x"}).verdict == Verdict.WARN
    greeting = Finding("greeting-mismatch", Severity.WARN, "greets Bernd", A)
    assert decide([*typo(), greeting], demoted={"namesake:typo": "x"}).verdict == Verdict.HOLD
    # another reason of the same rule is not touched
    assert decide([dormant()], demoted={"namesake:typo": "x"}).verdict == Verdict.HOLD


def test_the_send_path_applies_the_stored_demotion(tmp_path):
    from tests.unit.test_rules_recipients import DORMANT, forwarded_contract, run

    state = hf.learned_state(tmp_path)
    hf.learn_into(state, [hf.mail([DORMANT], "Parkplatz", "Hallo Bernhard,\n\nder Parkplatz ist frei.\n\nPetra", n=0)])
    assert run(state, forwarded_contract(200)).verdict == Verdict.HOLD
    judgement = jm.Judgement(
        1.0, 0.75, True, {"samples": 300, "swaps": 250, "demoted": {"namesake:dormant": {"held": 4, "caught": 1}}}
    )
    db = open_for_write(state)
    with db:
        db.execute("INSERT OR REPLACE INTO meta VALUES ('judgement', ?)", (judgement.dumps(),))
    db.close()
    decision = run(state, forwarded_contract(200))
    assert decision.verdict == Verdict.WARN
    (found,) = [f for f in decision.findings if f.rule == "namesake"]
    assert found.recipient == DORMANT and found.severity == Severity.WARN
    why = found.to_json()["evidence"]
    assert "only warns for you" in why and "held 4 of 300" in why and "caught 1 of 250" in why
    # a user who set the rule's action keeps it as set
    config = parse(hf.CONFIG_TEXT + '\n[rules.namesake]\naction = "hold"\n')
    assert run(state, forwarded_contract(200), config).verdict == Verdict.HOLD


def test_the_operating_point_names_what_only_warns():
    report = {"samples": 300, "swaps": 200, "demoted": {"namesake:typo": {"held": 2, "caught": 0}}}
    line = jm.Judgement(2.0, 1.75, True, report).operating_point()
    assert "\n" not in line and "only warn" in line and "[namesake:typo] (held 2, caught 0)" in line
    assert "only warn" not in jm.Judgement(2.0, 1.75, True, {"samples": 300}).operating_point()


def test_the_operating_point_says_why_it_passes_the_budget():
    sent, swaps = world(routine=[[dormant()]] * 5, caught=[[dormant()]] * 60)
    chosen = choose(sent, swaps, 0.01, 1.0, {})
    assert chosen.demoted == {} and chosen.kept == {"namesake:dormant": {"held": 5, "caught": 60}}
    over = {"samples": 200, "swaps": 200, "budget": 0.01, "false_holds": 0.035, "kept": chosen.kept}
    line = jm.Judgement(chosen.hold, chosen.hold - 0.25, True, over).operating_point()
    assert "over the budget" in line and "[namesake:dormant] (held 5, caught 60)" in line
    within = {**over, "false_holds": 0.01}
    assert "over the budget" not in jm.Judgement(2.0, 1.75, True, within).operating_point()


def test_samples_judged_by_an_older_version_are_judged_again_and_kept(tmp_path):
    import json

    from sendguard.decide.train import VERSION, refresh, simulate

    state = hf.learned_state(tmp_path)  # learned without simulation: samples, no examples
    cfg = hf.config()
    db = open_for_write(state)
    sent, _ = simulate(db, cfg)
    kept = [json.loads(d) for (d,) in db.execute("SELECT data FROM examples") if d]
    assert sent and len(kept) == len(sent) and all(k["v"] == VERSION for k in kept)
    with db:
        db.execute("UPDATE examples SET data = ?", ('{"v": 3, "sent": 9.0, "swaps": []}',))
    again, _ = simulate(db, cfg)
    assert [m for m, _ in again] == [m for m, _ in sent]
    # a judgement fitted by an older version is refitted at the next learn, then left alone
    fitted = refresh(db, cfg)
    assert fitted is not None and refresh(db, cfg) is None
    fitted.report["version"] = VERSION - 1
    with db:
        db.execute("INSERT OR REPLACE INTO meta VALUES ('judgement', ?)", (fitted.dumps(),))
    assert refresh(db, cfg) is not None
    assert refresh(db, cfg) is None
    db.close()


def test_demotion_reads_findings_given_once():
    # decide takes any iterable: the demotion step must read the findings the actions step read
    decision = decide(iter([dormant()]), demoted={"namesake:typo": "x"})
    assert decision.verdict == Verdict.HOLD and len(decision.findings) == 1
