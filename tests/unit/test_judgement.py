"""The judgement: fitted per user at learn time, scored on the send path (history.judgement, train)."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sendguard.config.schema import parse
from sendguard.decide.check import check_message, envelope_for
from sendguard.decide.train import Simulator, refresh, threshold
from sendguard.history import judgement as jm
from sendguard.history.learn import Learner
from sendguard.history.store import HistoryStore, open_for_write, open_read_only
from sendguard.history.twins import confusables
from sendguard.mail.message import OutgoingMessage
from sendguard.model import Verdict
from tests.support import history_fixtures as hf
from tests.support import judgement_world as jw

NOTE = (
    "Hallo Thomas,\n\nzur Umstrukturierung: die Personalkosten der Abteilung müssen sinken, "
    "zwei Stellen fallen weg. Budget und Gehälter besprechen wir morgen.\n\nGruß\nPetra"
)


def learn(state, cfg, raws, fit=True):  # type: ignore[no-untyped-def]
    db = open_for_write(state)
    simulate = Simulator(db, cfg).examples if fit else None
    with Learner(db, cfg.identity.addresses, cfg.organization.domains, simulate) as learner:
        for raw in raws:
            learner.add(raw)
    fitted = refresh(db, cfg) if fit else None
    db.close()
    return fitted


def check(state, cfg, raw):  # type: ignore[no-untyped-def]
    message = OutgoingMessage(raw)
    return check_message(
        message, cfg, envelope=envelope_for(message, (), False), state_dir=state, now=1_800_000_000.0
    ).decision


def shifted(raw: bytes, k: int) -> bytes:
    """The same mail ``k`` years later, under its own Message-ID: more volume of the same pattern."""
    import email
    import email.utils

    msg = email.message_from_bytes(raw)
    stamp = email.utils.parsedate_to_datetime(msg["Date"]).timestamp() - k * 365 * 86400
    msg.replace_header("Date", email.utils.formatdate(stamp))
    msg.replace_header("Message-ID", f"<k{k}.{msg['Message-ID'].strip('<>')}>")
    return msg.as_bytes()


@pytest.mark.parametrize("volume", [1, 3])
def test_the_story_alone_is_held_with_the_boss_suggested(tmp_path, volume):
    """The internal note to the client namesake alone, no Cc: held, the boss suggested (any volume)."""
    cfg = hf.config()
    state = tmp_path / "state"
    learn(state, cfg, [shifted(raw, k) for k in range(volume) for raw in hf.history_messages()])
    decision = check(state, cfg, hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", NOTE, n=100))
    assert decision.verdict >= Verdict.HOLD
    assert any(f.rule == "namesake" and f.suggestion == hf.BOSS for f in decision.findings)
    to_boss = check(state, cfg, hf.mail([hf.BOSS], "Personalkosten Abteilung", NOTE, n=100))
    assert to_boss.verdict <= Verdict.WARN


NAMES = st.sampled_from(["anna", "markus", "jana", "william", "olga", "thomas"])
LASTS = st.sampled_from(["berger", "brandt", "keller", "smith", "ivanova"])


@settings(max_examples=25, deadline=None)
@given(first=NAMES, last=LASTS, other_domain=st.booleans(), form=st.sampled_from(["same", "initial", "short"]))
def test_two_addresses_of_one_person_are_never_twins(tmp_path_factory, first, last, other_domain, form):
    """The same mailbox elsewhere, an initial, a short form: one person, never "did you mean"."""
    tmp = tmp_path_factory.mktemp("same")
    cfg = parse('[identity]\naddresses = ["me@home.example"]\n')
    short = {"william": "bill", "thomas": "tom"}.get(first, first)
    local = {"same": f"{first}.{last}", "initial": f"{first[0]}.{last}", "short": f"{short}.{last}"}[form]
    a = f"{first}.{last}@home.example"
    b = f"{local}@{'private.example' if other_domain else 'home.example'}"
    if a == b:
        return
    stranger = f"{first}.zzzyx@home.example"
    raws = [jw.mail([x], "hello", "text", f"m{i}-{x}", 1.7e9 + i) for i, x in enumerate([a, b, stranger] * 2)]
    learn(tmp, cfg, raws, fit=False)
    store = open_read_only(tmp)
    twins = {c.addr for c, _ in confusables(store, a)}
    assert b not in twins
    assert stranger in twins  # a namesake who is someone else still is one


@pytest.mark.parametrize("volume", [1, 3])
def test_the_fit_meets_the_budget_at_any_volume(tmp_path, volume):
    """Three times the mail of the same kind: the fitted threshold still keeps to the budget."""
    cfg = parse(jw.CONFIG_TEXT + "[judgement]\nfalse_holds = 0.02\n")
    raws = jw.messages(jw.world(teams=10), 250 * volume)
    fitted = learn(tmp_path, cfg, raws)
    assert fitted is not None and fitted.fitted
    assert fitted.report["false_holds"] <= 0.02


def test_the_fit_reports_what_other_budgets_would_hold(tmp_path):
    """Beside its own budget, the fit says what the others would hold on the same simulated mail."""
    from sendguard.decide.train import CURVE

    cfg = parse(jw.CONFIG_TEXT + "[judgement]\nfalse_holds = 0.02\n")
    fitted = learn(tmp_path, cfg, jw.messages(jw.world(teams=10), 250))
    assert fitted is not None and fitted.fitted
    curve = fitted.report["curve"]
    assert [b for b, _, _ in curve] == [b for b in CURVE if b != 0.02]
    slack = 1 / fitted.report["samples"]  # the threshold may hold one tie more than the share
    assert all(fh <= b + slack for b, fh, _ in curve)
    recalls = [rec for _, _, rec in curve]
    assert recalls == sorted(recalls) and recalls[0] < recalls[-1]  # a larger budget buys more catches
    line = fitted.trade_off()
    assert line.startswith("at other budgets ([judgement] false_holds)") and "\n" not in line
    assert f"0.5%: {curve[0][1]:.1%}, {curve[0][2]:.1%}" in line


def test_no_trade_off_is_reported_before_a_fit():
    assert jm.Judgement(1.0, 0.75, False, {"why": "too little mail"}).trade_off() == ""
    assert jm.Judgement(2.0, 1.75, True, {"samples": 300}).trade_off() == ""  # fitted before the curve


def test_the_fitted_threshold_meets_the_budget_on_new_mail(tmp_path):
    """Fitted on the older mail, the hold threshold keeps routine newer mail under the budget."""
    cfg = parse(jw.CONFIG_TEXT + "[judgement]\nfalse_holds = 0.02\n")
    teams = jw.world(teams=10)
    raws = jw.messages(teams, 700)
    fitted = learn(tmp_path, cfg, raws[:500])
    assert fitted is not None and fitted.fitted
    assert fitted.report["false_holds"] <= 0.02
    assert fitted.hold >= 1.0  # never more lenient than the rule's own margin
    held = sum(check(tmp_path, cfg, raw).verdict >= Verdict.HOLD for raw in raws[500:])
    assert held / 200 <= 0.02 * 2  # held-out mail: the budget, with room for chance


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=20, max_size=300), st.sampled_from([0.005, 0.01, 0.05, 0.2]))
@example([0.0] * 37 + [2.0] * 4, 0.05)  # ties: smoothing put the threshold just below four equal scores
def test_the_threshold_leaves_about_the_budget_above_it(scores, share):
    """The smoothed threshold never leaves much more than the budget (plus one score) above it."""
    t = threshold(scores, share)
    above = sum(s >= t for s in scores)
    assert above <= share * len(scores) + 1 + 0.1 * len(scores) * share


def test_the_stored_judgement_round_trips_and_survives_damage():
    j = jm.Judgement(2.5, 2.25, True, {"budget": 0.01})
    back = jm.loads(j.dumps(), 1.0, 0.75)
    assert (back.hold, back.warn, back.fitted) == (2.5, 2.25, True)
    assert jm.loads("{not json", 1.0, 0.75).hold == 1.0
    assert jm.loads("", 1.0, 0.75).fitted is False


def test_one_mail_filed_twice_under_two_message_ids_is_learned_once(tmp_path):
    cfg = parse(jw.CONFIG_TEXT)
    raw = jw.mail(["anna.berger@home.example"], "budget", "text", "one", 1.7e9)
    copy = raw.replace(b"<one@", b"<other@")
    db = open_for_write(tmp_path)
    with Learner(db, cfg.identity.addresses, cfg.organization.domains) as learner:
        assert learner.add(raw) and not learner.add(copy)
    with Learner(db, cfg.identity.addresses, cfg.organization.domains) as learner:
        assert not learner.add(copy)
    db.close()
    assert open_read_only(tmp_path).contact("anna.berger@home.example").sent == 1


def test_an_interrupted_learn_keeps_what_it_read_and_simulates_nothing(tmp_path):
    cfg = parse(jw.CONFIG_TEXT)
    raws = jw.messages(jw.world(), 60)
    db = open_for_write(tmp_path)
    calls = []
    with pytest.raises(KeyboardInterrupt):
        with Learner(db, cfg.identity.addresses, cfg.organization.domains, lambda o: calls.append(o) or "") as learner:
            for raw in raws:
                learner.add(raw)
            raise KeyboardInterrupt
    db.close()
    assert calls == []
    assert open_read_only(tmp_path).meta("messages") == 60


def test_a_simulation_interrupted_keeps_every_message_learned_before_it(tmp_path):
    """The tail's writes share a transaction between simulated messages: one interrupted keeps
    in the history every message the simulation had been shown by then, and none after."""
    cfg = parse(jw.CONFIG_TEXT)
    raws = jw.messages(jw.world(), 60)
    db = open_for_write(tmp_path)
    seen: list[int] = []

    def simulate(observed):  # type: ignore[no-untyped-def]
        seen.append(HistoryStore(db).meta("messages"))
        if len(seen) == 20:
            raise KeyboardInterrupt
        return ""

    with pytest.raises(KeyboardInterrupt):
        with Learner(db, cfg.identity.addresses, cfg.organization.domains, simulate) as learner:
            for raw in raws:
                learner.add(raw)
    assert not db.in_transaction
    db.close()
    assert seen == sorted(seen) and seen[0] < seen[-1] < 60
    assert open_read_only(tmp_path).meta("messages") == seen[-1]


def test_the_simulation_judges_alike_with_its_lookups_kept(tmp_path):
    """The learn-time simulation keeps the history's lookups across one message's judgements (as
    sent, and each swap), and carries its counts over to the next message's store: every
    judgement is what a store asking sqlite each time gives."""
    from sendguard.history.learn import YOUNG

    cfg = parse(jw.CONFIG_TEXT)
    db = open_for_write(tmp_path)
    kept, asking = Simulator(db, cfg, seed=3), Simulator(db, cfg, seed=3)  # the same draws, in step
    pairs = []

    def examples(observed):  # type: ignore[no-untyped-def]
        judged = kept.examples(observed)
        pairs.append((judged, asking.examples(observed, HistoryStore(db))))
        return judged

    with Learner(db, cfg.identity.addresses, cfg.organization.domains, examples) as learner:
        for raw in jw.messages(jw.world(teams=10), 150):
            learner.add(raw)
    db.close()
    swaps = [s for judged, _ in pairs if judged not in ("", YOUNG) for s in json.loads(judged)["swaps"]]
    assert len(swaps) >= 50 and any(margin > 0 for margin, _ in swaps)
    assert [judged for judged, _ in pairs] == [plain for _, plain in pairs]
