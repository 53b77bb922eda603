"""The incident log: every decision sendguard makes, kept as mail a person can read and search.

Layout under the state dir (``$XDG_DATA_HOME/sendguard``)::

    incidents/            a maildir (cur/ new/ tmp/) and the root of a notmuch database
    incidents/.notmuch/   sendguard's own notmuch database (never the user's)
    incidents-pending/    one empty marker per record not yet indexed

Why mail: a record is an RFC 5322 message (a readable summary, the original attached as
message/rfc822), so any mail program or notmuch front end can open the log, and notmuch's
query language searches it for free.

Why two steps: writing a record (record.py) is a plain file write that the send path can
afford; indexing it (store.py, notmuch2) happens in another process — a detached indexer
started after each write, or ``sendguard log`` before it searches. The marker is created
*before* the record is renamed into the maildir, so a crash leaves at worst a marker without
a record (dropped by the indexer), never a record nobody will index. A notmuch that is
missing or locked only delays indexing; the record is already on disk.

Modules: ``record`` (build and write; no notmuch), ``observer`` (the events.OBSERVERS hook),
``store`` (notmuch2: index and search), ``indexer`` (the detached process).
"""

from __future__ import annotations

from pathlib import Path


def log_dir(state_dir: Path) -> Path:
    """The maildir and notmuch root of the incident log."""
    return state_dir / "incidents"


def pending_dir(state_dir: Path) -> Path:
    """Markers of records written but not yet indexed (outside the notmuch root on purpose)."""
    return state_dir / "incidents-pending"
