"""Reading mail for a Learner on the other cores while it writes (``sendguard learn``).

Parsing a message and reading its words and voice (``learn.observe``) is about half of what
learning costs, and needs nothing but the message: processes forked from this one observe
chunks of messages, and the learner takes their observations in the order the messages were
read, so the history is the one learning them in turn gives. The learner's counts (``added``,
``received``) cover a message once ``drain`` has taken it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from multiprocessing.pool import AsyncResult, Pool
from typing import TYPE_CHECKING

from sendguard.history.learn import observe

if TYPE_CHECKING:
    from sendguard.history.learn import Learner, Observed

CHUNK = 64
"""Messages per task: one task's overhead (~0.1 ms, both ways) is then small against observing
64 messages (~0.25 ms each)."""
AHEAD = 4
"""Chunks handed out before the learner waits for the oldest: the readers never idle while the
learner writes, and at most AHEAD * CHUNK messages are in memory twice."""


def _observe_all(raws: list[bytes], own: set[str], org_domains: list[str]) -> list[Observed | None]:
    return [observe(raw, own, org_domains) for raw in raws]


def _quiet() -> None:
    """A reader ignores Ctrl-C: the learner decides what an interrupted run keeps."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def readers() -> int:
    """How many processes may read beside the learner: the other cores this process may use."""
    return len(os.sched_getaffinity(0)) - 1


class Reading:
    """``add`` hands a message to the readers (or, without any, to the learner at once). Use as
    a context manager inside the Learner's: leaving it takes every message read (also on
    Ctrl-C, as the learner keeps what was read), unless something else went wrong."""

    def __init__(self, learner: Learner, processes: int | None = None) -> None:
        self.learner = learner
        processes = readers() if processes is None else processes
        # fork: the readers need nothing but this module's code, which this process has loaded;
        # they never touch the learner's connection and end with os._exit
        self.pool: Pool | None = (
            multiprocessing.get_context("fork").Pool(processes, initializer=_quiet) if processes > 0 else None
        )
        self.chunk: list[bytes] = []
        self.pending: deque[AsyncResult[list[Observed | None]]] = deque()

    def __enter__(self) -> Reading:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        try:
            if kind is None or issubclass(kind, KeyboardInterrupt):
                self.drain()
        finally:
            if self.pool is not None:
                self.pool.terminate()
                self.pool.join()

    def add(self, raw: bytes) -> None:
        if self.pool is None:
            self.learner.add(raw)
            return
        self.chunk.append(raw)
        if len(self.chunk) >= CHUNK:
            self._hand_out()

    def drain(self) -> None:
        """Take every message handed out: the learner's counts are whole afterwards."""
        if self.chunk:
            self._hand_out()
        while self.pending:
            self._take()

    def _hand_out(self) -> None:
        assert self.pool is not None
        learner = self.learner
        self.pending.append(self.pool.apply_async(_observe_all, (self.chunk, learner.own, learner.org_domains)))
        self.chunk = []
        while len(self.pending) > AHEAD:
            self._take()

    def _take(self) -> None:
        for observed in self.pending.popleft().get():
            self.learner.add_observed(observed)
