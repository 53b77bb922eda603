"""Benchmark analysis (not a test): why misdirect cases are missed and routine mail is held.

Replays ../shared/corpus/misdirect in process, as ``misdirect-score --replay`` does (learn
``learn/``, then day by day: check that day's cases, learn its real mail as sent), and for every
missed swap and every false hold names one cause, first match wins:

misses
  intended-unknown       the intended contact was never written to nor heard from
  intended-co-only       seen only as a co-recipient of others' mail
  wrong-new              the swapped-in address was never written to nor heard from (typo check only)
  not-a-twin             the intended contact is not among the swapped-in one's confusables
  no-content-margin      nothing in the message favours the intended contact (recency at most)
  below-threshold        a margin, but under the fitted hold (the largest signals are named)
false holds
  the rule, and for namesake the signals that made the margin (typo, dormant, reply, fit:...)

    .venv/bin/python bench/misdirect_causes.py [DIR...] [--cases out.tsv]

``--received`` also learns the user's received mail dated after the split (from the Enron
mailbox), before each case everything that arrived earlier: the benchmark learns only what came
before its split.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import email.utils
import sys
import tempfile
import time
from pathlib import Path

from sendguard.config import schema
from sendguard.decide.check import check_message, envelope_for
from sendguard.decide.train import Simulator, refresh
from sendguard.history import judgement as jm
from sendguard.history.fit import FitModel, MessageView, organization, written_at
from sendguard.history.learn import Learner
from sendguard.history.store import open_for_write, open_read_only
from sendguard.mail.message import OutgoingMessage
from sendguard.model import Severity, Verdict
from sendguard.rules.context import CheckContext

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "misdirect"
DETAIL = False
RECORD = False
RECEIVED = False
SIGNALS = ("co", "words", "greeting", "thread", "mention", "quoted", "org", "topic_org")


def day_of(raw: bytes) -> str:
    msg = email.message_from_bytes(raw)
    try:
        when = email.utils.parsedate_to_datetime(msg["Date"])
        return when.astimezone(datetime.UTC).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return "0000-00-00"


def when_of(raw: bytes) -> float:
    try:
        return email.utils.parsedate_to_datetime(email.message_from_bytes(raw)["Date"]).timestamp()
    except (TypeError, ValueError, IndexError):
        return 0.0


def later_received(d: Path, start: float) -> list[tuple[float, bytes]]:
    """The user's received mail dated from the first case on (the benchmark learns only what came before)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import make_misdirect

    _, received = make_misdirect._mailbox(ROOT.parent / "shared" / "corpus" / "enron" / d.name)
    return [(t, raw) for t, raw in received if t >= start]


def learn(state: Path, config: schema.Config, raws: list[bytes]) -> None:
    db = open_for_write(state)
    own = list(config.identity.addresses)
    with Learner(db, own, config.organization.domains, Simulator(db, config, own=own).examples) as learner:
        for raw in raws:
            learner.add(raw)
    refresh(db, config)
    db.close()


def signals(twin: object, actual: object) -> str:
    """The fit signals where the twin beats the recipient, largest first."""
    diffs = []
    for name in SIGNALS:
        d = float(getattr(twin, name)) - float(getattr(actual, name))
        if d > 0.05:
            diffs.append((d, name))
    age = float(actual.age) - float(twin.age)
    if age > 0.5:
        diffs.append((age, "recency"))
    return "+".join(n for _, n in sorted(diffs, reverse=True)[:2]) or "none"


def miss_cause(store: object, config: schema.Config, raw: bytes, intended: str, wrong: str) -> str:
    s = store  # a HistoryStore
    i = s.contact(intended)  # type: ignore[attr-defined]
    w = s.contact(wrong)  # type: ignore[attr-defined]
    if i is None or (not i.sent and not i.received and not i.seen):
        return "intended-unknown"
    if not i.sent and not i.received:
        return "intended-co-only"
    if w is None or not (w.sent or w.received):
        return "wrong-new"
    message = OutgoingMessage(raw)
    envelope = envelope_for(message, (), False)
    own = {a.lower() for a in config.identity.addresses}
    recipients = [a for a in envelope if a not in own]
    context = CheckContext(config, envelope, 0.0, None)  # type: ignore[arg-type]
    names = {a.addr: a.name for a in message.header_recipients}
    twins = jm.known_twins(s, wrong, names.get(wrong, ""), recipients, context.is_own)
    if not any(c.addr == intended for c, _ in twins):
        return "not-a-twin"
    model = FitModel(
        s,  # type: ignore[arg-type]
        MessageView(message, recipients),
        org_of=lambda a: organization(context, a),
        when=written_at(message, time.time()),
    )
    base, fits, compared = jm.compare(model, w, twins, recipients)
    for m, fit, _ in compared:
        if fit.contact.addr == intended:
            if DETAIL:
                print(
                    f"  {intended} over {wrong}: margin {m:.2f} content {fit.content_margin_over(base):.2f}\n    I {fit}\n    W {base}\n    n={len(recipients)}",
                    file=sys.stderr,
                )
            if m <= jm.NO_MARGIN:
                return "no-content-margin"
            return f"below-threshold:{signals(fit, base)}"
    return "not-a-twin"


