"""Times as sendguard stores them: ISO 8601 in UTC, to the second."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_iso(now: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if now is None else now, UTC).isoformat(timespec="seconds")
