"""``sendguard forget ID|MESSAGE-ID...``: a message was a mistake; take it out of the history.

ID is a queue entry (its message is read from the queue, or from the incident log once the
queue pruned it); anything else is a Message-ID. Either way the Message-ID is remembered, so
``learn`` never takes the message in again (the mail program filed a copy in Sent).
"""

from __future__ import annotations

import click

from sendguard.cli import complete
from sendguard.errors import QueueError, UsageError
from sendguard.printable import printable


@click.command()
@click.argument(
    "refs", nargs=-1, metavar="ID|MESSAGE-ID...", shell_complete=complete.incident_ids("tag:delivered", "delivered")
)
@click.pass_obj
def forget(state, refs: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
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
            what = printable(done.msgid)
            if done.learned:
                click.echo(f"forgot <{what}>: taken out of the history ({done.contacts} contacts); never learned again")
            else:
                click.echo(f"<{what}> was not in the history; it will never be learned")
    finally:
        db.close()
