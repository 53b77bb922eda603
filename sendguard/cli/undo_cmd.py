"""``sendguard undo [ID] [--json]``: take a message back while it waits in the undo window."""

from __future__ import annotations

import click

from sendguard.cli import complete
from sendguard.printable import json_line, printable

# what each program calls the copy of sent mail it files when sendmail exits 0
FILES_A_COPY = {"mutt": "record", "neomutt": "record", "aerc": "copy-to"}


@click.command()
@click.argument("entry_id", metavar="[ID]", required=False, shell_complete=complete.queue_ids("delayed"))
@click.option("--json", "as_json", is_flag=True, help="One JSON object: id, state, draft.")
@click.pass_obj
def undo(state, entry_id: str | None, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """Take back a message before it leaves (default: the latest one waiting); keep it as a draft."""
    from sendguard import paths
    from sendguard.act import queue as q
    from sendguard.act.delay import undo as do_undo
    from sendguard.act.drafts import drafts_maildir

    config = state.config
    done = do_undo(q.Queue.default(), entry_id, config, drafts_dir=drafts_maildir(config, paths.state_dir()))
    meta = done.entry.meta
    if as_json:
        click.echo(
            json_line(
                {
                    "id": done.entry.id,
                    "state": done.entry.state,
                    "draft": str(done.draft),
                    "recipients": meta.get("envelope", []),
                    "subject": meta.get("subject", ""),
                }
            )
        )
        return
    click.echo(f"Taken back: {done.entry.id} — not sent.")
    click.echo(f"  To:      {printable(', '.join(meta.get('envelope', [])))}")
    click.echo(f"  Subject: {printable(meta.get('subject', ''))}")
    click.echo(f"  Draft:   {done.draft}")
    from sendguard.cli.support import mailsetup

    program = mailsetup.draft_program(str(meta.get("program", "")))
    drafts_dir = drafts_maildir(config, paths.state_dir())
    click.echo("  Reopen it:")
    for line in mailsetup.open_drafts([done.draft], drafts_dir, program):
        click.echo(f"    {printable(line)}")
    sent_with = str(meta.get("program", ""))
    if sent_with in FILES_A_COPY:  # it said "sent" when the undo window took the message
        click.echo(
            f"  {sent_with} may have filed a copy in its Sent folder ({FILES_A_COPY[sent_with]}): it never left."
        )
