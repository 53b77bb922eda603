"""How fast is ``sendguard review`` with a big queue? (10,000 entries, first paint ≤ 1 s)

Builds a queue of N entries (default 10,000: mostly delivered, some held, delayed, deferred)
in a temp dir, then measures:

1. ``queue_rows``: reading every meta.json and ordering them (the worker's job);
2. in-process, headless at 80x24: from ``App.run_test()`` start to the list shown with all rows
   (import time excluded: measured separately, see 4);
3. scrolling: mean and worst time per key (down, page down, end) with N rows, through Pilot
   (its own overhead is ~110 ms per key here: compare with N=10), and the cost of drawing a
   screenful of rows never drawn before (what scrolling really costs);
4. the real program in tmux: from launching ``sendguard review`` to the title with the count
   on the terminal (Python start, imports, queue read, paint — what a person waits for), for
   an empty queue (the fixed cost) and for N entries; median of 3.

Usage: .venv/bin/python bench/bench_tui.py [N]

Measured 2026-11-27 on the 2-core dev machine (load average ~3 from other work), N=10,000:
queue_rows 241 ms; in-process first paint 0.39 s (0.38 s with N=10: app start dominates);
per key through Pilot ~125 ms (108 ms with N=10: Pilot's own overhead); drawing a screenful
of never-drawn rows 1.6 ms mean, 2.2 ms worst; real program in tmux, launch to the counted
list: median 0.73 s (0.31 s with an empty queue). With DataTable instead of RowList the same
run gave a 3.9 s first paint and ~146 ms per key.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

STATES = ["delivered"] * 90 + ["held"] * 4 + ["delayed"] * 2 + ["deferred"] * 2 + ["blocked", "discarded"]


def build(root: Path, count: int, now: float) -> None:
    queue = root / "data" / "sendguard" / "queue"
    queue.mkdir(parents=True)
    for i in range(count):
        state = STATES[i % len(STATES)]
        created = now - (count - i) * 5
        entry_id = datetime.fromtimestamp(created, UTC).strftime("%Y%m%d-%H%M%S") + f"-{i:06x}"
        path = queue / entry_id
        path.mkdir()
        to = f"person{i}@client{i % 50}.example"
        (path / "message.eml").write_bytes(
            f"From: me@nordwerk.example\nTo: {to}\nSubject: Message {i}\n\nHello {i}\n".encode()
        )
        stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="seconds")
        meta = {
            "id": entry_id,
            "created": stamp,
            "updated": stamp,
            "state": state,
            "envelope": [to],
            "recipients": [to],
            "subject": f"Message {i} about the Falke project",
            "verdict": "hold" if state == "held" else "pass",
            "findings": [
                {
                    "rule": "greeting-mismatch",
                    "severity": "warn",
                    "message": f"The greeting names someone else than {to}.",
                    "recipient": to,
                    "suggestion": None,
                    "evidence": None,
                }
            ]
            if state == "held"
            else [],
            "events": [{"time": stamp, "event": "kept", "state": state}],
        }
        if state == "delayed":
            meta["not_before"] = datetime.fromtimestamp(now + 60 + i % 300, UTC).isoformat(timespec="seconds")
        if state == "delivered":
            meta["delivered"] = stamp
        (path / "meta.json").write_text(json.dumps(meta, indent=1))
    (root / "config.toml").write_text('[organization]\ndomains = ["nordwerk.example"]\n')


def bench_rows(root: Path, now: float) -> tuple[float, int]:
    from sendguard.act.queue import Queue
    from sendguard.recover.review_data import queue_rows

    times = []
    for _ in range(3):
        start = time.perf_counter()
        rows = queue_rows(Queue(root / "data" / "sendguard" / "queue"), now)
        times.append(time.perf_counter() - start)
    return min(times), len(rows)


async def bench_app(root: Path, now: float) -> dict[str, float]:
    from sendguard.act.queue import Queue
    from sendguard.config import schema as config_mod
    from sendguard.tui.app import ReviewApp
    from sendguard.tui.rowlist import RowList

    config = config_mod.load(root / "config.toml")
    app = ReviewApp(
        queue=Queue(root / "data" / "sendguard" / "queue"),
        config=config,
        config_path=root / "config.toml",
        state_dir=root / "data" / "sendguard",
        now=lambda: now,
    )
    start = time.perf_counter()
    result: dict[str, float] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        while True:
            screen = app.screen
            if getattr(screen, "loaded", False):
                break
            await asyncio.sleep(0.005)
        await pilot.pause()  # the paint after the rows arrived
        result["first_paint_s"] = time.perf_counter() - start
        result["rows"] = screen.query_one(RowList).row_count
        for key, repeat in (("down", 200), ("pagedown", 50), ("end", 5), ("home", 5)):
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                times.append(time.perf_counter() - t0)
            result[f"{key}_mean_ms"] = statistics.mean(times) * 1000
            result[f"{key}_max_ms"] = max(times) * 1000
        table = screen.query_one(RowList)
        times = []
        for start_row in range(0, 9000, 450):  # draw a whole screen of rows never drawn before
            table.cursor = start_row
            table._cells.clear()
            t0 = time.perf_counter()
            for y in range(table.size.height):
                table.render_line(y)
            times.append(time.perf_counter() - t0)
        result["draw_uncached_screen_mean_ms"] = statistics.mean(times) * 1000
        result["draw_uncached_screen_max_ms"] = max(times) * 1000
        t0 = time.perf_counter()
        await pilot.press("slash", *"client7")
        await pilot.pause()
        result["filter_7_keys_s"] = time.perf_counter() - t0
    return result


def bench_tmux(root: Path) -> float | None:
    if not shutil.which("tmux"):
        return None
    exe = Path(sys.executable).parent / "sendguard"
    sock = Path(tempfile.mkdtemp(prefix="sg-tmux-")) / "sock"  # a fresh private server each run
    env = {**os.environ, "XDG_DATA_HOME": str(root / "data"), "HOME": str(root)}
    env.pop("TMUX", None)
    tmux = ["tmux", "-S", str(sock)]
    start = time.perf_counter()
    subprocess.run(
        [
            *tmux,
            "new-session",
            "-d",
            "-s",
            "b",
            "-x",
            "80",
            "-y",
            "24",
            f"{exe} --config {root / 'config.toml'} review",
        ],
        env=env,
        check=True,
    )
    try:
        while time.perf_counter() - start < 30:
            out = subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", "b"], env=env, capture_output=True, text=True, check=False
            ).stdout
            if "in the queue" in out and "loading" not in out:
                return time.perf_counter() - start
            time.sleep(0.01)
        return None
    finally:
        subprocess.run([*tmux, "kill-server"], env=env, capture_output=True, check=False)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    now = time.time()
    root = Path(tempfile.mkdtemp(prefix="sendguard-bench-tui-"))
    empty = Path(tempfile.mkdtemp(prefix="sendguard-bench-tui-empty-"))
    build(empty, 0, now)
    try:
        t0 = time.perf_counter()
        build(root, count, now)
        print(f"built {count} entries in {time.perf_counter() - t0:.1f} s")
        rows_s, shown = bench_rows(root, now)
        print(f"queue_rows: {rows_s * 1000:.0f} ms for {count} entries ({shown} shown in the queue view)")
        t0 = time.perf_counter()
        import textual.app  # noqa: F401

        print(f"import textual.app: {(time.perf_counter() - t0) * 1000:.0f} ms (in-process figures exclude it)")
        for key, value in asyncio.run(bench_app(root, now)).items():
            print(f"app {key}: {value:.3f}" if isinstance(value, float) else f"app {key}: {value}")
        for label, where in (("empty queue", empty), (f"{count} entries", root)):
            walls = [w for w in (bench_tmux(where) for _ in range(3)) if w is not None]
            print(
                f"tmux, {label}: `sendguard review` launch to the counted list on screen: "
                + (f"median {statistics.median(walls):.2f} s, best {min(walls):.2f} s" if walls else "not measured")
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(empty, ignore_errors=True)


if __name__ == "__main__":
    main()
