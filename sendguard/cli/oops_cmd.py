"""``sendguard oops [ID|last] [--json]``: a message reached the wrong person — the record and the drafts."""

from __future__ import annotations

import json
import time

import click

from sendguard.printable import printable


@click.command()
@click.argument("ref", metavar="[ID|last]", required=False, default="last")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: record and drafts (paths).")
@click.option(
    "--wrong",
    multiple=True,
    metavar="ADDR",
    help="Who got it by mistake (repeatable; default: the recipients the rules flagged, else outsiders).",
)
@click.option("--intended", multiple=True, metavar="ADDR", help="Who it was meant for (repeatable).")
@click.pass_obj
def oops(state, ref: str, as_json: bool, wrong: tuple[str, ...], intended: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """Mail reached the wrong person: a breach-register record (72 h deadline) and drafts to act on it."""
    from sendguard import paths
    from sendguard.act import queue as q
    from sendguard.act.drafts import drafts_maildir
    from sendguard.recover.breach_record import record_text
    from sendguard.recover.oops import oops as do_oops

    config = state.config
    report = do_oops(
        q.Queue.default(),
        ref,
        config,
        now=time.time(),
        drafts_dir=drafts_maildir(config, paths.state_dir()),
        wrong=list(wrong),
        intended=list(intended),
    )
    if as_json:
        click.echo(
            json.dumps(
                {"record": report.record, "drafts": [str(p) for p in report.drafts], "language": report.language},
                ensure_ascii=False,
            )
        )
        return
    click.echo(printable(record_text(report.record), keep_newlines=True), nl=False)
    click.echo("")
    click.echo(f"Drafts ({'German' if report.language == 'de' else 'English'}), not sent — open them, check, send:")
    for path in report.drafts:
        click.echo(f"  mutt -H '{path}'")
    click.echo(f"Deadline to decide on notifying the supervisory authority: {report.record['deadline']}.")
