"""Benchmark (not a test): the check itself, in one process — CPU per message, per rule, and msg/s.

Two workloads, each against a learned history:

* ``milter``: what bench_milter.py sends. Eight senders with about 120 learned messages each
  (``Policy.learn``), 10 kB mail to people in their history, judged by ``Policy.judge`` (the
  milter's worker does exactly this), senders alternating.
* ``corpus``: a misdirection benchmark folder of the shared corpus (default buy-r, about 1,100
  learned messages), its cases checked with ``check_message`` as ``sendguard check`` does; with
  ``--pad`` each case's body is extended to that many bytes with prose from other cases, so
  the content rules and the recipient model read a 10 kB body of real words.
* ``learning``: the milter workload in rounds of 200 (``--rounds``), each sender's messages of a
  round learned after it as a milter's worker learns them (``Policy.learn_many``): per round the
  CPU per check, per message learned, and per carry-over of a store's kept counts
  (``HistoryStore.carry``, once per sender and round). Not part of the default run.
* ``service``: a misdirection folder (``--dir``) in service: its history learned, then each case
  checked right after the case before was learned (as the resident checker and the milter's
  workers learn what they let through), and the same case against a copy of the history that
  learns nothing, alternating per case, ``--rounds`` passes. Not part of the default run.

Times are CPU (``time.process_time``); each rule's ``check`` is timed by wrapping it, the rest
(parsing the message, the decision, the policy) is "outside rules". The first pass warms up
(imports, compiled patterns, the history's memo) and is not counted.

    .venv/bin/python bench/bench_check.py                      # both workloads
    .venv/bin/python bench/bench_check.py milter -n 400
    .venv/bin/python bench/bench_check.py corpus --dir ../shared/corpus/misdirect/grigsby-m
    .venv/bin/python bench/bench_check.py milter --profile     # cProfile, top 30 by own time
    .venv/bin/python bench/bench_check.py learning --rounds 6
    .venv/bin/python bench/bench_check.py service --rounds 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CORPUS = ROOT.parent / "shared" / "corpus" / "misdirect" / "buy-r"
clock = time.process_time
rule_cpu: dict[str, float] = defaultdict(float)


def time_rules() -> None:
    """Wrap every rule's ``check`` so its CPU time adds up in ``rule_cpu``."""
    from sendguard.decide import check as check_mod

    original = check_mod.load_rules

    def load_rules(skip: frozenset[str] = frozenset()) -> list[Any]:
        rules = original(skip)
        for rule in rules:
            inner = rule.check

            def timed(message: Any, context: Any, inner: Any = inner, rid: str = rule.id) -> Any:
                t = clock()
                try:
                    return inner(message, context)
                finally:
                    rule_cpu[rid] += clock() - t

            rule.check = timed  # type: ignore[method-assign]
        return rules

    check_mod.load_rules = load_rules  # type: ignore[assignment]


def milter_workload(tmp: Path, n: int) -> tuple[Any, list[Any]]:
    """(judge function, transactions): bench_milter's seeded senders and 10 kB messages."""
    import bench_milter

    from sendguard.config.schema import load
    from sendguard.milter.policy import Policy, Transaction

    state = tmp / "milter"
    config = tmp / "sendguard.toml"
    config.write_text(bench_milter.TEAM_CONFIG.format(hold="reject", state=state) + "learn = false\n")
    bench_milter.seed(config, state)
    policy = Policy(load(config, required=True), state)
    senders = bench_milter.SENDERS
    txs = []
    for i in range(n):
        s, k = i % len(senders), i // len(senders)
        sender = senders[s]
        c, cl = bench_milter.COLLEAGUES, bench_milter.CLIENTS
        to = [c[(s + k) % 12]] if k % 2 else [cl[(s + k) % 12], c[(s + k + 1) % 12]]
        txs.append(Transaction(sender, sender, to, bench_milter.message(sender, to, 1000 + i)))
    return policy.judge, txs


