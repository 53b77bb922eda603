"""``sendguard review``: the Textual review screen.

Textual is imported only here, inside the command, so no other command (and never the send
path) pays its ~0.5 s import. The config is loaded before the screen opens: a broken config is
reported on the terminal like in every other command, not inside a half-drawn screen.

The queue is read in a thread started *before* Textual is imported, so with a big queue the
file reads overlap the import instead of following it (bench/bench_tui.py).

``--postfix`` (the default where ``[milter] hold = "quarantine"``): Postfix's hold queue, what
``sendguard milter`` quarantined, for an administrator; ``--no-postfix``: one's own queue.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from sendguard.errors import UsageError


@click.command()
@click.option(
    "--postfix/--no-postfix",
    default=None,
    help="Postfix's hold queue (what `sendguard milter` quarantined), not your own queue. "
    'Default: on where [milter] hold = "quarantine".',
)
@click.pass_obj
def review(state, postfix: bool | None) -> None:  # type: ignore[no-untyped-def]
    """See what was held, fix it with one key, and move on."""
    from sendguard import paths

    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise UsageError("sendguard review needs a terminal", hints=["use `sendguard queue list` in scripts"])
    config_path = state.config_path
    config = state.config
    if postfix is None:
        postfix = config.milter.hold == "quarantine"
    prefetch = None if postfix else _start_reading_queue()
    from sendguard.tui.app import run

    run(config, config_path or paths.config_path(), prefetch, postfix=postfix)


def _start_reading_queue() -> Any:
    """The first queue view, computed in a thread; a Future of review_data.queue_rows."""
    import threading
    import time
    from concurrent.futures import Future

    from sendguard.act.queue import Queue
    from sendguard.recover.review_data import queue_rows

    future: Future = Future()  # type: ignore[type-arg]

    def read() -> None:
        try:
            future.set_result(queue_rows(Queue.default(), time.time()))
        except BaseException as err:  # noqa: BLE001 — handed to the screen, which shows it
            future.set_exception(err)

    threading.Thread(target=read, name="sendguard-queue-prefetch", daemon=True).start()
    return future
