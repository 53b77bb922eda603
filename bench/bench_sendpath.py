"""Benchmark (not a test): what sendguard adds to sending one mail.

Sends the same plain 10 kB message N times through ``msmtp`` alone and through
``sendguard-sendmail`` → ``msmtp``, alternately (so drift in machine load hits both alike), to a
loopback aiosmtpd server this script starts itself, and prints the medians and their ratio.

Everything sendguard touches lives in a temporary directory (config, queue, XDG dirs), on the
same file system as ``--dir`` (default: the system temp dir), because the queue fsyncs and the
file system matters. Run it from the project root::

    .venv/bin/python bench/bench_sendpath.py            # N = 30
    .venv/bin/python bench/bench_sendpath.py -n 100 --dir ~/tmp
    .venv/bin/python bench/bench_sendpath.py --sendmail A --sendmail B   # A/B: all alternate

Target: median ratio ≤ 1.60 (wall clock). CPU time (user + system, the process and
its children, msmtp included, the resident checker's share too) is printed with its own ratio:
on a busy machine wall clock mostly measures the neighbours, CPU time much less so. The load
average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sendguard.cli.support.loopback import world_config, write_msmtprc

RECIPIENT = "anna@kundenfirma.example"


def message_10k() -> bytes:
    """A plain text mail of about 10 kB, as mutt would pipe it."""
    line = "The Falke rollout is on track; the next milestone is the data migration.\n"
    body = "Hello Anna,\n\n" + line * (10_000 // len(line)) + "\nRegards\nMe\n"
    head = (
        f"From: Me <me@nordwerk.example>\nTo: Anna <{RECIPIENT}>\nSubject: Falke status\n"
        "Date: Fri, 27 Nov 2026 09:00:00 +0000\nMessage-ID: <bench@nordwerk.example>\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
    )
    return (head + body).encode()


def start_server() -> tuple[object, int, list[object]]:
    from sendguard.cli.support.loopback import LoopbackSMTP

    server = LoopbackSMTP().start()
    return server, server.port, server.received


CPU: dict[str, list[float]] = {}
LOAD = [os.getloadavg()[0]]
SENT = [0]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _resident_cpu(state: Path | None) -> tuple[int | None, float]:
    """The resident checker's pid and CPU seconds so far (it is not our child: getrusage
    does not see it, /proc does)."""
    if state is None:
        return None, 0.0
    from sendguard.sendpath.client import PID_FILE, running_server

    pid = running_server(state / PID_FILE)
    if pid is None:
        return None, 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None, 0.0
    return pid, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(argv: list[str], data: bytes, env: dict[str, str], state: Path | None = None) -> float:
    """Wall time of one run; its CPU time (with its children's, and the resident checker's
    when one answered) goes to CPU[argv[0]]."""
    SENT[0] += 1  # every mail its own Message-ID, as mail programs make them (the same one
    data = data.replace(b"<bench@", f"<bench-{SENT[0]:06d}@".encode(), 1)  # twice would be held)
    cpu = _children_cpu()
    pid, server_cpu = _resident_cpu(state)
    start = time.perf_counter()
    proc = subprocess.run(argv, input=data, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    pid_after, server_cpu_after = _resident_cpu(state)
    extra = server_cpu_after - server_cpu if pid is not None and pid == pid_after else 0.0
    CPU.setdefault(argv[0], []).append(_children_cpu() - cpu + extra)
    if proc.returncode != 0:
        sys.exit(f"{argv[0]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=30, help="sends per variant (default 30)")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary state lives")
    parser.add_argument(
        "--sendmail",
        action="append",
        help="a sendguard-sendmail executable (default: next to this Python); repeat to compare",
    )
    parser.add_argument(
        "--no-resident", action="store_true", help="check every mail in a process of its own (SENDGUARD_RESIDENT=0)"
    )
    opts = parser.parse_args()
    variants = opts.sendmail or [str(Path(sys.executable).parent / "sendguard-sendmail")]
    msmtp = shutil.which("msmtp")
    if not msmtp:
        sys.exit("msmtp is not installed")

    controller, port, received = start_server()
    tmp = Path(tempfile.mkdtemp(prefix="sendguard-bench-", dir=opts.dir))
    try:
        msmtprc = write_msmtprc(tmp / "msmtprc", port, "me@nordwerk.example")
        config = tmp / "config.toml"
        config.write_text(world_config(msmtprc, msmtp=msmtp))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "SENDGUARD_"))}
        for var in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
            (tmp / var).mkdir(mode=0o700)
            env[var] = str(tmp / var)
        env["SENDGUARD_CONFIG"] = str(config)
        # As installed for a user: bytecode cached (pip compiles it at install time). With
        # PYTHONDONTWRITEBYTECODE set, every run would compile every module of the send path again.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")  # not into the source tree

        data = message_10k()
        plain = [msmtp, "-C", str(msmtprc), "-f", "me@nordwerk.example", "--", RECIPIENT]
        guarded = [[exe, "-f", "me@nordwerk.example", "--", RECIPIENT] for exe in variants]
        if opts.no_resident:
            env["SENDGUARD_RESIDENT"] = "0"
        state = tmp / "XDG_DATA_HOME" / "sendguard"
        for _ in range(3):  # warm the page cache for all (and start the resident checker)
            for argv in [plain, *guarded]:
                timed(argv, data, env)
            time.sleep(0.5)  # the resident checker starts after the first mail, detached
        alone: list[float] = []
        through: list[list[float]] = [[] for _ in variants]
        for _ in range(opts.n):
            alone.append(timed(plain, data, env))
            for times, argv in zip(through, guarded):
                times.append(timed(argv, data, env, state))
        python = [timed([sys.executable, "-c", "pass"], b"", env) for _ in range(min(opts.n, 15))]
        checkers: dict[str, int] = {}
        for meta_file in (state / "queue").glob("*/meta.json"):
            checker = json.loads(meta_file.read_text()).get("checker", "?")
            checkers[checker] = checkers.get(checker, 0) + 1
        expected = (1 + len(variants)) * (opts.n + 3)
        if len(received) != expected:
            sys.exit(f"the server got {len(received)} messages, expected {expected}")
    finally:
        from sendguard.sendpath.client import stop_servers

        stop_servers(str(config))
        controller.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print("queue entries by checker:", ", ".join(f"{k} {v}" for k, v in sorted(checkers.items())))
    med_alone = statistics.median(alone)
    print(f"message: {len(data)} bytes, n = {opts.n} each, alternating; state on {tmp.parent}")
    print(f"python -c pass           median {statistics.median(python) * 1000:6.1f} ms")
    cpu_alone = statistics.median(CPU[msmtp][3:])
    print(
        f"msmtp alone              median {med_alone * 1000:6.1f} ms  (min {min(alone) * 1000:.1f}), "
        f"cpu {cpu_alone * 1000:.1f} ms"
    )
    for exe, times in zip(variants, through):
        med = statistics.median(times)
        cpu = statistics.median(CPU[exe][3:])
        print(
            f"sendguard-sendmail→msmtp median {med * 1000:6.1f} ms  (min {min(times) * 1000:.1f}), "
            f"cpu {cpu * 1000:.1f} ms  {exe}"
        )
        print(
            f"  sendguard adds         median {(med - med_alone) * 1000:6.1f} ms, cpu {(cpu - cpu_alone) * 1000:.1f} ms"
            "  (the resident checker's cpu included)"
        )
        print(f"  ratio (median)         {med / med_alone:.2f}   (target ≤ 1.60)")
        print(f"  CPU ratio (median)     {cpu / cpu_alone:.2f}")
    print(f"load average (1 min): {LOAD[0]:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