def learning_rounds(tmp: Path, rounds: int) -> None:
    """The milter workload judged in rounds of 200, each round's mail learned after it."""
    import bench_milter

    from sendguard.config.schema import load
    from sendguard.history.store import HistoryStore
    from sendguard.milter.policy import Policy, Transaction

    state = tmp / "milter"
    config = tmp / "sendguard.toml"
    config.write_text(bench_milter.TEAM_CONFIG.format(hold="reject", state=state))
    bench_milter.seed(config, state)
    policy = Policy(load(config, required=True), state)
    policy.to_learn = lambda *args: None  # learned below, per round, as a worker's batches
    carried = [0.0, 0]
    carry = HistoryStore.carry

    def timed_carry(store: HistoryStore, previous: HistoryStore) -> bool:
        t = clock()
        try:
            return carry(store, previous)
        finally:
            carried[0] += clock() - t
            carried[1] += 1

    HistoryStore.carry = timed_carry  # type: ignore[method-assign, assignment]
    senders, c, cl = bench_milter.SENDERS, bench_milter.COLLEAGUES, bench_milter.CLIENTS
    print(f"learning: rounds of 200 messages, {len(senders)} senders, each round learned after it")
    for r in range(rounds):
        batches: dict[str, list[bytes]] = defaultdict(list)
        checking = 0.0
        for i in range(200):
            s, k = i % len(senders), (200 * r + i) // len(senders)
            to = [c[(s + k) % 12]] if k % 2 else [cl[(s + k) % 12], c[(s + k + 1) % 12]]
            raw = bench_milter.message(senders[s], to, 5000 + 200 * r + i)
            t = clock()
            policy.judge(Transaction(senders[s], senders[s], to, raw))
            checking += clock() - t
            batches[senders[s]].append(raw)
        t = clock()
        for sender, raws in batches.items():
            policy.learn_many(sender, raws, [sender], [None] * len(raws), refit=False)
        learning = clock() - t
        print(
            f"  round {r}: check {checking / 200 * 1000:.2f} ms, learning {learning / 200 * 1000:.2f} ms per message; "
            f"carry-over {carried[0] / max(carried[1], 1) * 1000:.2f} ms each ({carried[1]})",
            flush=True,
        )
        carried[:] = [0.0, 0]


def learned_folder(tmp: Path, folder: Path) -> Path:
    """The folder's config, its learn/ mail learned by ``sendguard learn`` into a home of its own
    under ``tmp`` (this process's XDG directories point there from now on)."""
    env = dict(os.environ)
    for var in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        (tmp / var).mkdir()
        env[var] = os.environ[var] = str(tmp / var)
    cfg = folder / "config.toml"
    sendguard = str(Path(sys.executable).parent / "sendguard")
    learn = [sendguard, "--config", str(cfg), "learn", str(folder / "learn/sent"), str(folder / "learn/received")]
    subprocess.run(learn, env=env, check=True, capture_output=True)
    return cfg


def service_rounds(tmp: Path, folder: Path, passes: int) -> None:
    """A mailbox in service: each case checked right after the one before was learned (as the
    resident checker and the milter's workers learn every message they let through), and the
    same case checked against a copy of the history that learned nothing, alternating per case."""
    import shutil

    cfg = learned_folder(tmp, folder)
    from sendguard import paths
    from sendguard.config.schema import load
    from sendguard.decide.check import check_message, envelope_for
    from sendguard.history.learn import Learner
    from sendguard.history.store import open_for_write
    from sendguard.mail.message import OutgoingMessage

    config = load(cfg, required=True)
    learning = paths.state_dir()
    unchanged = tmp / "unchanged"
    shutil.copytree(learning, unchanged)
    raws = [f.read_bytes() for f in sorted((folder / "cases").rglob("*.eml"))]
    db = open_for_write(learning)
    cpu = {"unchanged": 0.0, "learning": 0.0, "learn": 0.0}
    counted = 0
    print(f"service: {folder.name}, {len(raws)} cases x {passes}, each learned after its check (one history)")
    for p in range(passes + 1):
        for i, raw in enumerate(raws):
            order = (unchanged, learning) if i % 2 else (learning, unchanged)
            spent = {}
            for state in order:
                message = OutgoingMessage(raw)
                t = clock()
                check_message(message, config, envelope=envelope_for(message, (), False), state_dir=state)
                spent[state] = clock() - t
            t = clock()
            with Learner(db, config.identity.addresses, config.organization.domains) as learner:
                learner.add(b"Message-ID: <service-%d-%d@bench.example>\n" % (p, i) + raw)
            if p:  # the first pass warms up: imports, patterns
                cpu["unchanged"] += spent[unchanged]
                cpu["learning"] += spent[learning]
                cpu["learn"] += clock() - t
                counted += 1
    db.close()
    per = {k: v / counted * 1000 for k, v in cpu.items()}
    print(
        f"  check against the unchanged history {per['unchanged']:.2f} ms, right after learning "
        f"{per['learning']:.2f} ms (+{per['learning'] - per['unchanged']:.2f}); learning {per['learn']:.2f} ms a message"
    )


