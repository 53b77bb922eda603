#!/usr/bin/env python3
"""A 25 MB attachment through every rule: time and peak memory against the message size.

    bench/bench_attachment.py [--mb 25] [--repeat 3]

Three attachments of the given size, each in its own message (base64, as mail programs send
them): random bytes (libmagic says octet-stream), CSV text (goes through text extraction and the
content rules, within their budget), and a zip (listed by attachment-type).

Measured two ways:
* in process: ``check_message`` wall time (best of --repeat) and tracemalloc peak of reading
  plus checking, which includes the raw message itself (tracemalloc counts Python allocations
  only, not libmagic's);
* as the user runs it: ``sendguard check FILE`` in a child process, wall time and the child's
  peak RSS (ru_maxrss) minus the peak RSS of the same command on a tiny message (interpreter
  and libraries), compared with the message size.

Goal: ≤ 1 s and peak ≤ 4x the message size.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def build(kind: str, size: int) -> bytes:
    if kind == "binary":
        data, name = os.urandom(size), "data.bin"
    elif kind == "csv":
        row = b"2026-11-20;Widget 4711;12;19.99;Lager Nord;ok\n"
        data, name = (row * (size // len(row) + 1))[:size], "export.csv"
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("big.bin", os.urandom(size - 200))
            archive.writestr("readme.txt", "see big.bin")
        data, name = buffer.getvalue(), "bundle.zip"
    message = MIMEMultipart()
    message["From"] = "d.wolff@nordwerk.example"
    message["To"] = "m.berger@nordwerk.example"
    message["Subject"] = "the file"
    message.attach(MIMEText("Hello, the file is attached.\n"))
    part = MIMEApplication(data, Name=name)
    part["Content-Disposition"] = f'attachment; filename="{name}"'
    message.attach(part)
    return message.as_bytes()


def in_process(raw: bytes, repeat: int) -> tuple[float, int, str]:
    from sendguard.config.schema import Config
    from sendguard.decide.check import check_message, envelope_for
    from sendguard.mail.message import OutgoingMessage

    config = Config()
    state = Path(tempfile.mkdtemp(prefix="sg-bench-"))
    warm = OutgoingMessage(b"From: a@b.example\nTo: c@d.example\n\nhi\n")
    check_message(warm, config, envelope=envelope_for(warm, [], False), state_dir=state)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        message = OutgoingMessage(raw)
        result = check_message(message, config, envelope=envelope_for(message, [], False), state_dir=state)
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    copy = bytes(memoryview(raw))  # the message as read from stdin, counted too
    message = OutgoingMessage(copy)
    result = check_message(message, config, envelope=envelope_for(message, [], False), state_dir=state)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak, result.decision.verdict.label


def child_run(path: Path) -> tuple[float, int]:
    """Wall time and peak RSS (bytes) of ``sendguard check PATH`` in a fresh process."""
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=False)\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    exe = str(REPO / ".venv" / "bin" / "sendguard")
    out = subprocess.run(
        [sys.executable, "-c", code, exe, "check", str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "HOME": tempfile.mkdtemp(),
            "XDG_CONFIG_HOME": tempfile.mkdtemp(),
            "XDG_DATA_HOME": tempfile.mkdtemp(),
        },
    )
    wall, rss_kb = out.stdout.split()
    return float(wall), int(rss_kb) * 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=25.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    size = int(args.mb * 1024 * 1024)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "tiny.eml"
        tiny.write_bytes(b"From: a@b.example\nTo: c@d.example\nSubject: hi\n\nhi\n")
        child_run(tiny)
        _, base_rss = child_run(tiny)
        print(f"baseline: sendguard check on a tiny message peaks at {base_rss / 1e6:.1f} MB RSS")
        for kind in ("binary", "csv", "zip"):
            raw = build(kind, size)
            path = Path(tmp) / f"{kind}.eml"
            path.write_bytes(raw)
            seconds, peak, verdict = in_process(raw, args.repeat)
            wall, rss = child_run(path)
            ratio = peak / len(raw)
            rss_ratio = (rss - base_rss) / len(raw)
            print(
                f"{kind:6} attachment {size / 1e6:.1f} MB, message {len(raw) / 1e6:.1f} MB, verdict {verdict}: "
                f"check {seconds:.3f} s, tracemalloc peak {peak / 1e6:.1f} MB ({ratio:.2f}x message); "
                f"sendguard check: {wall:.3f} s wall, +{(rss - base_rss) / 1e6:.1f} MB RSS ({rss_ratio:.2f}x message)"
            )
            ok &= seconds <= 1.0 and ratio <= 4.0 and rss_ratio <= 4.0
            del raw
    print("goal (<= 1 s, <= 4x): " + ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
