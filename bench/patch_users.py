#!/usr/bin/env python3
"""Routine mail of patch senders, judged as each of them would meet sendguard (not a test).

    bench/patch_users.py [--min N] [--sendguard EXE] [PATCH-CORPUS]

The patch corpus (default ../shared/corpus/patches) holds real mail of a few frequent writers.
For each writer with at least ``--min`` messages (default 10): their identity is the config's,
everyone else's mail and the older half of theirs (by Date) are learned, and the newer half is
checked with ``sendguard check --json``. Every message was really sent, so a hold is a hold for
nothing (or a mistake the writer made and the list saw). Prints, per writer, how many were
checked and held, and each hold's reasons. Uses a throw-away HOME/XDG tree per writer.
"""

from __future__ import annotations

import argparse
import email
import email.utils
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from email.message import Message
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def sender_of(msg: Message) -> str:
    pairs = email.utils.getaddresses([str(msg.get("From") or "")])
    return pairs[0][1].lower() if pairs and "@" in pairs[0][1] else ""


def date_of(msg: Message) -> float:
    try:
        return email.utils.parsedate_to_datetime(str(msg.get("Date"))).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0.0


def judge(exe: str, writer: str, mine: list[tuple[float, Path]], others: list[Path]) -> list[dict[str, object]]:
    mine = sorted(mine)
    half = len(mine) // 2
    with tempfile.TemporaryDirectory(prefix="sg-patch-user-") as tmp:
        root = Path(tmp)
        env = dict(os.environ, HOME=str(root), XDG_DATA_HOME=str(root / "data"), XDG_CONFIG_HOME=str(root / "cfg"))
        learn, check = root / "learn", root / "check"
        learn.mkdir()
        check.mkdir()
        for i, path in enumerate(others + [p for _, p in mine[:half]]):
            shutil.copyfile(path, learn / f"{i:05}.eml")
        newer = [p for _, p in mine[half:]]
        for i, path in enumerate(newer):
            shutil.copyfile(path, check / f"{i:05}.eml")
        config = root / "config.toml"
        config.write_text(f'[identity]\naddresses = ["{writer}"]\n', encoding="utf-8")
        base = [exe, "--config", str(config)]
        subprocess.run([*base, "learn", str(learn)], env=env, check=True, stdout=subprocess.DEVNULL)
        proc = subprocess.run(
            [*base, "check", "--json", *sorted(str(p) for p in check.iterdir())],
            env=env,
            capture_output=True,
            check=False,
        )
        results = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        for result, path in zip(results, newer, strict=True):
            result["file"] = str(path)
        return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", type=Path, default=SHARED / "corpus" / "patches")
    ap.add_argument("--min", type=int, default=10)
    ap.add_argument("--sendguard", default=str(REPO / ".venv" / "bin" / "sendguard"))
    args = ap.parse_args()
    if not args.corpus.is_dir():
        print(f"no patch corpus at {args.corpus}", file=sys.stderr)
        return 64
    by_writer: dict[str, list[tuple[float, Path]]] = defaultdict(list)
    for path in sorted(args.corpus.rglob("*.eml")):
        with path.open("rb") as f:
            msg = email.message_from_binary_file(f)
        writer = sender_of(msg)
        if writer:
            by_writer[writer].append((date_of(msg), path))
    checked = held = 0
    for writer, mine in sorted(by_writer.items(), key=lambda kv: -len(kv[1])):
        if len(mine) < args.min:
            continue
        others = [p for w, ms in by_writer.items() if w != writer for _, p in ms]
        results = judge(args.sendguard, writer, mine, others)
        holds = [r for r in results if r.get("verdict") in ("hold", "block")]
        checked += len(results)
        held += len(holds)
        print(f"{writer}: {len(holds)} of {len(results)} held")
        for r in holds:
            reasons = "; ".join(
                str(f["message"]) for f in r["findings"] if isinstance(f, dict) and f["severity"] in ("hold", "block")
            )
            print(f"  {Path(str(r['file'])).relative_to(args.corpus)}: {reasons[:300]}")
    print(f"all: {held} of {checked} held ({100.0 * held / max(checked, 1):.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