def hold_cause(result: object) -> str:
    findings = [f for f in result.decision.findings if f.severity >= Severity.WARN]  # type: ignore[attr-defined]
    causes = []
    for f in findings:
        if f.rule != "namesake":
            causes.append(f.rule)
        elif "typo away" in f.message:
            causes.append("namesake:typo")
        elif "only once" in f.message or "only twice" in f.message:
            causes.append("namesake:dormant")
        elif "replies to" in f.message:
            causes.append("namesake:reply")
        else:
            why = f.message.rpartition("(")[2].rstrip(").")
            causes.append(f"namesake:fit({why})")
    if result.decision.escalated:  # type: ignore[attr-defined]
        causes = ["escalated:" + "+".join(sorted({f.rule for f in findings}))]
        if DETAIL:
            print("   ", [f.message for f in findings], file=sys.stderr)
    return ";".join(sorted(set(causes)))


FEATURES: list[dict[str, object]] = []
"""With --features: every (recipient, twin) pair judged, in the simulation and in the replay."""
TAG: dict[str, object] = {}


def pair_rows(
    store: object, message: object, recipients: list[str], context: object, when: float
) -> list[dict[str, object]]:
    """The fit of every known twin of every recipient, as numbers (what a model may learn from)."""
    s = store
    model = FitModel(s, MessageView(message, recipients), org_of=lambda a: organization(context, a), when=when)  # type: ignore[arg-type]
    names = {a.addr: a.name for a in message.header_recipients}  # type: ignore[attr-defined]
    rows = []
    for addr in recipients:
        actual = s.contact(addr)  # type: ignore[attr-defined]
        if actual is None or not (actual.sent or actual.received):
            continue
        twins = jm.known_twins(s, addr, names.get(addr, ""), recipients, context.is_own)  # type: ignore[attr-defined]
        if not twins:
            continue
        base, fits, compared = jm.compare(model, actual, twins, recipients)
        for m, fit, why in compared:
            row: dict[str, object] = {
                "rcpt": addr,
                "twin": fit.contact.addr,
                "why": why,
                "margin": m,
                "n": len(recipients),
            }
            for side, f in (("t", fit), ("a", base)):
                for name in (*SIGNALS, "age"):
                    row[f"{side}_{name}"] = float(getattr(f, name))
                for name in ("sent", "received", "seen", "words"):
                    row[f"{side}_n_{name}"] = getattr(f.contact, name)
                row[f"{side}_org_of"] = model.org_of(f.contact.addr)
            row["content"] = fit.content_margin_over(base)
            row["topic_only"] = jm.topic_only(fit, base)
            rows.append(row)
    return rows


def _recording_judge(self: Simulator, store: object, message: object, envelope: list[str], when: float) -> list[object]:
    kind = "sim-sent" if TAG.get("first") else "sim-swap"
    TAG["first"] = False
    recipients = [a for a in envelope if a not in self.own]
    context = CheckContext(self.config, envelope, 0.0, None)  # type: ignore[arg-type]
    FEATURES.append({**TAG, "kind": kind, "pairs": pair_rows(store, message, recipients, context, when)})
    return ORIGINAL_JUDGE(self, store, message, envelope, when)


def _recording_examples(self: Simulator, observed: object, store: object = None) -> str:
    TAG["first"] = True
    TAG["original"] = [a for a, _ in observed.recipients]  # type: ignore[attr-defined]
    return ORIGINAL_EXAMPLES(self, observed, store)


ORIGINAL_JUDGE = Simulator.judge
ORIGINAL_EXAMPLES = Simulator.examples


