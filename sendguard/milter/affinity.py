"""The idle check workers, handed out with sender affinity.

A worker keeps what a check looked up in a sender's history for the next check of that sender
(history.store: the word counts, the vocabulary, the confusable contacts). With every worker
checking every sender, each worker builds the same memo for each sender; a history changed by
learning is looked up anew in each. So each sender has a home worker (by a stable hash of its
key), and a worker that comes free serves the messages waiting for it first, in the order they
came, then the oldest other one; a message whose home worker is busy takes any idle one rather
than wait, so no worker idles while a message waits (bench/README.md, "sender affinity").
"""

from __future__ import annotations

import threading
import time
import zlib
from typing import Generic, Protocol, TypeVar


class Slotted(Protocol):
    slot: int


W = TypeVar("W", bound=Slotted)


class _Waiter(Generic[W]):
    """A check waiting for a worker: woken alone when one is handed to it (waking every waiting
    connection thread on each reply cost the milter process ~25 us a message, bench/README.md)."""

    __slots__ = ("home", "worker", "woken")

    def __init__(self, home: int, lock: threading.Lock) -> None:
        self.home = home
        self.worker: W | None = None
        self.woken = threading.Condition(lock)


def home_of(sender: str, slots: int) -> int:
    """The home slot of a sender: the same in every process and run (not Python's salted hash)."""
    return zlib.crc32(sender.encode("utf-8", "surrogateescape")) % max(slots, 1)


class IdleWorkers(Generic[W]):
    """Idle workers and the checks waiting for one; ``get`` and ``put`` as a queue's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[W] = []
        self._waiting: list[_Waiter[W]] = []

    @property
    def queue(self) -> list[W]:
        """The idle workers now (a copy)."""
        with self._lock:
            return list(self._free)

    def qsize(self) -> int:
        with self._lock:
            return len(self._free)

    def waiting(self) -> int:
        """How many checks wait for a worker now."""
        with self._lock:
            return len(self._waiting)

    def get(self, timeout: float | None = None, home: int | None = None) -> W:
        """An idle worker, the one of slot ``home`` if it is idle; waits at most ``timeout``
        seconds for one to come free (TimeoutError after that)."""
        with self._lock:
            if self._free:
                worker = next((w for w in self._free if w.slot == home), self._free[0])
                self._free.remove(worker)
                return worker
            waiter: _Waiter[W] = _Waiter(-1 if home is None else home, self._lock)
            self._waiting.append(waiter)
            end = None if timeout is None else time.monotonic() + timeout
            while waiter.worker is None:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    self._waiting.remove(waiter)
                    raise TimeoutError
                waiter.woken.wait(left)
            return waiter.worker

    def put(self, worker: W) -> None:
        """A worker comes free: to the first check waiting for its slot, else to the first
        waiting, else idle."""
        with self._lock:
            waiter = next((w for w in self._waiting if w.home == worker.slot), None)
            if waiter is None and self._waiting:
                waiter = self._waiting[0]
            if waiter is None:
                self._free.append(worker)
                return
            self._waiting.remove(waiter)
            waiter.worker = worker
            waiter.woken.notify()
