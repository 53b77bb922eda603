"""``sendguard queue list|run``, ``release``, ``discard``: act on kept messages."""

from __future__ import annotations

import json
import sys

import click

from sendguard.act import queue as q
from sendguard.printable import printable


@click.group()
def queue() -> None:
    """What is held, deferred or waiting."""


def _summary(entry: q.Entry) -> dict[str, object]:
    meta = entry.meta
    return {
        "id": entry.id,
        "state": entry.state,
        "recipients": meta.get("envelope", meta.get("recipients", [])),
        "subject": meta.get("subject", ""),
        "verdict": meta.get("verdict", "hold"),
        "created": meta.get("created", ""),
    }


def _reason(entry: q.Entry) -> str:
    """Why it is kept: for a failed or deferred delivery what the transport said (the undo
    window's worker delivers with nobody watching: this is where the person reads why it did
    not leave), else what the rules found, else the error that kept it."""
    meta = entry.meta
    if entry.state in (q.DEFERRED, q.FAILED) and (meta.get("transport_error") or meta.get("transport_exit")):
        return f"transport: {meta.get('transport_error') or 'exit ' + str(meta['transport_exit'])}"
    return next(
        (f["message"] for f in meta.get("findings", []) if f.get("severity") != "info"), (meta.get("error") or [""])[0]
    )


@queue.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--all", "show_all", is_flag=True, help="Include delivered, discarded and confirmed messages.")
def list_cmd(as_json: bool, show_all: bool) -> None:
    """List kept messages (held, blocked, deferred, waiting; --all for the rest)."""
    from sendguard.act.ops import effective_state

    for entry in q.Queue.default().entries():
        entry.meta["state"] = effective_state(q.Queue.default(), entry)
        if not show_all and entry.state in q.FINAL_STATES:
            continue
        row = _summary(entry)
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            reason = _reason(entry)
            click.echo(
                f"{entry.id}  {entry.state:11} {printable(', '.join(row['recipients']))[:40]:40}  "  # type: ignore[arg-type]
                f"{printable(str(row['subject']))[:40]}"
            )
            if reason and entry.state not in q.FINAL_STATES:
                click.echo(f"    {printable(reason)[:150]}")


@queue.command("run")
@click.pass_obj
def run_cmd(state) -> None:  # type: ignore[no-untyped-def]
    """Deliver what is due: deferred, released, accepted but interrupted, past its undo window."""
    from sendguard.act.ops import run_due

    report = run_due(q.Queue.default(), state.config)
    for line in report.lines:
        click.echo(line)
    sys.exit(report.exit_code)


@click.command()
@click.argument("entry_id", metavar="ID")
@click.pass_obj
def release(state, entry_id: str) -> None:  # type: ignore[no-untyped-def]
    """Deliver a held message now."""
    from sendguard.act.ops import release as do_release

    entry = do_release(q.Queue.default(), entry_id, state.config)
    click.echo(f"{entry.id}: delivered to {', '.join(entry.meta.get('envelope', []))}")


@click.command()
@click.argument("entry_id", metavar="ID")
@click.pass_obj
def discard(state, entry_id: str) -> None:  # type: ignore[no-untyped-def]
    """Drop a held message (it stays in the incident log)."""
    from sendguard.act.ops import discard as do_discard

    entry = do_discard(q.Queue.default(), entry_id, state.config)
    click.echo(f"{entry.id}: discarded")
