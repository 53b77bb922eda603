"""Waiting for the review app's workers in pilot tests (tests/test_tui_*.py).

``app.workers.wait_for_complete()`` raises WorkerCancelled when a worker it waits for is
cancelled by a newer one of its exclusive group — the queue read again by the once-a-second
check while the last read was still at work, which on a loaded machine happens. Such a worker
is superseded, not failed: :func:`wait_for_workers` waits for the newer one instead. A worker
that failed still fails the test.
"""

from __future__ import annotations

from typing import Any

from textual.worker import WorkerCancelled

ROUNDS = 100  # each round waits for the workers running then; new ones start only on events


async def wait_for_workers(app: Any) -> None:
    for _ in range(ROUNDS):
        running = [worker for worker in app.workers if not worker.is_finished]
        if not running:
            return
        for worker in running:
            try:
                await worker.wait()
            except WorkerCancelled:
                continue
    raise AssertionError(f"workers still running after {ROUNDS} rounds: {list(app.workers)}")
