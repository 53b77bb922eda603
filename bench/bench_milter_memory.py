"""Benchmark (not a test): the milter's memory over many messages and many senders.

Starts ``sendguard milter`` on a unix socket (no Postfix: bench_milter_process.Client speaks the
milter protocol as Postfix's smtpd does), sends ``-n`` messages of 10 kB (bench_milter.message)
from ``--senders`` senders, eight connections at a time, half to colleagues and half to client
contacts, the milter learning what it lets through, and every ``--every`` messages reads the
resident set size (VmRSS) and open descriptors of the milter process and of each check worker
from /proc. A last row is read once the workers have learned what they held. Whether memory
grows per message or per sender, and where it levels off, is in the rows.

    .venv/bin/python bench/bench_milter_memory.py -n 4000 --senders 8
    .venv/bin/python bench/bench_milter_memory.py -n 4000 --senders 2000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_milter_process import Client, wait_for_socket  # noqa: E402

from tests.support.postfix import TEAM_CONFIG  # noqa: E402


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def workers_of(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def row(done: int | str, milter: int, start: float) -> str:
    kids = workers_of(milter)
    worker_mb = " / ".join(f"{rss_kb(w) / 1024:.1f}" for w in kids)
    worker_fds = " / ".join(str(fds(w)) for w in kids)
    return (
        f"| {done} | {time.monotonic() - start:.0f} | {rss_kb(milter) / 1024:.1f} | {fds(milter)} "
        f"| {worker_mb} | {worker_fds} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=4000, help="messages in all")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--every", type=int, default=500, help="messages between two readings")
    args = parser.parse_args()

    import bench_milter

    colleagues, clients = bench_milter.COLLEAGUES, bench_milter.CLIENTS
    senders = [f"user{i}@nordwerk.example" for i in range(args.senders)]

    def transaction(i: int) -> tuple[str, list[str], bytes]:
        s, k = i % len(senders), i // len(senders)
        sender = senders[s]
        to = [colleagues[(s + k) % 12]] if k % 2 else [clients[(s + k) % 12], colleagues[(s + k + 1) % 12]]
        return sender, to, bench_milter.message(sender, to, i)

    with tempfile.TemporaryDirectory(prefix="bench-milter-memory-", ignore_cleanup_errors=True) as tmp:
        state = Path(tmp) / "milter"
        config = Path(tmp) / "sendguard.toml"
        config.write_text(
            TEAM_CONFIG.format(hold="reject", state=state) + f"workers = {args.workers}\nnotify = false\n"
        )
        sock = str(Path(tmp) / "milter.sock")
        log = open(Path(tmp) / "milter.log", "wb")  # noqa: SIM115 — open for the milter's lifetime
        milter = subprocess.Popen(
            [str(Path(sys.executable).parent / "sendguard"), "--config", str(config), "milter"]
            + ["--listen", f"unix:{sock}", "--state-dir", str(state)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        replies: dict[bytes, int] = {}
        lock = threading.Lock()
        try:
            wait_for_socket(milter, sock, Path(tmp) / "milter.log")
            start = time.monotonic()
            print(f"{args.n} messages of 10 kB, {args.senders} senders, {args.workers} workers")
            print("| messages | s | milter RSS MB | milter fds | workers RSS MB | workers fds |")
            print("|---|---|---|---|---|---|")
            print(row(0, milter.pid, start), flush=True)

            def run(first: int, last: int, offset: int) -> None:
                for i in range(first + offset, last, 8):
                    sender, to, raw = transaction(i)
                    client = Client(sock)
                    cmd = client.message(sender, to, raw, f"Q{i:06X}")
                    client.close()
                    with lock:
                        replies[cmd] = replies.get(cmd, 0) + 1

            for first in range(0, args.n, args.every):
                last = min(first + args.every, args.n)
                threads = [threading.Thread(target=run, args=(first, last, o)) for o in range(8)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                print(row(last, milter.pid, start), flush=True)
            # the workers learn once no mail came for 0.5 s: wait until their CPU stands still
            from bench_worker import proc_cpu

            before = -1.0
            while True:
                now = sum(proc_cpu(w) for w in workers_of(milter.pid))
                if now == before:
                    break
                before = now
                time.sleep(2)
            print(row(f"{args.n}, learned", milter.pid, start), flush=True)
        finally:
            milter.terminate()
            milter.wait(60)
            log.close()
        print(f"replies {replies}; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
