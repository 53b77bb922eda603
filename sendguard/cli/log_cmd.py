"""``sendguard log [QUERY] [--json]``: search the incident log with notmuch's query language.

Before searching, records not yet indexed are indexed by the indexer process, waited for at
most ``--wait`` seconds: a database locked by someone else delays the index, never the
answer (the search then runs on what is indexed and says how many records are still pending).
"""

from __future__ import annotations

import click

from sendguard.printable import column, json_line, printable


@click.command()
@click.argument("query", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--limit", type=int, default=None, help="Show at most this many records.")
@click.option("--reindex", is_flag=True, help="Index every record again (after the database was lost).")
@click.option(
    "--wait",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds to wait for a busy notmuch database before searching what is indexed.",
)
def log(query: tuple[str, ...], as_json: bool, limit: int | None, reindex: bool, wait: float) -> None:
    """Search the incident log (notmuch syntax: tag:held, date:7d.., to:example.org, words)."""
    from sendguard import paths

    try:
        from sendguard.incidents import store
    except ImportError as err:
        from sendguard.errors import SendguardError
        from sendguard.incidents import log_dir

        raise SendguardError(
            f"notmuch2 cannot be loaded ({err}); the log cannot be searched",
            hints=[f"the records are plain mail in {log_dir(paths.state_dir())}"],
        ) from None
    state_dir = paths.state_dir()
    if reindex:
        report = store.reindex_all(state_dir)
        click.echo(f"indexed {report.indexed} records", err=True)
    from sendguard.incidents.indexer import index_now

    pending = index_now(state_dir, wait)
    if pending.count:
        click.echo(f"sendguard: {pending.count} newer record(s) are not indexed yet: {pending.problem}", err=True)
    rows = store.search(state_dir, " ".join(query), limit=limit)
    if not rows and not as_json:
        click.echo(f"sendguard: no record matches {printable(' '.join(query) or '*')!r}", err=True)
    for row in rows:
        if as_json:
            click.echo(json_line(row.to_json()))
            continue
        tags = " ".join(t for t in row.tags if not t.startswith(("state:", "decision:")))
        click.echo(
            f"{row.date[:16].replace('T', ' ')}  {printable(row.id)}  {row.event:10} "
            f"{column(printable(', '.join(row.recipients)), 40)}  {column(printable(row.subject), 50).rstrip()}"
        )
        click.echo(f"    {printable(tags)}")