def _body_split(raw: bytes) -> int:
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if i >= 0]
    return min(ends) if ends else len(raw)


def corpus_workload(tmp: Path, folder: Path, n: int, pad: int) -> tuple[Any, list[Any]]:
    """(check function, messages): the folder's history learned, its cases (padded) to check."""
    cfg = learned_folder(tmp, folder)
    from sendguard import paths
    from sendguard.config.schema import load
    from sendguard.decide.check import check_message, envelope_for
    from sendguard.mail.message import OutgoingMessage

    config = load(cfg, required=True)
    files = sorted((folder / "cases").rglob("*.eml"))
    raws = [f.read_bytes() for f in files]
    # Prose to pad with: the plain bodies of other cases (no quoted lines), in order.
    prose = b"\n".join(
        line
        for raw in raws
        if b"Content-Transfer-Encoding: base64" not in raw
        for line in raw[_body_split(raw) :].splitlines()
        if line.strip() and not line.startswith((b">", b"-----", b"From:", b"To:", b"Sent:", b"cc:"))
    )
    messages = []
    for i in range(n):
        raw = raws[i % len(raws)]
        if pad and len(raw) < pad and b"multipart" not in raw[: _body_split(raw)].lower():
            start = (i * 7919) % max(len(prose) - pad, 1)
            raw = raw + b"\n\n" + prose[start : start + pad - len(raw)]
        messages.append(raw)
    state = paths.state_dir()

    def check(raw: bytes) -> Any:
        message = OutgoingMessage(raw)
        return check_message(message, config, envelope=envelope_for(message, (), False), state_dir=state)

    return check, messages


def run(name: str, judge: Any, items: list[Any], profile: bool) -> None:
    for item in items[: min(len(items), 40)]:  # warm up: imports, patterns, each history's memo
        judge(item)
    rule_cpu.clear()
    size = statistics.mean(len(getattr(item, "raw", item)) for item in items)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    wall, cpu = time.perf_counter(), clock()
    for item in items:
        judge(item)
    cpu, wall = clock() - cpu, time.perf_counter() - wall
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    n = len(items)
    in_rules = sum(rule_cpu.values())
    print(f"{name}: {n} messages, mean {size / 1000:.1f} kB; load {os.getloadavg()[0]:.1f}")
    print(f"  CPU {cpu / n * 1000:.2f} ms per message ({n / cpu:.0f} msg/s of CPU, {n / wall:.0f} msg/s wall)")
    print(f"  outside rules {(cpu - in_rules) / n * 1000:.2f} ms; rules {in_rules / n * 1000:.2f} ms:")
    for rid, spent in sorted(rule_cpu.items(), key=lambda kv: -kv[1]):
        print(f"    {rid:28} {spent / n * 1000:6.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="*", help="milter, corpus (default: both), learning, service")
    parser.add_argument("-n", type=int, default=0, help="messages (milter: 400; corpus: every case)")
    parser.add_argument("--dir", type=Path, default=CORPUS, help="a misdirect folder (learn/, cases/)")
    parser.add_argument("--pad", type=int, default=10_000, help="pad corpus bodies to this many bytes (0: as they are)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--rounds", type=int, help="learning: rounds of 200 messages (6); service: passes (1)")
    args = parser.parse_args()
    workloads = args.workload or ["milter", "corpus"]
    if set(workloads) - {"milter", "corpus", "learning", "service"}:
        parser.error("workloads: milter, corpus, learning, service")
    time_rules()
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        for name in workloads:
            sub = Path(tmp) / name
            sub.mkdir()
            if name == "learning":
                learning_rounds(sub, args.rounds or 6)
                continue
            if name == "service":
                if args.dir.is_dir():
                    service_rounds(sub, args.dir, args.rounds or 1)
                else:
                    print(f"service: {args.dir} not found; skipped")
                continue
            if name == "milter":
                judge, items = milter_workload(sub, args.n or 400)
            elif not args.dir.is_dir():
                print(f"corpus: {args.dir} not found; skipped")
                continue
            else:
                judge, items = corpus_workload(sub, args.dir, args.n or 273, args.pad)
            run(name, judge, items, args.profile)


if __name__ == "__main__":
    main()
