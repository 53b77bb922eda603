"""``oops --as SENDER``: the record and the drafts for a mistake that left through the team's milter.

The same record and drafts as a user's own ``oops`` (recover/oops.py), for the milter's copy of a
message whose hold the sender confirmed (or that an administrator released from Postfix's hold
queue): signed as the sender, in their voice from their history, the message forgotten from
it. Record and drafts go to ``STATE/oops/ID`` in the milter's state directory, for the
administrator to hand the drafts to the sender; nothing is sent but, with ``--mail``, one mail to
the sender with the drafts attached (:func:`mail_sender`).
"""

from __future__ import annotations

import copy
import email
import email.utils
import json
from pathlib import Path
from typing import Any

from sendguard.act import queue as q
from sendguard.config.schema import IdentitySection
from sendguard.errors import UsageError
from sendguard.fsutil import atomic_write
from sendguard.history.ledger import own_display_name
from sendguard.milter import senders
from sendguard.milter.retention import undecided_quarantine
from sendguard.paths import ensure_private_dir
from sendguard.printable import printable
from sendguard.recover.breach_record import record_text
from sendguard.recover.oops import OopsReport, report
from sendguard.recover.team import TeamSender, kept_copy, own_addresses


def left_at(meta: Any) -> str | None:
    """When the milter's copy left: its resend confirmed the hold, or an administrator released
    it from Postfix's hold queue (milter/postfix.py notes the decision). None: it never left."""
    released = meta.get("postfix_decision") == "released"
    for event in meta.get("events") or []:
        if event.get("state") == q.CONFIRMED or (released and str(event.get("event", "")).startswith("released")):
            return str(event.get("time") or "") or None
    if released:  # the event's text was changed by hand, say: when the copy last changed
        return str(meta.get("updated") or "") or None
    return None


def _not_left(entry: q.Entry) -> UsageError:
    state = entry.state
    if undecided_quarantine(entry.meta):
        queue_id = printable(str(entry.meta.get("postfix_queue_id", "")))
        return UsageError(
            f"message {entry.id} waits in Postfix's hold queue: it did not leave",
            hints=[f"sendguard discard --postfix {queue_id} drops it there"],
        )
    words = {str(q.HELD): "held and not sent again", str(q.BLOCKED): "blocked"}
    what = words.get(str(state), printable(str(state)))
    return UsageError(f"message {entry.id} was {what}: it did not leave, so nothing reached anyone")


def find_left(sender: TeamSender, ref: str | None) -> q.Entry:
    """The kept copy ``ref`` of ``sender``'s message that left, or their latest (``last``)."""
    if ref in (None, "", "last"):
        for entry in reversed(sender.queue.entries()):
            if entry.meta.get("milter_sender") == sender.key and left_at(entry.meta):
                return entry
        raise UsageError(
            f"the milter kept no message of {printable(sender.key)} that left after a hold",
            hints=["a message let through unheld has no copy: forget --as SENDER MESSAGE-ID takes it back"],
        )
    entry = kept_copy(sender, ref)
    if not left_at(entry.meta):
        raise _not_left(entry)
    return entry


def sender_config(config: Any, sender: TeamSender, entry: q.Entry) -> Any:
    """The team's configuration with the sender as the identity (their addresses; their name from
    the message's From, else from what their history learned): the drafts are theirs to sign."""
    msg = email.message_from_bytes(entry.raw())
    shown, addr = email.utils.parseaddr(str(msg.get("From", "")))
    own = own_addresses(sender, entry.meta)
    name = shown.strip() if addr.lower() in own else ""
    if not name and sender.learned():
        name = own_display_name(sender.history)
    mine = copy.copy(config)
    mine.identity = IdentitySection(addresses=own, name=name)
    return mine


def incident_dir(sender: TeamSender, entry_id: str) -> Path:
    """Where an incident's record and drafts live: ``STATE/oops/ID``, beside the milter's queue;
    not pruned with the copies (retention.py), so the record stays for the register."""
    return sender.root / "oops" / entry_id


def oops(
    config: Any,
    sender: TeamSender,
    ref: str | None,
    *,
    now: float,
    wrong: list[str] | None = None,
    intended: list[str] | None = None,
    noticed: float | None = None,
) -> tuple[OopsReport, Path]:
    """``oops`` for the milter's copy of a message of ``sender`` that left: record and drafts in
    :func:`incident_dir`, signed as the sender, the message forgotten from their history. Sends
    nothing. Returns the report and the incident's directory."""
    entry = find_left(sender, ref)
    with sender.queue.locked(entry.id) as locked:  # build_record's "sent"
        if not locked.meta.get("delivered"):
            locked.save(delivered=left_at(locked.meta))
    mine = sender_config(config, sender, entry)
    where = ensure_private_dir(incident_dir(sender, entry.id))
    done = report(
        sender.queue,
        entry.id,
        mine,
        history=senders.sender_dir(sender.root, sender.key, create=True),
        now=now,
        drafts_dir=where / "drafts",
        wrong=wrong,
        intended=intended,
        noticed=noticed,
        observers=("sendguard.incidents.observer",),  # the user's own history and judgement are not involved
    )
    if not mine.identity.name:
        done.notes.append(f"the drafts are not signed: the name of {sender.key} is not known; add it before sending")
    atomic_write(where / "record.txt", record_text(done.record).encode())
    atomic_write(where / "record.json", json.dumps(done.record, indent=1, ensure_ascii=False).encode())
    return done, where


def mail_sender(config: Any, sender: TeamSender, done: OopsReport) -> str:
    """``--mail``: send ``sender`` (them alone) what happened and the drafts attached, through the
    milter's notice command; the address it went to. The files stay where they are either way."""
    import subprocess

    from sendguard.act import notice_texts
    from sendguard.errors import DeliveryError
    from sendguard.exitcodes import ExitCode
    from sendguard.milter import notices

    to = senders.notice_address(sender.root, sender.key, str(done.entry.meta.get("sender") or ""))
    if not notice_texts.deliverable(to):
        raise UsageError(
            f"no address to mail {printable(sender.key)} at: the milter knows none for this sender",
            hints=["the record and drafts are written; hand them over yourself"],
        )
    drafts = [(path.name.split(":")[0].split(".", 2)[-1], path.read_bytes()) for path in done.drafts]
    command = list(config.milter.notice_command)
    try:
        notices.submit(command, notice_texts.oops_mail(to, done.record, drafts))
    except (OSError, subprocess.SubprocessError) as err:
        why = getattr(err, "stderr", b"") or b""
        detail = why.decode("utf-8", "replace").strip().splitlines()[-1:] if isinstance(why, bytes) else []
        raise DeliveryError(
            f"the record and drafts could not be mailed to {to}: {detail[0] if detail else err}",
            exit_code=ExitCode.TEMPFAIL,
            hints=["they are written all the same; hand them over yourself, or try --mail again"],
        ) from None
    return to
