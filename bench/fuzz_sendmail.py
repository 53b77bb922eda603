#!/usr/bin/env python3
"""Fuzz the sendmail entry with internationalised and malformed headers; count exit-70 crashes.

    .venv/bin/python bench/fuzz_sendmail.py [-n 5000] [--seed 0]

Every input comes from tests/support/intl_mail.py (RFC 6531 addresses, raw 8-bit headers in
several charsets, bogus charsets and encodings in encoded words, odd MIME parameters) and runs
through the real send path (sendpath.path.SendPath.run, the code behind sendguard-sendmail)
in this process, with a transport that swallows the mail, in a throw-away HOME/XDG tree.
Prints the exit-code distribution and every seed that exited 70 (an internal error).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sendguard-fuzz-"))
    from tests.support.isolated import private_dirs, swallowing_config

    os.environ.update(private_dirs(root), SENDGUARD_RESIDENT="0")
    from sendguard.act import queue as q
    from sendguard.sendpath.path import SendPath
    from tests.support import intl_mail

    config = swallowing_config(root)
    codes: Counter[int] = Counter()
    crashes = []
    start = time.perf_counter()
    for n in range(args.n):
        seed = args.seed + n
        argv, raw = intl_mail.message(random.Random(seed))
        err = io.StringIO()
        queue = q.Queue(root / "queue" / str(seed))
        code = SendPath(config, err, queue=queue).run(argv, io.BytesIO(raw))
        codes[code] += 1
        if code == 70 or "internal-error" in err.getvalue():
            crashes.append((seed, err.getvalue().splitlines()[:2]))
    elapsed = time.perf_counter() - start
    print(f"inputs: {args.n} (seeds {args.seed}..{args.seed + args.n - 1}), {elapsed:.1f} s")
    print("exit codes: " + ", ".join(f"{code}: {count}" for code, count in sorted(codes.items())))
    print(f"exit 70 or internal-error findings: {len(crashes)}")
    for seed, lines in crashes[:20]:
        print(f"  seed {seed}: {' | '.join(lines)}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
