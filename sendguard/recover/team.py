"""A sender behind the team's milter, for the administrator acting after a mistake went out.

The milter keeps one history per sender (``STATE/senders/KEY``, milter/senders.py) and a copy of
every message it held (``STATE/queue``); its notices give the sender that copy's id. ``forget
--as`` and ``oops --as`` find both here, so a mistake the sender confirmed leaves that sender's
history as it leaves a single user's. Nothing here needs the milter to stop: forgetting is one
transaction on the history file, which the workers' learning respects (history/learn.py,
``Learner.flush``) and their checks reread once it changed (history/store.py).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sendguard.act import queue as q
from sendguard.errors import QueueError, UsageError
from sendguard.history.forget import Forgotten, forget_raw
from sendguard.history.forget import forget as forget_id
from sendguard.history.store import open_for_write, path_in
from sendguard.milter import senders
from sendguard.printable import printable


@dataclass(frozen=True)
class TeamSender:
    """One sender's place in the milter's state directory."""

    root: Path
    """The milter's state directory (``[milter] state_dir``)."""
    key: str
    """The sender as the milter names them: the login or the envelope sender, lower-cased."""

    @property
    def history(self) -> Path:
        """The directory of their history (what ``learn --as`` seeds and the milter grows)."""
        return senders.sender_dir(self.root, self.key)

    @property
    def queue(self) -> q.Queue:
        return q.Queue(self.root / "queue")

    def learned(self) -> bool:
        return path_in(self.history).exists()


def team_sender(config: Any, given: str) -> TeamSender:
    """``given`` as the milter names senders, in the configured state directory; refused for
    anyone but the user the milter runs as, who could no longer read what root would write."""
    key = senders.key_of(given, None)
    if not key:
        raise UsageError("--as needs the sender's address (or login) as the milter knows them")
    root = senders.state_dir(config)
    try:
        owner = root.stat().st_uid
    except OSError:
        owner = os.getuid()  # nothing there yet: what is asked for is not there either, and says so
    if owner != os.getuid():
        try:
            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            name = str(owner)
        raise UsageError(
            f"{root} belongs to {name}: run this as {name} (sudo -u {name} sendguard ...), "
            "so that the milter can still read what it changes"
        )
    return TeamSender(root, key)


def kept_copy(sender: TeamSender, ref: str) -> q.Entry:
    """The milter's copy ``ref`` of a message of ``sender``."""
    try:
        entry = sender.queue.get(ref)
    except QueueError:
        raise UsageError(
            f"{printable(ref)}: the milter kept no such message (in {sender.queue.root})",
            hints=["a copy goes after [milter] keep_days; its Message-ID still works for forget --as"],
        ) from None
    owner = str(entry.meta.get("milter_sender", ""))
    if owner != sender.key:
        raise UsageError(
            f"{entry.id} is a message of {printable(owner) or 'another sender'}, not of {printable(sender.key)}"
        )
    return entry


def own_addresses(sender: TeamSender, meta: Any) -> list[str]:
    """Whose mail counts as sent, as the milter's check has it: the sender and the envelope sender."""
    found = [sender.key, str(meta.get("sender", "") if meta else "").strip("<>").lower()]
    return [a for a in dict.fromkeys(found) if "@" in a] or [sender.key]


def forget(sender: TeamSender, ref: str, org_domains: list[str]) -> Forgotten:
    """Take a message out of the sender's history and keep it out: ``ref`` is the id of a kept
    copy or the Message-ID of anything the milter let through (its ledger has what it learned)."""
    entry = None if "@" in ref else kept_copy(sender, ref)
    if entry is None and not sender.learned():
        raise UsageError(
            f"the milter has no history for {printable(sender.key)} (in {sender.root / 'senders'})",
            hints=["give the sender as the milter knows them: their login, else their envelope sender"],
        )
    db = open_for_write(senders.sender_dir(sender.root, sender.key, create=True))
    try:
        if entry is None:
            return forget_id(db, ref)
        done = forget_raw(db, entry.raw(), own_addresses(sender, entry.meta), org_domains)
    finally:
        db.close()
    if done is None:
        raise UsageError(f"{entry.id}: the message has no usable From: there is nothing learned to forget")
    return done
