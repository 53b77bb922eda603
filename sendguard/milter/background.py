"""One background thread for the milter's work off the reply path (learning, notices), in the
milter process and in each check worker."""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable

from sendguard.printable import printable


def log(line: str) -> None:
    """One line on stderr, where the milter's log goes."""
    print(f"sendguard-milter: {line}", file=sys.stderr, flush=True)


class Background:
    """One thread running jobs in order; a failing job is logged in one line (``failed`` and the
    error, through ``log``) and skipped."""

    def __init__(
        self,
        name: str = "sendguard-background",
        log: Callable[[str], None] = log,
        failed: str = "background work failed",
    ) -> None:
        self.log, self.failed = log, failed
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, name=name, daemon=True)
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
                self.log(f"{self.failed}: {type(err).__name__}: {printable(str(err))}")
            finally:
                self.jobs.task_done()

    def stop(self, timeout: float) -> None:
        self.jobs.put(None)
        self.thread.join(timeout)
