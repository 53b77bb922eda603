"""Waiting for the review app's workers in pilot tests (tests/unit/test_tui_*.py and others).

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


async def settle(pilot: Any) -> None:
    """Let workers and the messages they post run to the end (jobs chain into reloads), then
    assert the app met no internal error (it shows them, but in a test every one is a bug).

    At least four rounds, and then until two rounds in a row found no worker at work: a job's
    result reaches the app as a message after its worker finished, and may start the next worker
    (a reload) only then, later on a loaded machine than four rounds allow."""
    idle = 0
    for done in range(ROUNDS):
        await pilot.pause()
        if any(not worker.is_finished for worker in pilot.app.workers):
            idle = 0
            await wait_for_workers(pilot.app)
        else:
            idle += 1
        if done >= 3 and idle >= 2:
            break
    else:
        raise AssertionError(f"the app did not settle in {ROUNDS} rounds: {list(pilot.app.workers)}")
    assert not pilot.app.internal_errors
