"""An observer for tests/test_observers_detached.py: slow, or failing, on demand (by event)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def observe(entry: Any, event: str, config: Any) -> None:
    if entry.meta.get("subject") == "fail":
        raise RuntimeError("this observer is broken")
    time.sleep(float(os.environ.get("SLOW_OBSERVER_SECONDS", "1.5")))
    state_dir = Path(entry.path).parent.parent
    (state_dir / "slow-observer-saw").write_text(f"{entry.id} {event} {entry.meta['state']}")
    if entry.meta.get("subject") == "one":
        (state_dir / "first-observer-done").write_text(repr(time.time()))
