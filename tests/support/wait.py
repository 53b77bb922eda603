"""Waiting for an event in a test: poll a condition until it holds, up to a deadline.

A test waits for what it needs (a file, a process gone, a message at the relay), never for a
fixed time: on a loaded machine a fixed sleep is either too short (a flake) or wasted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sendguard.detached import process_alive  # noqa: F401 — the tests' one test for a running process

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something true, or until
    ``timeout`` seconds have passed; returns its last value (true, or false after the timeout),
    so the caller asserts it with its own message: ``assert wait_until(lambda: path.exists())``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def pid_in(path: Path, timeout: float = 30.0) -> int | None:
    """The pid written to ``path`` (a number, perhaps with a newline), once it is there; None if
    it did not appear within ``timeout`` seconds."""

    def read() -> int | None:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):  # not written yet, or half
            return None

    return wait_until(read, timeout, 0.01)
