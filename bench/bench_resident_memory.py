#!/usr/bin/env python3
"""Peak memory of the resident checker for one big mail: receive, check, keep, deliver, observe.

    .venv/bin/python bench/bench_resident_memory.py [MB ...]     # default: 20 200

In an isolated HOME (transport: ``cat > /dev/null``, incident log off), a first mail starts the
resident checker; then a mail of MB megabytes (a PDF, base64) goes through ``sendguard-sendmail``.
The figure is the server's peak RSS (``VmHWM`` after ``clear_refs``) above what it held before
the mail, over the mail's size: the target is at most 3.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def message(path: Path, megabytes: int) -> int:
    with path.open("wb") as out:
        out.write(
            b"From: me@nordwerk.example\nTo: m.berger@nordwerk.example\nSubject: report\nMIME-Version: 1.0\n"
            b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n\nsee attached\n--b\n'
            b"Content-Type: application/pdf; name=r.pdf\nContent-Transfer-Encoding: base64\n\n"
        )
        left = megabytes * 1_000_000 * 3 // 4
        first = True
        while left > 0:
            block = os.urandom(min(left, 3 * 1 << 20))
            out.write(base64.encodebytes((b"%PDF-1.4\n" + block[9:]) if first else block))
            first = False
            left -= len(block)
        out.write(b"--b--\n")
    return path.stat().st_size


def one(megabytes: int) -> tuple[int, float, float]:
    root = Path(tempfile.mkdtemp(prefix="sendguard-resident-mem-"))
    env = {**os.environ}
    env.pop("SENDGUARD_RESIDENT", None)
    for var, sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data")):
        (root / sub).mkdir(mode=0o700)
        env[var] = str(root / sub)
    (root / "run").mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(root / "run")
    for var in ("XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env.pop(var, None)
    transport = root / "transport"
    transport.write_text("#!/bin/sh\ncat > /dev/null\n")
    transport.chmod(0o700)
    config = root / "config" / "sendguard" / "config.toml"
    config.parent.mkdir(mode=0o700)
    config.write_text(
        '[identity]\naddresses = ["me@nordwerk.example"]\n[organization]\ndomains = ["nordwerk.example"]\n'
        f'[transport]\ncommand = ["{transport}"]\n[sendmail]\nnotify = false\nresident_idle = 60\n'
        "[log]\nenabled = false\n"
    )
    sendmail = [str(BIN / "sendguard-sendmail")]
    small = b"From: me@nordwerk.example\nTo: m.berger@nordwerk.example\nSubject: first\n\nhello\n"
    subprocess.run([*sendmail, "-t"], input=small, env=env, check=True, capture_output=True)
    pid_file = root / "data" / "sendguard" / "resident.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = int(pid_file.read_text())
    subprocess.run([*sendmail, "-t"], input=small.replace(b"first", b"second"), env=env, check=True)
    big = root / "big.eml"
    size = message(big, megabytes)
    time.sleep(0.5)  # the second mail's observers
    before = kb(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    start = time.monotonic()
    with big.open("rb") as stdin:
        code = subprocess.run([*sendmail, "-t"], stdin=stdin, env=env, check=False).returncode
    seconds = time.monotonic() - start
    time.sleep(1.0)  # its observers run after the client has its exit code
    peak = kb(pid, "VmHWM")
    subprocess.run(["kill", str(pid)], check=False)
    assert code == 0, code
    return size, (peak - before) * 1024 / size, seconds


def main() -> int:
    sizes = [int(a) for a in sys.argv[1:]] or [20, 200]
    print(f"load average (1 min): {os.getloadavg()[0]:.2f}")
    for megabytes in sizes:
        size, ratio, seconds = one(megabytes)
        print(f"{size / 1e6:8.1f} MB  server peak {ratio:.2f}x the message  ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
