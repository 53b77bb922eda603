"""``sendguard queue list|run``, ``release``, ``discard``: act on kept messages."""

from __future__ import annotations

import sys

import click

from sendguard.act import queue as q
from sendguard.cli import complete
from sendguard.exitcodes import ExitCode
from sendguard.printable import json_line, printable


@click.group()
def queue() -> None:
    """What is held, deferred or waiting."""


@queue.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--all", "show_all", is_flag=True, help="Include delivered, discarded and confirmed messages.")
@click.option(
    "--postfix", is_flag=True, help="Postfix's hold queue (what `sendguard milter` quarantined), not sendguard's own."
)
@click.pass_obj
def list_cmd(state, as_json: bool, show_all: bool, postfix: bool) -> None:  # type: ignore[no-untyped-def]
    """List kept messages (held, blocked, deferred, waiting; --all for the rest)."""
    from sendguard.act import listing

    if postfix:
        from sendguard.cli import milter_cmd

        return milter_cmd.postfix_list(state.config, as_json)

    for entry in listing.entries(q.Queue.default(), show_all):
        if as_json:
            click.echo(json_line(listing.summary(entry)))
        else:
            for line in listing.text_lines(entry):
                click.echo(line)


@queue.command("run")
@click.pass_obj
def run_cmd(state) -> None:  # type: ignore[no-untyped-def]
    """Deliver what is due: deferred, released, accepted but interrupted, past its undo window."""
    from sendguard.act.ops import run_due

    report = run_due(q.Queue.default(), state.config)
    for line in report.lines:
        click.echo(printable(line))  # they quote what the transport said
    sys.exit(report.exit_code)


@click.command()
@click.argument("entry_ids", metavar="ID...", nargs=-1, required=True, shell_complete=complete.releasable)
@click.option(
    "--unchecked",
    is_flag=True,
    help="Send a message that was kept before it could be checked without checking it now.",
)
@click.option(
    "--postfix", is_flag=True, help="Postfix's hold queue (what `sendguard milter` quarantined), not sendguard's own."
)
@click.pass_obj
def release(state, entry_ids: tuple[str, ...], unchecked: bool, postfix: bool) -> None:  # type: ignore[no-untyped-def]
    """Deliver held messages now.

    A message kept before it could be checked (a broken config, a crash) is checked first,
    under the config now in force; if that check holds it, it stays held and the reason is
    shown: release it again to send it anyway, or use --unchecked."""
    from sendguard.act.ops import release as do_release
    from sendguard.cli import render_error
    from sendguard.errors import SendguardError

    if postfix:
        from sendguard.cli import milter_cmd

        sys.exit(milter_cmd.postfix_act(state.config, "release", entry_ids))

    worst = 0
    for entry_id in entry_ids:
        try:
            entry = do_release(q.Queue.default(), entry_id, state.config, unchecked=unchecked)
        except SendguardError as err:
            render_error(err)
            worst = max(worst, int(err.exit_code))
            continue
        if entry.state == q.DELIVERED:
            click.echo(f"{entry.id}: delivered to {printable(', '.join(entry.meta.get('envelope', [])))}")
            if entry.meta.get("sent_copy_error"):
                click.echo(f"sendguard: warning: {printable(entry.meta['sent_copy_error'])}", err=True)
            continue
        worst = max(worst, int(ExitCode.NOPERM if entry.state == q.BLOCKED else ExitCode.TEMPFAIL))
        click.echo(f"{entry.id}: checked now (it had been kept unchecked): {entry.meta.get('verdict')}", err=True)
        for finding in entry.meta.get("findings", []):
            if finding.get("severity") in ("warn", "hold", "block"):
                click.echo(f"  - {printable(finding.get('message', ''))}", err=True)
                if finding.get("suggestion"):
                    click.echo(f"    Did you mean {printable(finding['suggestion'])}?", err=True)
        click.echo(
            f"  Not sent. `sendguard release {entry.id}` now sends it as it is; `sendguard review` to fix it.", err=True
        )
    sys.exit(worst)


@click.command()
@click.argument("entry_ids", metavar="ID...", nargs=-1, required=True, shell_complete=complete.releasable)
@click.option(
    "--postfix", is_flag=True, help="Postfix's hold queue (what `sendguard milter` quarantined), not sendguard's own."
)
@click.pass_obj
def discard(state, entry_ids: tuple[str, ...], postfix: bool) -> None:  # type: ignore[no-untyped-def]
    """Drop held messages (they stay in the incident log)."""
    from sendguard.act.ops import discard as do_discard
    from sendguard.cli import render_error
    from sendguard.errors import SendguardError

    if postfix:
        from sendguard.cli import milter_cmd

        sys.exit(milter_cmd.postfix_act(state.config, "discard", entry_ids))

    worst = 0
    for entry_id in entry_ids:
        try:
            entry = do_discard(q.Queue.default(), entry_id, state.config)
        except SendguardError as err:
            render_error(err)
            worst = max(worst, int(err.exit_code))
            continue
        click.echo(f"{entry.id}: discarded")
    sys.exit(worst)
