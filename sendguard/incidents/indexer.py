"""The detached indexer: ``python -m sendguard.incidents.indexer STATE_DIR``.

Started by the observer after each record (never waited for) and by ``sendguard log`` (waited
for, up to a bound). One at a time: whoever holds ``.indexer.lock`` indexes; others exit at
once. After releasing the lock it looks once more for markers written meanwhile, so a record
written while an indexer was finishing is not left behind.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

# Rounds of "index, release, look again" before giving up (markers that keep failing stay).
MAX_ROUNDS = 5


def run(state_dir: Path) -> int:
    from sendguard.incidents.observer import indexer_lock_path
    from sendguard.incidents.store import index_pending, pending_markers
    from sendguard.paths import ensure_private_dir

    ensure_private_dir(indexer_lock_path(state_dir).parent)
    failed: set[str] = set()
    for _ in range(MAX_ROUNDS):
        fd = os.open(indexer_lock_path(state_dir), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return 0  # another indexer is at work and will look again before it exits
            report = index_pending(state_dir)
            failed = set(report.failed)
        finally:
            os.close(fd)
        if len(pending_markers(state_dir)) <= len(failed):
            break
    for line in sorted(failed):
        print(f"sendguard: could not index {line}", file=sys.stderr)
    return 1 if failed else 0


def index_now(state_dir: Path, wait: float) -> int:
    """Index pending records in an indexer process, waiting at most ``wait`` seconds for it;
    returns how many records are still pending. For ``sendguard log`` and the review screen:
    a database locked by someone else delays the index, never the caller by more than ``wait``."""
    import subprocess

    from sendguard.incidents.store import pending_markers

    if not pending_markers(state_dir):
        return 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "sendguard.incidents.indexer", str(state_dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        pass  # it goes on by itself and indexes them once the lock is free
    return len(pending_markers(state_dir))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m sendguard.incidents.indexer STATE_DIR", file=sys.stderr)
        return 64
    return run(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
