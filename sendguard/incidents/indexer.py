"""The detached indexer: ``python -m sendguard.incidents.indexer [--wait | --locked] STATE_DIR``.

A :class:`~sendguard.runner.Runner`: whoever holds ``.indexer.lock`` indexes the pending records;
others exit at once. Started by the observer (lock handed over, lingering for the rest of a
burst) and by ``sendguard log`` (waited for, bounded): ARCHITECTURE.md, "The incident log".
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from sendguard.incidents import pending_dir
from sendguard.runner import Runner

# Rounds of "index, release, look again": it stops as soon as nothing new is pending; the bound
# only ends a pathological stream (what is left waits for the next event or `sendguard log`).
MAX_ROUNDS = 50
LINGER_SECONDS = 2.0
POLL_SECONDS = 0.05


def notmuch_errors() -> tuple[type[BaseException], ...]:
    import notmuch2

    return (notmuch2.NotmuchError,)


def run(state_dir: Path, *, wait_for_lock: bool = False, locked_fd: int | None = None, linger: float = 0.0) -> int:
    """Index what is pending. ``wait_for_lock``: when another indexer is at work, wait for it
    and then look (``sendguard log`` wants the records indexed, not merely an indexer started).
    ``locked_fd``: the lock, already held for us by whoever started us (observer.py).
    ``linger``: seconds to stay, lock held, for records arriving after the work is done."""
    try:
        from sendguard.incidents import store  # noqa: F401 — notmuch2, checked before anything starts
    except ImportError as err:
        print(f"sendguard: notmuch2 cannot be loaded ({err}); the records wait in {state_dir}", file=sys.stderr)
        return 1
    from sendguard.incidents.observer import indexer_lock_path
    from sendguard.paths import ensure_private_dir

    if not state_dir.is_dir():
        return 0  # removed meanwhile (a demo's throwaway world): do not create it again
    ensure_private_dir(indexer_lock_path(state_dir).parent)
    indexer = Indexer(state_dir, wait_for_lock=wait_for_lock, locked_fd=locked_fd, linger=linger)
    code = indexer.run()
    for line in sorted(indexer.failed):
        print(f"sendguard: could not index {line}", file=sys.stderr)
    return code or (1 if indexer.failed else 0)


class Indexer(Runner):
    """Whoever holds ``.indexer.lock`` indexes; a second indexer exits at once."""

    name = "incident indexer"
    # Rounds of "index, release, look again": it stops as soon as nothing new is pending; the
    # bound only ends a pathological stream (what is left waits for the next event or `log`).
    max_rounds = MAX_ROUNDS

    def __init__(self, state_dir: Path, *, wait_for_lock: bool, locked_fd: int | None, linger: float) -> None:
        from sendguard.incidents.observer import indexer_lock_path

        super().__init__(lock_path=indexer_lock_path(state_dir), lock_fd=locked_fd, wait_for_lock=wait_for_lock)
        self.state_dir = state_dir
        self.lingering = linger > 0
        self.idle = linger if self.lingering else None
        self.failed: set[str] = set()
        self.pieces = 0
        self._fresh = False  # owned just now: index at once, without waiting

    def own(self) -> bool:
        self._fresh = super().own()
        return self._fresh

    def next_work(self, timeout: float | None) -> str | None:
        if self._fresh:
            self._fresh = False
            return "pending"
        if not self._wait_for_more(timeout or 0.0):
            return None
        if not self.let_others_in():  # no one waits for the lock longer than one piece of work
            self.stop()  # whoever took it indexes these
            return None
        return "pending"

    def _wait_for_more(self, seconds: float) -> bool:
        """True as soon as more records are pending than those that failed; False after ``seconds``."""
        import time

        from sendguard.incidents.store import pending_markers

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(pending_markers(self.state_dir)) > len(self.failed):
                return True
            time.sleep(POLL_SECONDS)
        return False

    def work(self, item: str) -> bool:
        from sendguard.incidents.store import index_pending

        self.pieces += 1
        try:
            report = index_pending(self.state_dir)
        except notmuch_errors() as err:
            self.log(f"sendguard: the incident log cannot be indexed: {err}")
            self.code = 1
            self.stop()
            return False
        self.failed = set(report.failed)
        return self.lingering and self.pieces < MAX_ROUNDS

    def more_after_release(self) -> bool:
        """A record written while we were letting go found the lock held and started no indexer."""
        from sendguard.incidents.store import pending_markers

        return self.pieces < MAX_ROUNDS and len(pending_markers(self.state_dir)) > len(self.failed)


@dataclass(frozen=True)
class Pending:
    """What is left after :func:`index_now`: records not yet indexed, and why, if known."""

    count: int
    problem: str = ""


def index_now(state_dir: Path, wait: float) -> Pending:
    """Index pending records in an indexer process, waiting at most ``wait`` seconds for it.
    For ``sendguard log`` and the review screen: a database locked by someone else delays the
    index, never the caller by more than ``wait``; an indexer that failed says why."""
    import subprocess
    import time

    from sendguard.detached import SAFE_PATH
    from sendguard.incidents.observer import indexer_running
    from sendguard.incidents.store import pending_markers

    # An indexer at work (perhaps lingering after a burst of mail) takes what is pending within
    # a poll: wait for that rather than queue up behind its lock.
    deadline = time.monotonic() + wait
    while pending_markers(state_dir) and indexer_running(state_dir) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    wait = max(0.0, deadline - time.monotonic())
    if not pending_markers(state_dir):
        return Pending(0)
    # Its stderr goes to a file, not a pipe: it may outlive us when the database is busy.
    errors = pending_dir(state_dir) / ".indexer.err"
    with open(errors, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, *SAFE_PATH, "-m", "sendguard.incidents.indexer", "--wait", str(state_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        code = proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        return Pending(len(pending_markers(state_dir)), "the notmuch database is busy; they will be indexed later")
    problem = "an indexer is still at work; they will be indexed shortly"
    if code != 0:
        lines = errors.read_text(errors="replace").strip().splitlines()
        problem = lines[-1] if lines else f"the indexer exited with {code}"
    return Pending(len(pending_markers(state_dir)), problem)


def main(argv: list[str]) -> int:
    flag = argv[0] if argv[:1] in (["--wait"], ["--locked"]) else ""
    args = argv[1:] if flag else argv
    if len(args) != 1:
        print("usage: python -m sendguard.incidents.indexer [--wait | --locked] STATE_DIR", file=sys.stderr)
        return 64
    from sendguard.detached import PASSED_FD

    if flag == "--locked":  # started by the observer for the mail just sent: more may follow
        return run(Path(args[0]), locked_fd=PASSED_FD, linger=LINGER_SECONDS)
    return run(Path(args[0]), wait_for_lock=flag == "--wait")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
