"""``sendguard forget [--as SENDER] ID|MESSAGE-ID...``: a message was a mistake; take it out of the history.

ID is a queue entry (its message is read from the queue, or from the incident log once the
queue pruned it); anything else is a Message-ID. Either way the Message-ID is remembered, so
``learn`` never takes the message in again (the mail program filed a copy in Sent). With
``--as``, the history is that sender's in the milter's state directory and ID a copy the milter
kept (recover/team.py).
"""

from __future__ import annotations

import click

from sendguard.cli import complete
from sendguard.cli.words import TEXT
from sendguard.errors import QueueError, UsageError
from sendguard.printable import printable


@click.command()
@click.argument(
    "refs",
    nargs=-1,
    type=TEXT,
    metavar="ID|MESSAGE-ID...",
    shell_complete=complete.incident_ids("tag:delivered", "delivered"),
)
@click.option(
    "--as",
    "as_sender",
    type=TEXT,
    metavar="SENDER",
    help="Forget from this sender's history on the team's milter; ID is a copy the milter kept.",
    shell_complete=complete.milter_senders,
)
@click.pass_obj
def forget(state, refs: tuple[str, ...], as_sender: str | None) -> None:  # type: ignore[no-untyped-def]
    """Remove delivered messages from the learned history; learn never learns them again."""
    from sendguard import paths
    from sendguard.act import queue as q
    from sendguard.history.forget import forget as forget_id
    from sendguard.history.forget import forget_raw
    from sendguard.history.store import open_for_write
    from sendguard.incidents.restore import restore_from_log

    if not refs:
        raise UsageError("nothing to forget: give a queue ID or a Message-ID")
    config = state.config
    if as_sender is not None:
        _forget_as(config, as_sender, refs)
        return
    queue = q.Queue.default()
    db = open_for_write(paths.state_dir(create=True))
    try:
        for ref in refs:
            entry = None
            if "@" not in ref:
                try:
                    entry = queue.get(ref)
                except QueueError:
                    entry = restore_from_log(queue.root.parent, ref)
                if entry is None:
                    raise UsageError(f"{ref}: no such message in the queue or the incident log")
            if entry is not None:
                done = forget_raw(db, entry.raw(), config.identity.addresses, config.organization.domains)
                if done is None:
                    raise UsageError(f"{ref}: the message has no usable From: there is nothing learned to forget")
            else:
                done = forget_id(db, ref)
            _said(done, "the history")
    finally:
        db.close()


def _forget_as(config, as_sender: str, refs: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    from sendguard.recover.team import forget as forget_team
    from sendguard.recover.team import team_sender

    sender = team_sender(config, as_sender)
    for ref in refs:
        _said(forget_team(sender, ref, list(config.organization.domains)), f"{printable(sender.key)}'s history")


def _said(done, where: str) -> None:  # type: ignore[no-untyped-def]
    what = printable(done.msgid)
    if done.learned:
        click.echo(f"forgot <{what}>: taken out of {where} ({done.contacts} contacts); never learned again")
    else:
        click.echo(f"<{what}> was not in {where}; it will never be learned")
