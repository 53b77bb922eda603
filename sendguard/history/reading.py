"""Reading mail for a Learner on another core while it writes (``sendguard learn``).

Parsing a message and reading its words and voice (``learn.observe``) is about a third of what
learning costs, and needs nothing but the message: a process forked from this one observes
chunks of messages, and the learner takes the observations in the order the messages were read,
so the history is the one learning them in turn gives. The learner's counts (``added``,
``received``) cover a message once ``drain`` has taken it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from sendguard.history.learn import BATCH, observe

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from sendguard.history.learn import Learner, Observed

AHEAD = 1
"""Chunks handed out beyond the one the learner takes next: the reader reads the next chunk
while the learner writes one. A chunk is a learner's batch (``learn.BATCH`` messages, one write):
the learner's work comes in those writes, so a smaller chunk would leave the reader idle during
each and the learner waiting between them."""


def _observe_all(raws: list[bytes], own: set[str], org_domains: list[str]) -> list[Observed | None]:
    return [observe(raw, own, org_domains) for raw in raws]


def _serve(chunks: Any, conn: Connection, own: set[str], org_domains: list[str]) -> None:
    """The reader: chunks in (a queue the learner's feeder thread fills, so handing out never
    waits), observations out, until None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the learner's to decide on
    while (raws := chunks.get()) is not None:
        conn.send(_observe_all(raws, own, org_domains))


def another_core() -> bool:
    """Whether this process may use another core, for the reader."""
    return len(os.sched_getaffinity(0)) > 1


class Reading:
    """``add`` hands a message to the reader (or, without one, to the learner at once). Use as a
    context manager inside the Learner's: leaving it takes every message read (also on Ctrl-C,
    as the learner keeps what was read), unless something else went wrong."""

    def __init__(self, learner: Learner, reader: bool | None = None, chunk: int = BATCH) -> None:
        """``reader``: whether to fork one (by default, when there is another core)."""
        self.learner = learner
        self.size = chunk
        self.conn: Connection | None = None
        self.process: BaseProcess | None = None
        if another_core() if reader is None else reader:
            # fork: the reader needs nothing but this module's code, which this process has
            # loaded; it never touches the learner's database connection
            context = multiprocessing.get_context("fork")
            self.conn, theirs = context.Pipe(duplex=False)
            self.chunks = context.Queue()
            self.process = context.Process(
                target=_serve, args=(self.chunks, theirs, learner.own, learner.org_domains), daemon=True
            )
            self.process.start()
            theirs.close()
        self.chunk: list[bytes] = []
        self.out: deque[list[bytes]] = deque()
        """The chunks handed out and not taken yet: learned here if the reader dies."""

    def __enter__(self) -> Reading:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        try:
            if kind is None or issubclass(kind, KeyboardInterrupt):
                self.drain()
        finally:
            self._close()

    def add(self, raw: bytes) -> None:
        if self.conn is None:
            self.learner.add(raw)
            return
        self.chunk.append(raw)
        if len(self.chunk) >= self.size:
            self._hand_out()

    def drain(self) -> None:
        """Take every message handed out: the learner's counts are whole afterwards."""
        if self.chunk:
            self._hand_out()
        while self.out:
            self._take()

    def _hand_out(self) -> None:
        # a chunk grows only while the reader lives (``add``), and is handed out at once when full
        self.chunks.put(self.chunk)
        self.out.append(self.chunk)
        self.chunk = []
        while len(self.out) > AHEAD:
            self._take()

    def _take(self) -> None:
        assert self.conn is not None
        try:
            observed: list[Observed | None] = self.conn.recv()
        except (EOFError, OSError):  # the reader died (killed, out of memory): read here from now on
            self._close()
            while self.out:
                for raw in self.out.popleft():
                    self.learner.add(raw)
            return
        self.out.popleft()
        for one in observed:
            self.learner.add_observed(one)

    def _close(self) -> None:
        if self.process is not None and self.conn is not None:
            self.conn.close()
            self.process.kill()
            self.process.join()
            self.chunks.cancel_join_thread()  # what it still holds is for nobody now
            self.chunks.close()
        self.conn = None
