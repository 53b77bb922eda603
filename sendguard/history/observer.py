"""The delivery observer: every message sendguard delivers is added to the history.

Registered in ``events.OBSERVERS``; runs after delivery, so it can never cost the user a
message (events.emit reports a failure in one line and carries on). Learning is idempotent,
so the same message turning up later in the sent folder changes nothing.

A held message the user discarded, or sent again fixed (superseded), or one taken back in the
undo window, was a mistake caught in time: its Message-ID is recorded as forgotten
(history/forget.py), so the copy the mail program filed in Sent is never learned. Should that
very message leave later (its draft sent again), it is learned after all.

A draft of ``oops``, sent (the apology to whoever got a mistake, the forward to whom it was
meant for, the facts for the manager), is about the mistake: it is kept out the same way.
"""

from __future__ import annotations

from typing import Any

from sendguard import paths
from sendguard.history.forget import forget_raw, is_oops_draft, remember_raw
from sendguard.history.learn import Learner
from sendguard.history.store import open_for_write


def observe(entry: Any, event: str, config: Any) -> None:
    # superseded by a fixed message of its own Message-ID: forgetting that id would forget the fix
    if event in ("discarded", "undone") or (event == "superseded" and not entry.meta.get("superseded_same_id")):
        db = open_for_write(paths.state_dir(create=True))
        try:
            forget_raw(db, entry.raw(), config.identity.addresses, config.organization.domains)
        finally:
            db.close()
        return
    if event != "delivered":
        return
    db = open_for_write(paths.state_dir(create=True))
    try:
        if is_oops_draft(db, list(entry.meta.get("envelope") or []), str(entry.meta.get("subject", ""))):
            forget_raw(db, entry.raw(), config.identity.addresses, config.organization.domains)
            return
        remember_raw(db, entry.raw(), config.identity.addresses, config.organization.domains)
        if config.history.learn_delivered:
            with Learner(db, config.identity.addresses, config.organization.domains) as learner:
                learner.add(entry.raw())
    finally:
        db.close()
