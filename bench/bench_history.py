"""Benchmark (not a test): what the history costs — learning, the send path, check throughput.

0. Learning as ``sendguard learn`` does (a reader on another core; with ``BENCH_READERS=0``
   none), the judgement fitted: 100,000 synthetic messages (half of them sent, 50,000 contacts;
   ``--learn N``), timed. Target: under a minute.
1. Learning: 10,000 synthetic messages (5,000 contacts) into a fresh store, timed.
2. Send path: ``sendguard check`` of one message as its own process (as the send path starts),
   N times with no history and N times with the 5,000-contact history, alternately; medians.
   Target: no more than 15 ms slower with the history.
3. Lookup cost vs history size: in-process check of the same messages against 100, 5,000 and
   20,000 contacts (5,000 and 20,000 should be about equal: every lookup is indexed and bounded).
4. With ../shared present: learning the three real Enron mailboxes, and the misdirection score
   with ``sendguard check`` throughput per mailbox (one process each). Target: >= 300 msg/s.

    .venv/bin/python bench/bench_history.py [-n 20]
"""

from __future__ import annotations

import argparse
import email.utils
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHARED = ROOT.parent / "shared"
FIRST = [
    "anna",
    "markus",
    "jana",
    "tim",
    "lea",
    "sabine",
    "thomas",
    "petra",
    "mia",
    "karl",
    "olga",
    "bill",
    "maria",
    "jan",
    "eva",
    "paul",
    "lisa",
    "max",
    "nina",
    "otto",
]
WORDS = (
    "budget plan release migration invoice contract review sprint roadmap staffing salary travel "
    "offer meeting quarter report ticket deploy server database customer project design test"
).split()
CONFIG = '[identity]\naddresses = ["me@home.example"]\n[organization]\ndomains = ["home.example"]\n'


