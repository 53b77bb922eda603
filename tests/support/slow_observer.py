"""An observer for tests/integration/test_observers_detached.py: slow, gated, or failing, on demand.

``SLOW_OBSERVER_GATE`` names a file: the observer waits until it exists before it does anything
(bounded, so a failing test never leaves it behind for long). A test that must see the observer
"still at work" holds the gate closed instead of racing a sleep against the machine's load.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

GATE_BOUND = 120.0  # longer than any subprocess timeout in the tests: a caller that waited for us fails


def observe(entry: Any, event: str, config: Any) -> None:
    if entry.meta.get("subject") == "fail":
        raise RuntimeError("this observer is broken")
    gate = os.environ.get("SLOW_OBSERVER_GATE")
    if gate:
        deadline = time.monotonic() + GATE_BOUND
        while not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    time.sleep(float(os.environ.get("SLOW_OBSERVER_SECONDS", "1.5")))
    state_dir = Path(entry.path).parent.parent
    (state_dir / "slow-observer-saw").write_text(f"{entry.id} {event} {entry.meta['state']}")
    if entry.meta.get("subject") == "one":
        (state_dir / "first-observer-done").write_text(repr(time.time()))
