"""Benchmark (not a test): the milter's check workers through their real pipes — CPU per message.

bench_milter.py's eight seeded senders and 10 kB messages, handed to a ``lifecycle.WorkerPool``
(real ``python -m sendguard.milter.worker`` processes, frames and pickles both ways) by eight
threads, one per sender, as libmilter's connection threads do. Reports the workers' CPU per
message (from /proc, during the timed window only, so learning at exit is not in it unless
``--learn`` makes it happen within the window), this process's CPU per message (the milter side
of the pipe: pickling the transaction, reading the outcome), and, for comparison, ``Policy.judge``
on the same messages in this process.

    .venv/bin/python bench/bench_worker.py -n 800            # 2 workers, 8 sender threads
    .venv/bin/python bench/bench_worker.py -n 800 --workers 1 --threads 1
    .venv/bin/python bench/bench_worker.py -n 800 --learn    # learning on (batched in the worker)
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        return sum(int(v) for v in f.read().rsplit(")", 1)[1].split()[11:13]) / TICK


def transactions(n: int) -> list[Any]:
    import bench_milter

    from sendguard.milter.policy import Transaction

    senders, c, cl = bench_milter.SENDERS, bench_milter.COLLEAGUES, bench_milter.CLIENTS
    txs = []
    for i in range(n):
        s, k = i % len(senders), i // len(senders)
        sender = senders[s]
        to = [c[(s + k) % 12]] if k % 2 else [cl[(s + k) % 12], c[(s + k + 1) % 12]]
        txs.append(Transaction(sender, sender, to, bench_milter.message(sender, to, 1000 + i)))
    return txs


def seed(config_path: Path, state: Path) -> None:
    """bench_milter.seed's histories, each sender's learned in one transaction."""
    import bench_milter

    from sendguard.config.schema import load
    from sendguard.milter.policy import Policy

    policy = Policy(load(config_path, required=True), state)
    c, cl = bench_milter.COLLEAGUES, bench_milter.CLIENTS
    for s, sender in enumerate(bench_milter.SENDERS):
        raws = []
        for n in range(120):
            to = [c[(s + n) % 12]] if n % 2 else [cl[(s + n) % 12], c[(s + n + 1) % 12]]
            raws.append(bench_milter.message(sender, to, n, size=600).replace(b"Message-ID: <", b"Message-ID: <seed-"))
        policy.learn_many(sender, raws, [sender])


def drive(pool: Any, txs: list[Any], threads: int) -> list[Any]:
    """Hand every transaction to the pool; ``threads`` threads, each taking every threads-th one
    (with 8 threads and 8 senders: one thread per sender)."""
    outcomes: list[Any] = [None] * len(txs)

    def one(start: int) -> None:
        for i in range(start, len(txs), threads):
            outcomes[i] = pool(txs[i])

    workers = [threading.Thread(target=one, args=(t,)) for t in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=800, help="messages in the timed window")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="threads handing messages to the pool")
    parser.add_argument("--learn", action="store_true", help="learn what passes (batched in the worker)")
    parser.add_argument("--no-inprocess", action="store_true", help="skip Policy.judge in this process")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="fresh workers each round, warmed by one message per sender (bench_milter)",
    )
    parser.add_argument("--senders", type=int, default=8, help="senders (more than 32 exceed a worker's open stores)")
    args = parser.parse_args()

    import bench_milter

    bench_milter.SENDERS = [f"user{i}@nordwerk.example" for i in range(args.senders)]

    from sendguard.config.schema import load
    from sendguard.milter import lifecycle
    from sendguard.milter.lifecycle import WorkerPool
    from sendguard.milter.policy import Policy

    served: dict[int, set[str]] = {}  # worker pid -> the senders it judged in the timed window
    ask = lifecycle.Worker.ask

    def spied(worker: Any, tx: Any, deadline: float) -> Any:
        served.setdefault(worker.proc.pid, set()).add(tx.sender)
        return ask(worker, tx, deadline)

    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        state = Path(tmp) / "milter"
        config_path = Path(tmp) / "sendguard.toml"
        config_path.write_text(
            bench_milter.TEAM_CONFIG.format(hold="reject", state=state)
            + f"learn = {'true' if args.learn else 'false'}\n"
        )
        seed(config_path, state)
        policy = Policy(load(config_path, required=True), state)
        fresh = args.rounds > 1
        warm_n = len(bench_milter.SENDERS) if fresh else 80
        warm, txs = transactions(warm_n), transactions(args.n + warm_n)[warm_n:]
        spent = own = wall = lived = 0.0
        outcomes: list[Any] = []
        whole = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(args.rounds):
            pool = WorkerPool(policy, args.workers, timeout=60)
            try:
                drive(pool, warm, args.threads)
                pids = [w.proc.pid for w in pool.workers]
                before = sum(proc_cpu(p) for p in pids)
                own0, wall0 = time.process_time(), time.perf_counter()
                lifecycle.Worker.ask = spied  # type: ignore[method-assign]
                outcomes += drive(pool, txs, args.threads)
                lifecycle.Worker.ask = ask  # type: ignore[method-assign]
                own, wall = own + time.process_time() - own0, wall + time.perf_counter() - wall0
                alive = sum(proc_cpu(p) for p in pids)
                spent += alive - before
                lived += alive
            finally:
                pool.close()
        end = resource.getrusage(resource.RUSAGE_CHILDREN)
        lifetime = end.ru_utime + end.ru_stime - whole.ru_utime - whole.ru_stime
        n = len(txs) * args.rounds
        verdicts: dict[str, int] = {}
        for o in outcomes:
            verdicts[o.verdict.label] = verdicts.get(o.verdict.label, 0) + 1
        print(
            f"workers={args.workers} threads={args.threads} learn={args.learn} n={n} rounds={args.rounds} "
            f"load {os.getloadavg()[0]:.1f}; verdicts {verdicts}; "
            f"senders per worker {sorted(len(v) for v in served.values())}"
        )
        print(
            f"  workers {spent / n * 1000:.2f} ms/msg, this process {own / n * 1000:.2f} ms/msg, "
            f"{n / wall:.0f} msg/s wall; after the window (learning at exit) {(lifetime - lived) / n * 1000:.2f} ms/msg"
        )
        if not args.no_inprocess:
            for tx in warm:
                policy.judge(tx)
            cpu = time.process_time()
            for tx in txs:
                policy.judge(tx)
            n = len(txs)
            print(f"  Policy.judge in one process {(time.process_time() - cpu) / n * 1000:.2f} ms/msg")


if __name__ == "__main__":
    main()
