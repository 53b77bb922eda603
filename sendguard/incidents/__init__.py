"""The incident log: every decision sendguard makes, kept as mail a person can read and search.

Under the state dir: ``incidents/`` (a maildir and sendguard's own notmuch database) and
``incidents-pending/`` (a marker per record not yet indexed). Modules: ``record`` (build and write;
no notmuch), ``observer`` (the events hook), ``store`` (notmuch2: index and search), ``indexer``
(the detached process). Why mail, and why two steps: ARCHITECTURE.md, "Processes".
"""

from __future__ import annotations

from pathlib import Path


def log_dir(state_dir: Path) -> Path:
    """The maildir and notmuch root of the incident log."""
    return state_dir / "incidents"


def pending_dir(state_dir: Path) -> Path:
    """Markers of records written but not yet indexed (outside the notmuch root on purpose)."""
    return state_dir / "incidents-pending"
