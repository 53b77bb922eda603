"""The milter process: warm up, listen, judge each message under a time limit, work in the background.

* One checker thread judges messages one at a time: the rules are Python (one core under the
  GIL either way) and the history stores they open are not shared between threads. Each
  message waits at most ``[milter] timeout`` seconds, queueing included; past that the client
  gets 451 (try again) and the late result changes nothing (policy: ``cancelled``).
* One background thread learns what was let through and sends quarantine notices, after the
  reply: the client never waits for SQLite or for a notice mail.
* libmilter owns the socket and the signals: SIGTERM or SIGINT stop it; then the background
  work still queued is finished (bounded) before the process exits.

Postfix must be told what to do when the milter is away (``milter_default_action = tempfail``,
README "For a team"): then a milter that is down, slow or killed costs a retry, never a message.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from sendguard.milter.policy import Outcome, Policy, Transaction, tempfail
from sendguard.printable import printable

NAME = "sendguard"


def _log(line: str) -> None:
    print(f"sendguard-milter: {line}", file=sys.stderr, flush=True)


class Background:
    """One thread running jobs in order; a failing job is logged in one line and skipped."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="sendguard-background", daemon=True)
        self.thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self.jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                if job is None:
                    return
                job()
            except Exception as err:  # noqa: BLE001 — learning or a notice must never stop the milter
                _log(f"background work failed: {type(err).__name__}: {printable(str(err))}")
            finally:
                self.jobs.task_done()

    def stop(self, timeout: float) -> None:
        self.jobs.put(None)
        self.thread.join(timeout)


class Checker:
    """``policy.judge`` on one thread, with a deadline per message."""

    def __init__(self, policy: Policy, timeout: float) -> None:
        self.policy = policy
        self.timeout = timeout
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sendguard-check")

    def __call__(self, tx: Transaction) -> Outcome:
        cancelled = threading.Event()
        future = self.pool.submit(self.policy.judge, tx, cancelled)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            cancelled.set()
            _log(f"{tx.queue_id or '-'}: not checked within {self.timeout:g} s: 451, the client retries")
            return tempfail("the check took too long")
        except Exception as err:  # noqa: BLE001 — fail closed, keep the client's copy
            _log(f"{tx.queue_id or '-'}: check failed: {type(err).__name__}: {printable(str(err))}")
            return tempfail("internal error")

    def warm_up(self) -> None:
        """Import the rules and the message parser before the first mail, not during it."""
        from sendguard.decide import check  # noqa: F401
        from sendguard.rules import load_rules

        load_rules()


def serve(spec: str, policy: Policy, timeout: float) -> None:
    """Run the milter on ``spec`` until a signal stops it."""
    from sendguard.milter import adapter

    background = Background()
    policy.later = background.submit
    checker = Checker(policy, timeout)
    started = time.monotonic()
    checker.warm_up()
    _log(
        f"listening on {spec} (hold = {policy.config.milter.hold}, state {policy.root}; ready in {time.monotonic() - started:.2f} s)"
    )
    try:
        # libmilter's own MTA timeout: how long it waits on a silent MTA before dropping it.
        adapter.run(NAME, spec, checker, mta_timeout=max(int(timeout) * 2, 30))
    finally:
        checker.pool.shutdown(wait=False, cancel_futures=True)
        background.stop(timeout=30)
        _log("stopped")
