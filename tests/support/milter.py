"""Drive a milter Policy the way the milter process does (sendguard.milter.adapter), its check
workers in process or over pipes, and a policy whose check breaks."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sendguard.milter.policy import Outcome, Policy, Transaction

if TYPE_CHECKING:
    from sendguard.config.schema import Config
    from sendguard.milter.lifecycle import WorkerPool

ME = "me@nordwerk.example"
HOLD_OUTSIDE = (
    '[organization]\ndomains = ["nordwerk.example"]\n\n[log]\nnotmuch = false\n\n'
    '[rules.external-recipient]\naction = "hold"\n'
)
"""Mail to anyone outside nordwerk.example is held."""


def tx(raw: bytes, to: str = "anna@kundenfirma.example") -> Transaction:
    """``raw`` from ME (logged in as ME) to ``to``, as Postfix's queue id Q1 shows it."""
    return Transaction(ME, ME, [to], raw, "Q1")


def answer(policy: Policy, tx: Transaction, cancelled: Any = None) -> Outcome:
    """``policy.judge``, and then what the adapter does once it has handed a hold's 550 to the
    MTA: note the copy as told, so that an identical resend may confirm it."""
    outcome = policy.judge(tx, cancelled)
    if outcome.untold:
        policy.told(outcome.entry_id)
    return outcome


class Broken(Policy):
    """A policy whose check raises ``error`` on every message (a rule that breaks on it)."""

    def __init__(self, *args: Any, error: type[BaseException] = RuntimeError, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error = error

    def judge(self, tx: Transaction, cancelled: Any = None) -> Outcome:
        raise self.error("boom")


@contextlib.contextmanager
def worker_pool(policy: Policy, count: int = 1, timeout: float = 30) -> Iterator[WorkerPool]:
    """Real check workers for ``policy``, closed (each one waited for) however the test ends."""
    from sendguard.milter.lifecycle import WorkerPool

    pool = WorkerPool(policy, count=count, timeout=timeout)
    try:
        yield pool
    finally:
        pool.close()


def wait_for_worker(pool: WorkerPool, what: str = "a worker") -> None:
    """Until the pool's one worker is idle (a new one started after the last died or was killed)."""
    from tests.support.postfix import wait_until

    wait_until(lambda: pool.idle.qsize() == 1, 60, what)


class PipedWorker:
    """The check worker's own loop (worker.serve) on a thread, spoken to over pipes as the milter
    process speaks to it: ``config`` and ``root`` first, then a message and its deadline at a time."""

    def __init__(self, config: Config, root: Path) -> None:
        from sendguard.milter import worker

        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        stdin, self.requests = os.fdopen(to_worker_r, "rb"), os.fdopen(to_worker_w, "wb")
        self.answers, stdout = os.fdopen(from_worker_r, "rb"), os.fdopen(from_worker_w, "wb")
        self.thread = threading.Thread(target=worker.serve, args=(stdin, stdout), daemon=True)
        self.thread.start()
        worker.write_frame(self.requests, (config, root))
        assert worker.read_frame(self.answers) == "ready"

    def ask(self, tx: Transaction, deadline: float = 1e12) -> Outcome:
        from sendguard.milter import worker

        worker.write_frame(self.requests, (tx, deadline))
        return worker.read_frame(self.answers)  # type: ignore[no-any-return]

    def stop(self, timeout: float) -> None:
        """EOF, as when the milter stops: the worker learns what it holds and returns."""
        self.requests.close()
        self.thread.join(timeout)
