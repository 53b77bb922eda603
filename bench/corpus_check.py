#!/usr/bin/env python3
"""Run ``sendguard check --json`` over corpus folders; report verdicts, held share and time.

    bench/corpus_check.py [--config FILE] [--sendguard EXE] [--jobs N] [--show hold] [--learn PATH] [FOLDER...]

Default folders: ../shared/corpus/mime and ../shared/corpus/patches (relative to the repo), when
present. Every file is checked by its own ``sendguard check --json FILE`` process, so the time
reported per message is what a mail program would wait (start-up included) and a crash or hang
in one message is visible as such. The run uses a throw-away HOME/XDG tree, so no learned
history or personal config leaks in; ``--config`` defaults to ../shared/scenarios/config.toml.
``--learn PATH`` (repeatable) learns PATH into that tree first, as a user who learned their mail
(e.g. the folder itself: its list mail tells which addresses are mailing lists).

Prints, per folder: count, verdict distribution, held % (hold + block), the warnings and holds
per rule, crashes (exit status outside 0-3 or no JSON line; exit 65 with a JSON line that names
the error is "unreadable", as the contract has it for an empty file), timeouts, the slowest
messages, and the check time measured in this process (without interpreter start-up, which
dominates and varies with machine load).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TIMEOUT = 20.0


def message_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.eml") if p.is_file())


def check_one(exe: str, config: Path | None, env: dict[str, str], path: Path) -> tuple[Path, str, float, str]:
    cmd = [exe]
    if config:
        cmd += ["--config", str(config)]
    cmd += ["check", "--json", str(path)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, env=env, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return path, "timeout", time.perf_counter() - start, ""
    elapsed = time.perf_counter() - start
    try:
        data = json.loads(proc.stdout.decode("utf-8").splitlines()[0])
    except (IndexError, ValueError):
        data = None
    if proc.returncode == 65 and data and data.get("verdict") is None and data.get("error"):
        return path, "unreadable", elapsed, str(data["error"])[-300:]
    if proc.returncode not in (0, 1, 2, 3):
        return path, "crash", elapsed, proc.stderr.decode("utf-8", "replace")[-300:]
    if data is None:
        return path, "crash", elapsed, "no JSON line"
    rules = ",".join(sorted({f["rule"] + ":" + f["severity"] for f in data["findings"] if f["severity"] != "info"}))
    return path, data["verdict"], elapsed, rules


def in_process_times(files: list[Path], config: Path | None, state: Path) -> list[tuple[float, Path]]:
    """check_message time per file without process start-up (when sendguard imports here)."""
    try:
        from sendguard.config import schema as config_mod
        from sendguard.decide.check import check_message, envelope_for
        from sendguard.mail.message import OutgoingMessage
    except ImportError:
        return []
    cfg = config_mod.load(config) if config else config_mod.Config()
    times = []
    for path in files:
        raw = path.read_bytes()
        start = time.perf_counter()
        message = OutgoingMessage(raw)
        check_message(message, cfg, envelope=envelope_for(message, [], False), state_dir=state)
        times.append((time.perf_counter() - start, path))
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", type=Path)
    ap.add_argument("--config", type=Path, default=SHARED / "scenarios" / "config.toml")
    ap.add_argument("--sendguard", default=str(REPO / ".venv" / "bin" / "sendguard"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument(
        "--show",
        action="append",
        default=[],
        metavar="VERDICT",
        help="list the files that got this verdict (repeatable)",
    )
    ap.add_argument("--learn", action="append", default=[], type=Path, metavar="PATH", help="learn PATH first")
    args = ap.parse_args()
    folders = args.folders or [f for f in (SHARED / "corpus" / "mime", SHARED / "corpus" / "patches") if f.is_dir()]
    if not folders:
        print("no corpus folders found", file=sys.stderr)
        return 64
    config = args.config if args.config and args.config.is_file() else None
    with tempfile.TemporaryDirectory(prefix="sg-corpus-") as home:
        env = dict(os.environ)
        for var in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            env[var] = str(Path(home) / var.lower())
            Path(env[var]).mkdir()
        for path in args.learn:
            cmd = [args.sendguard] + (["--config", str(config)] if config else []) + ["learn", str(path)]
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        failed = False
        for folder in folders:
            files = message_files(folder)
            with ThreadPoolExecutor(args.jobs) as pool:
                results = list(pool.map(lambda p: check_one(args.sendguard, config, env, p), files))
            verdicts = Counter(r[1] for r in results)
            held = verdicts["hold"] + verdicts["block"]
            slowest = sorted(results, key=lambda r: -r[2])[:5]
            print(f"== {folder}")
            print(f"count: {len(results)}")
            print("verdicts: " + ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items())))
            print(f"held: {held} ({100.0 * held / max(1, len(results)):.2f} %)")
            per_rule = Counter(
                f for r in results if r[1] not in ("crash", "timeout", "unreadable") for f in r[3].split(",") if f
            )
            print("warnings and holds by rule: " + (", ".join(f"{f} {n}" for f, n in per_rule.most_common()) or "none"))
            print(f"max time per message: {slowest[0][2]:.3f} s" if slowest else "max time per message: -")
            print(
                f"median time per message: {sorted(r[2] for r in results)[len(results) // 2]:.3f} s" if results else ""
            )
            for path, verdict, elapsed, _ in slowest:
                print(f"  slow {elapsed:.3f} s  {verdict:7} {path.relative_to(folder)}")
            inner = sorted(
                in_process_times(files, config, Path(env["XDG_DATA_HOME"]) / "sendguard"), key=lambda t: -t[0]
            )
            if inner:
                print(
                    f"max check time in process (no start-up): {inner[0][0]:.3f} s ({inner[0][1].relative_to(folder)}), "
                    f"median {inner[len(inner) // 2][0] * 1000:.1f} ms"
                )
            for path, verdict, _, detail in results:
                if verdict in ("crash", "timeout") or verdict in args.show:
                    print(f"  {verdict:7} {path.relative_to(folder)}  {detail}")
            failed |= bool(verdicts["crash"] or verdicts["timeout"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
