"""``sendguard learn PATH... [--notmuch QUERY]``: add mail to the history.

Idempotent (a message already learned is skipped), so it can run from cron or a notmuch
post-new hook. A progress bar is shown only when stderr is a terminal. It counts bytes, not
files: a decade of mail in one mbox file is one file, and the bar must still move; the messages
of a notmuch query are counted in the same bar.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path
from typing import TextIO, cast

import click

from sendguard.cli import complete
from sendguard.cli.words import TEXT
from sendguard.errors import UsageError


@click.command()
@click.option(
    "--notmuch", "query", type=TEXT, metavar="QUERY", help="Also learn the messages matching this notmuch query."
)
@click.option(
    "--notmuch-db",
    "notmuch_db",
    type=click.Path(path_type=Path, file_okay=False),
    help="The notmuch database (default: from the notmuch configuration).",
)
@click.option(
    "--as",
    "as_sender",
    type=TEXT,
    metavar="ADDRESS",
    help="Learn into this sender's own history, for `sendguard milter` (mail from ADDRESS counts as sent).",
    shell_complete=complete.milter_senders,
)
@click.option(
    "--address",
    "addresses",
    type=TEXT,
    metavar="ADDRESS",
    multiple=True,
    help="With --as a login that is no address: mail from ADDRESS is theirs (repeatable).",
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_obj
def learn(  # type: ignore[no-untyped-def]
    state,
    query: str | None,
    notmuch_db: Path | None,
    as_sender: str | None,
    addresses: tuple[str, ...],
    paths: tuple[Path, ...],
) -> None:
    """Learn who you write to, with whom and about what, from maildirs, mbox files,
    folders of message files or a notmuch query."""
    from sendguard import paths as sg_paths
    from sendguard.history import arrivals, sources
    from sendguard.history.learn import Learner
    from sendguard.history.reading import Reading
    from sendguard.history.store import HistoryDamaged, open_for_write

    if not paths and not query:
        raise UsageError("nothing to learn from: give PATHs or --notmuch QUERY")
    config = state.config
    own = list(config.identity.addresses)
    if addresses and as_sender is None:
        raise UsageError("--address says whose mail it is for --as; give --as LOGIN too")
    if as_sender is not None:  # one sender's history in the milter's store (senders.py)
        from sendguard.milter import senders

        key = senders.key_of(as_sender, None)
        if not key:
            raise UsageError("--as needs the sender's address (or login)")
        given = [a.strip().lower() for a in addresses if a.strip()]
        if any("@" not in a for a in given):
            raise UsageError("--address needs an email address", hints=["e.g. --address d.wolff@nordwerk.example"])
        if "@" in key:
            own = [key, *given]
        else:  # a login that is no address: --address (else [identity]) says which are theirs
            own = [key, *(given or own)]
        target = senders.sender_dir(senders.state_dir(config), key, create=True)
    else:
        target = sg_paths.state_dir(create=True)
    if not own:
        click.echo("sendguard: warning: [identity] addresses is empty: all mail counts as received", err=True)
    unreadable: list[str] = []  # folders and files that could not be read: said, and the exit code
    started = time.time()  # what comes in after this may not be learned by this run (arrivals)
    per_path = []  # (path, its message files, whether all of it could be read so far)
    for path in paths:
        before = len(unreadable)
        per_path.append((path, list(sources.message_files(path, unreadable)), len(unreadable) == before))
    found = sources.notmuch_files(query, notmuch_db) if query else []
    inboxes: list[arrivals.Source] = []  # the sources this run read received mail from
    db = open_for_write(target)
    try:
        from sendguard.decide.train import Simulator, refresh

        simulate = Simulator(db, config, own=own).examples
        with (
            Learner(db, own, config.organization.domains, simulate) as learner,
            Reading(learner) as reading,
        ):
            show = sys.stderr.isatty()
            with click.progressbar(
                length=max(_size([f for _, files, _ in per_path for f in files] + found), 1),
                label="learning",
                file=sys.stderr if show else cast(TextIO, _Null()),
            ) as bar:
                for path, files, whole in per_path:
                    received, before = learner.received, len(unreadable)
                    for file in files:
                        done = 0
                        try:
                            for raw in sources.read_messages(file):
                                reading.add(raw)
                                bar.update(len(raw))
                                done += len(raw)
                        except sources.LearnSourceError as err:
                            unreadable.append(err.message)
                        bar.update(max(_size([file]) - done, 0))  # mbox separator lines, skipped files
                    reading.drain()  # the learner's counts now hold this path's mail
                    if learner.received > received and whole and len(unreadable) == before:
                        inboxes.append(arrivals.Source(arrivals.PATH, str(path.absolute()), "", started))
                received = learner.received
                for file in found:
                    try:
                        raw = file.read_bytes()
                    except OSError:
                        continue  # notmuch knows a file that is gone: nothing to learn from it
                    reading.add(raw)
                    bar.update(len(raw))
                reading.drain()
                if query and learner.received > received:
                    database = str(notmuch_db.absolute()) if notmuch_db else ""
                    inboxes.append(arrivals.Source(arrivals.NOTMUCH, query, database, started))
        arrivals.note(db, inboxes)
        fitted = refresh(db, config, own=own)
    except sqlite3.DatabaseError as err:  # a page damaged past what opening it reads
        HistoryDamaged.reraise(err, target)
    finally:
        db.close()
    click.echo(f"learned {learner.added} new messages ({learner.skipped} already known or unusable)")
    if fitted is not None:
        click.echo(fitted.operating_point())
    _propose_clients(config)
    if unreadable:
        from sendguard.printable import printable

        for line in unreadable:
            click.echo(f"sendguard: error: {printable(line)}: nothing in it was learned", err=True)
        click.echo("sendguard: learn it again once it can be read (mail learned twice counts once)", err=True)
        sys.exit(int(sources.LearnSourceError.exit_code))


def _propose_clients(config) -> None:  # type: ignore[no-untyped-def]
    """Name the clients the history now shows that the config lacks, and how to add them."""
    from sendguard.cli.setup_cmd import missing_clients

    missing = missing_clients(config)
    if not missing:
        return
    click.echo("\nClients in your history that the config lacks:")
    for name, domain, sent in missing:
        click.echo(f"  {name}: {domain} ({sent} mails sent)")
    if config.path is None:
        click.echo("Write a config with them: sendguard setup")
    else:
        click.echo("Add them (your config's comments are kept): sendguard setup --add-clients")


def _size(files: list[Path]) -> int:
    total = 0
    for file in files:
        try:
            total += file.stat().st_size
        except OSError:
            continue  # gone meanwhile: reading it will say so
    return total


class _Null:
    """A sink for the progress bar when not on a terminal."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False
