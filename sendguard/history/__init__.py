"""The history: what sendguard learned from the user's own mail.

``open_for_check`` is the send path's hook (``CheckContext.history``): it opens the sqlite file
read-only and returns None when nothing has been learned, so rules that need a history simply
find nothing to say. Everything else (learning, the delivery observer, trust) writes through
``store.open_for_write``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_for_check(state_dir: Path) -> Any:
    """The history store for the send path, or None when nothing has been learned yet."""
    from sendguard.history.store import open_read_only

    return open_read_only(state_dir)