def synthetic(n_messages: int, n_contacts: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    contacts = [
        f"{rng.choice(FIRST)}.{i}@{'home' if i % 3 == 0 else f'org{i % 50}'}.example" for i in range(n_contacts)
    ]
    out = []
    for n in range(n_messages):
        to = rng.sample(contacts, rng.choice((1, 1, 2, 3)))
        words = " ".join(rng.choices(WORDS, k=40))
        frm = "me@home.example" if n % 2 == 0 else rng.choice(contacts)
        head = (
            f"From: {frm}\nTo: {', '.join(to)}\nSubject: {' '.join(rng.choices(WORDS, k=3))}\n"
            f"Date: {email.utils.formatdate(1.7e9 + n * 600)}\nMessage-ID: <b{n}@bench.example>\n\n"
        )
        out.append((head + f"Hello {to[0].split('.')[0].title()},\n\n{words}\n").encode())
    return out


def learn(state: Path, messages: list[bytes], judge: bool = False) -> float:
    """Seconds to learn ``messages``; with ``judge``, as ``sendguard learn`` does: the newest sent
    mail judged as it comes and the judgement fitted (decide.train)."""
    sys.path.insert(0, str(ROOT))
    from sendguard.config.schema import parse
    from sendguard.decide.train import Simulator, refresh
    from sendguard.history.learn import Learner
    from sendguard.history.reading import Reading
    from sendguard.history.store import open_for_write

    config = parse(CONFIG) if judge else None
    start = time.perf_counter()
    db = open_for_write(state)
    simulate = Simulator(db, config).examples if config is not None else None
    reader = os.environ["BENCH_READERS"] != "0" if "BENCH_READERS" in os.environ else None
    with Learner(db, ["me@home.example"], ["home.example"], simulate) as learner, Reading(learner, reader) as r:
        for raw in messages:
            r.add(raw)
    if config is not None:
        print(f"  {refresh(db, config).operating_point()}")
    db.close()
    return time.perf_counter() - start


def run_check(env: dict[str, str], config: Path, message: Path) -> float:
    """CPU seconds (user + system) of one ``sendguard check`` process.

    CPU time rather than wall time: on a shared machine the wall clock mostly measures the
    neighbours; the CPU a process burns is what it costs.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [str(BIN / "sendguard"), "--config", str(config), "check", str(message)],
        env=env,
        capture_output=True,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


COLD_CHECK = """
import sys, time
from pathlib import Path
from sendguard.decide.check import check_message, envelope_for
from sendguard.config.schema import parse
from sendguard.mail.message import OutgoingMessage
cfg = parse(Path(sys.argv[1]).read_text())
m = OutgoingMessage(Path(sys.argv[2]).read_bytes())
t = time.process_time()
check_message(m, cfg, envelope=envelope_for(m, (), False), state_dir=Path(sys.argv[3]))
print((time.process_time() - t) * 1000)
"""


def cold_check(config: Path, message: Path, state: Path) -> float:
    """CPU ms of the first check_message in a fresh interpreter (interpreter start excluded)."""
    out = subprocess.run(
        [sys.executable, "-c", COLD_CHECK, str(config), str(message), str(state)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--learn", type=int, default=100_000, help="messages for the learn-and-fit timing")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sg-bench-history-") as tmp:
        root = Path(tmp)
        seconds = learn(root / "judged" / "sendguard", synthetic(a.learn, a.learn // 2), judge=True)
        print(f"learn and fit: {a.learn:,} messages in {seconds:.1f} s ({a.learn / seconds:.0f} msg/s)")
        config = root / "config.toml"
        config.write_text(CONFIG)
        messages = synthetic(10_000, 5_000)
        full = root / "full" / "sendguard"
        seconds = learn(full, messages)
        print(f"learn: 10,000 messages, 5,000 contacts in {seconds:.2f} s ({10_000 / seconds:.0f} msg/s)")
        small = root / "small" / "sendguard"
        learn(small, synthetic(200, 100))
        large = root / "large" / "sendguard"
        learn(large, synthetic(40_000, 20_000))
        message = root / "msg.eml"
        message.write_bytes(messages[0])
        envs = {}
        for name, data in (("none", root / "none"), ("5000", root / "full")):
            env = dict(os.environ, HOME=str(root), XDG_DATA_HOME=str(data), XDG_CONFIG_HOME=str(root / "cfg"))
            envs[name] = env
        times: dict[str, list[float]] = {"none": [], "5000": []}
        for _ in range(a.n):
            for name in times:
                times[name].append(run_check(envs[name], config, message))
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(
            f"send path (check as a process, CPU time): no history {med['none']:.1f} ms, 5,000 contacts "
            f"{med['5000']:.1f} ms, difference {med['5000'] - med['none']:+.1f} ms (target <= 15)"
        )
        cold: dict[str, list[float]] = {"none": [], "5000": []}
        for _ in range(a.n):
            cold["none"].append(cold_check(config, message, root / "none" / "sendguard"))
            cold["5000"].append(cold_check(config, message, full))
        c = {k: statistics.median(v) for k, v in cold.items()}
        print(
            f"send path (first check in a fresh process, CPU, interpreter start excluded): no history "
            f"{c['none']:.1f} ms, 5,000 contacts {c['5000']:.1f} ms, difference {c['5000'] - c['none']:+.1f} ms"
        )

        from sendguard.config.schema import parse
        from sendguard.decide.check import check_message, envelope_for
        from sendguard.mail.message import OutgoingMessage

        cfg = parse(CONFIG)
        # 100 contacts: few namesakes per name; from 5,000 on every name has the maximum number of
        # twins (MAX_TWINS), so 5,000 vs 20,000 shows what the history's size itself costs.
        for label, state in (("100 contacts", small), ("5,000 contacts", full), ("20,000 contacts", large)):
            msgs = [OutgoingMessage(raw) for raw in messages[:300]]
            start = time.process_time()
            for m in msgs:
                check_message(m, cfg, envelope=envelope_for(m, (), False), state_dir=state)
            per = (time.process_time() - start) / len(msgs) * 1000
            print(f"in-process check with {label}: {per:.2f} ms CPU per message")
    enron = SHARED / "corpus" / "enron"
    if enron.exists():
        from sendguard.history import sources

        raws = [raw for f in sources.message_files(enron) for raw in sources.read_messages(f)]
        with tempfile.TemporaryDirectory(prefix="sg-bench-enron-") as tmp:
            seconds = learn(Path(tmp) / "sendguard", raws)
        print(f"learn: {len(raws):,} real Enron messages in {seconds:.2f} s ({len(raws) / seconds:.0f} msg/s)")
    tool = SHARED / "tools" / "misdirect-score"
    if tool.exists():
        out = subprocess.run(
            [sys.executable, str(tool), "--sendguard", str(BIN / "sendguard")], capture_output=True, text=True
        )
        print(out.stdout.strip())


if __name__ == "__main__":
    main()
