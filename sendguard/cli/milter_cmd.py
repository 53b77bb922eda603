"""``sendguard milter --listen SPEC``: run the checks on a team's Postfix (smtpd_milters)."""

from __future__ import annotations

from pathlib import Path

import click

from sendguard.errors import UsageError


@click.command()
@click.option(
    "--listen",
    "spec",
    required=True,
    metavar="SPEC",
    help="The socket Postfix connects to: inet:PORT@HOST or unix:PATH (as libmilter writes it).",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where each sender's history and the held copies live (default: [milter] state_dir).",
)
@click.pass_obj
def milter(state, spec: str, state_dir: Path | None) -> None:  # type: ignore[no-untyped-def]
    """Run the milter: every message Postfix receives is checked with its sender's own history;
    a hold is a 550 with the reason and the way out, or Postfix's hold queue."""
    from sendguard.milter import senders
    from sendguard.milter.spec import check_listen, parse_listen

    spec = parse_listen(spec)
    check_listen(spec)
    config = state.config
    try:
        from sendguard.milter import adapter, lifecycle  # noqa: F401  (adapter: pymilter)
    except ImportError as err:  # pymilter is missing or was built against another libmilter
        raise UsageError(
            f"the milter library cannot be loaded ({err})",
            hints=["install libmilter (Debian: libmilter1.0.1) and `pip install pymilter`"],
        ) from None
    from sendguard.milter.policy import Policy
    from sendguard.milter.setup_check import at_start
    from sendguard.paths import ensure_private_dir

    root = state_dir or senders.state_dir(config)
    ensure_private_dir(root)
    # a Postfix on this machine that would let mail through unchecked while this milter is
    # down, or that names no milter here: said where the administrator reads the milter's log
    for line in at_start(config.milter.postfix_config, spec):
        click.echo(f"sendguard-milter: {line}", err=True)
    lifecycle.serve(spec, Policy(config, root), config.milter.timeout, workers=max(config.milter.workers, 0))


def postfix_list(config, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """``queue list --postfix``: Postfix's hold queue, with what the milter knows of each message."""
    from sendguard.act.listing import REASON_LIMIT, clip
    from sendguard.milter import postfix, senders
    from sendguard.printable import column, json_line, printable

    for row in postfix.listing(config.milter.postfix_config, senders.state_dir(config)):
        if as_json:
            click.echo(json_line(row))
            continue
        click.echo(
            f"{row['id']:14} held  {column(printable(row['sender']), 30)}  "
            f"{column(printable(', '.join(row['recipients'])), 40)}  {column(printable(str(row['subject'])), 40).rstrip()}"
        )
        for reason in row["reasons"][:3]:
            click.echo(f"    {clip(printable(reason), REASON_LIMIT)}")


def postfix_act(config, action: str, queue_ids: tuple[str, ...]) -> int:  # type: ignore[no-untyped-def]
    """``release --postfix`` / ``discard --postfix``: act on Postfix's hold queue; the worst exit code."""
    from sendguard.cli import render_error
    from sendguard.errors import SendguardError
    from sendguard.milter import postfix
    from sendguard.printable import printable

    worst = 0
    for queue_id in queue_ids:
        try:
            warnings = getattr(postfix, action)(queue_id, config.milter.postfix_config, config=config)
        except SendguardError as err:
            render_error(err)
            worst = max(worst, int(err.exit_code))
            continue
        click.echo(
            f"{queue_id}: {'released to Postfix for delivery' if action == 'release' else 'deleted from the hold queue'}"
        )
        for warning in warnings:
            click.echo(f"sendguard: warning: {printable(warning)}", err=True)
    return worst