def replay(d: Path, out: list[dict[str, str]]) -> None:
    config = schema.load(d / "config.toml", required=True)
    TAG.clear()
    TAG["user"] = d.name
    TAG["phase"] = "initial"
    rows = [line.split("\t") for line in (d / "cases.tsv").read_text().splitlines()[1:]]
    with tempfile.TemporaryDirectory(prefix="sg-causes-") as tmp:
        state = Path(tmp)
        initial = [
            p.read_bytes()
            for sub in ("sent", "received")
            for p in sorted((d / "learn" / sub).rglob("*"))
            if p.is_file()
        ]
        learn(state, config, initial)
        TAG["phase"] = "replay"
        days: dict[str, list[tuple[list[str], bytes]]] = collections.defaultdict(list)
        for r in rows:
            raw = (d / "cases" / r[0]).read_bytes()
            days[day_of(raw)].append((r, raw))
        incoming: list[tuple[float, bytes]] = []
        if RECEIVED:
            start = min((when_of(raw) for day in days.values() for _, raw in day), default=0.0)
            incoming = later_received(d, start)
        for day in sorted(days):
            if incoming:
                days[day].sort(key=lambda item: when_of(item[1]))
            for r, raw in days[day]:
                if incoming:
                    now = when_of(raw)
                    arrived = [m for t, m in incoming if t < now]
                    if arrived:
                        incoming = [(t, m) for t, m in incoming if t >= now]
                        learn(state, config, arrived)
                message = OutgoingMessage(raw)
                result = check_message(message, config, envelope=envelope_for(message, (), False), state_dir=state)
                held = result.decision.verdict >= Verdict.HOLD
                f, label, kind, _, intended, wrong, crossing = r
                cause = ""
                if label == "ok" and held:
                    cause = hold_cause(result)
                    if DETAIL:
                        print(f"  held for nothing: {d.name} {f}", file=sys.stderr)
                        for x in result.decision.findings:
                            if x.severity >= Severity.WARN:
                                print(f"    {x.rule}: {x.message} [{x.evidence}]", file=sys.stderr)
                elif label != "ok" and not held:
                    store = open_read_only(state)
                    cause = miss_cause(store, config, raw, intended, wrong)
                elif label != "ok":
                    cause = hold_cause(result)
                if RECORD:
                    store = open_read_only(state)
                    recipients = [a for a in result.envelope if a not in {x.lower() for x in config.identity.addresses}]
                    context = CheckContext(config, result.envelope, 0.0, None)  # type: ignore[arg-type]
                    other = [
                        f
                        for f in result.decision.findings
                        if f.severity >= Severity.WARN
                        and not (f.rule == "namesake" and "fits this message" in f.message)
                    ]
                    FEATURES.append(
                        {
                            "user": d.name,
                            "file": f,
                            "kind": label,
                            "crossing": crossing,
                            "intended": intended,
                            "wrong": wrong,
                            "held": held,
                            "other": [(x.rule, int(x.severity), x.message[:80]) for x in other],
                            "pairs": pair_rows(store, message, recipients, context, written_at(message, time.time())),
                        }
                    )
                out.append(
                    dict(
                        user=d.name, file=f, label=label, kind=kind, crossing=crossing, held=str(int(held)), cause=cause
                    )
                )
            ok = [raw for r, raw in days[day] if r[1] == "ok"]
            if ok:
                learn(state, config, ok)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="*", type=Path)
    ap.add_argument("--cases", type=Path, help="write every case and its cause here (TSV)")
    ap.add_argument(
        "--detail", action="store_true", help="print the fits of each missed swap, and the findings of each false hold"
    )
    ap.add_argument(
        "--received",
        action="store_true",
        help="also learn the user's received mail as it arrives (from the Enron mailbox, before each case)",
    )
    ap.add_argument("--features", type=Path, help="write every judged (recipient, twin) pair here (JSON lines)")
    a = ap.parse_args()
    global DETAIL, RECORD, RECEIVED
    DETAIL = a.detail
    RECEIVED = a.received
    if a.features:
        RECORD = True
        Simulator.judge = _recording_judge  # type: ignore[method-assign]
        Simulator.examples = _recording_examples  # type: ignore[method-assign]
    dirs = a.dirs or sorted(p for p in CORPUS.iterdir() if p.is_dir())
    out: list[dict[str, str]] = []
    for d in dirs:
        replay(d, out)
    ok = [c for c in out if c["label"] == "ok"]
    mis = [c for c in out if c["label"] != "ok"]
    cross = [c for c in mis if c["crossing"] != "same-domain"]
    fh = [c for c in ok if c["held"] == "1"]
    caught = [c for c in mis if c["held"] == "1"]
    print(
        f"recall {len(caught)}/{len(mis)} = {len(caught) / max(len(mis), 1):.3f}, crossing "
        f"{sum(c['held'] == '1' for c in cross)}/{len(cross)}, false holds {len(fh)}/{len(ok)}"
    )
    print("\nmisses by cause (crossing in brackets)")
    misses = [c for c in mis if c["held"] == "0"]
    for cause, n in collections.Counter(c["cause"] for c in misses).most_common():
        x = sum(c["cause"] == cause and c["crossing"] != "same-domain" for c in misses)
        print(f"  {n:4d} ({x}) {cause}")
    print("\ncaught by")
    for cause, n in collections.Counter(c["cause"] for c in caught).most_common():
        print(f"  {n:4d} {cause}")
    print("\nfalse holds by cause")
    for c in fh:
        print(f"  {c['user']} {c['file']} {c['cause']}")
    if a.features:
        import json

        with a.features.open("w") as fh_out:
            for row in FEATURES:
                fh_out.write(json.dumps(row) + "\n")
    if a.cases:
        with a.cases.open("w") as fh_out:
            keys = list(out[0])
            fh_out.write("\t".join(keys) + "\n")
            for c in out:
                fh_out.write("\t".join(c[k] for k in keys) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
