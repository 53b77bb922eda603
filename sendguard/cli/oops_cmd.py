"""``sendguard oops [ID|last] [--json] [--noticed TIME] [--list] [--as SENDER]``: a message reached
the wrong person — the record and the drafts (recover/oops.py), or the open incidents and their
time left. ``--as``: a message that left through the team's milter (recover/team_oops.py)."""

from __future__ import annotations

import math
import time
from datetime import datetime

import click

from sendguard.cli import complete
from sendguard.cli.words import TEXT
from sendguard.errors import UsageError
from sendguard.printable import json_line, printable


def parse_noticed(value: str, now: float) -> float:
    """An ISO 8601 time (``2026-12-07T17:04``, ``2026-12-07 17:04:23+01:00``); local time when it
    names no zone. Not in the future."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"--noticed {value!r}: not a time; write it like 2026-12-07T17:04 (ISO 8601)") from None
    try:
        stamp = moment.timestamp()  # a naive time is local time
    except (ValueError, OverflowError):  # year 1 or 9999, pushed out of range by the local zone
        stamp = -1.0 if moment.year < 1970 else math.inf
    if stamp > now + 60:
        raise UsageError(f"--noticed {value}: that is in the future")
    if stamp < 0:  # no mail left then, and year 1 has no local time to show (year 0)
        raise UsageError(
            f"--noticed {value}: that is before 1970",
            hints=["give the time you noticed the mistake (ISO 8601, with a zone if not local time)"],
        )
    return stamp


def left_words(seconds: int) -> str:
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours} h {rest // 60:02d} min left"


@click.command()
@click.argument(
    "ref",
    metavar="[ID|last]",
    required=False,
    default="last",
    shell_complete=complete.incident_ids("tag:delivered", "delivered"),
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: record and drafts (paths).")
@click.option(
    "--wrong",
    multiple=True,
    type=TEXT,
    metavar="ADDR",
    help="Who got it by mistake (repeatable; default: the recipients the rules flagged, else outsiders).",
)
@click.option(
    "--intended",
    multiple=True,
    type=TEXT,
    metavar="ADDR",
    help="Who it was meant for (repeatable; default: presumed from the check's suggestion or the history).",
)
@click.option(
    "--noticed",
    metavar="TIME",
    help="When the mistake was noticed (ISO 8601; default: the first `oops` for this message). The deadline runs from it.",
)
@click.option("--list", "as_list", is_flag=True, help="List open incidents (deadline not passed) with the time left.")
@click.option(
    "--as",
    "as_sender",
    type=TEXT,
    metavar="SENDER",
    help="A message of this sender that left through the team's milter; ID is the milter's copy (its notice names it).",
    shell_complete=complete.milter_senders,
)
@click.option(
    "--mail",
    "mail",
    is_flag=True,
    help="With --as: also mail the sender (them alone) what happened, the drafts attached, as the milter's notices go.",
)
@click.pass_obj
def oops(  # type: ignore[no-untyped-def]
    state,
    ref: str,
    as_json: bool,
    wrong: tuple[str, ...],
    intended: tuple[str, ...],
    noticed: str | None,
    as_list: bool,
    as_sender: str | None,
    mail: bool,
) -> None:
    """Mail reached the wrong person: a breach-register record (72 h deadline) and drafts to act on it."""
    from sendguard import paths
    from sendguard.act import queue as q
    from sendguard.act.drafts import drafts_maildir
    from sendguard.recover.breach_record import record_text
    from sendguard.recover.oops import oops as do_oops
    from sendguard.recover.oops import open_incidents

    now = time.time()
    if mail and (as_sender is None or as_list):
        raise UsageError("--mail goes with --as SENDER and a message: it mails that sender their drafts")
    team = None
    if as_sender is not None:
        from sendguard.recover.team import team_sender

        team = team_sender(state.config, as_sender)
    if as_list:
        queue, sender = (q.Queue.default(), None) if team is None else (team.queue, team.key)
        rows = open_incidents(queue, now, sender)
        if as_json:
            for row in rows:
                click.echo(json_line(row))
            return
        if not rows:
            click.echo("no open incidents (none recorded, or their 72 hours have passed)")
        for row in rows:
            click.echo(
                f"{row['id']}  {left_words(row['seconds_left'])} (deadline {row['deadline']})  "
                f"{printable(row['subject'])}  → {printable(', '.join(row['unintended_recipients']))}"
            )
        return
    config = state.config
    when = parse_noticed(noticed, now) if noticed else None
    where = None
    mailed, unmailed = "", None
    if team is None:
        report = do_oops(
            q.Queue.default(),
            ref,
            config,
            now=now,
            drafts_dir=drafts_maildir(config, paths.state_dir()),
            wrong=list(wrong),
            intended=list(intended),
            noticed=when,
        )
    else:
        from sendguard.recover import team_oops

        report, where = team_oops.oops(
            config, team, ref, now=now, wrong=list(wrong), intended=list(intended), noticed=when
        )
        if mail:
            from sendguard.errors import SendguardError

            try:
                mailed = team_oops.mail_sender(config, team, report)
            except SendguardError as err:
                unmailed = err  # said after what was written
    if as_json:
        out = {
            "record": report.record,
            "drafts": [str(p) for p in report.drafts],
            "language": report.language,
            "notes": report.notes,
        }
        if report.history_skipped is not None:
            out["history_skipped"] = report.history_skipped.message
        if where is not None:
            out["record_file"] = str(where / "record.txt")
        if mail:
            out["mailed_to"] = mailed
        click.echo(json_line(out))
        if unmailed is not None:
            raise unmailed
        return
    click.echo(printable(record_text(report.record), keep_newlines=True), nl=False)
    click.echo("")
    language = {"de": "German", "fr": "French"}.get(report.language, "English")
    if team is None:
        from sendguard.cli.support import mailsetup

        click.echo(f"Drafts ({language}), not sent — open them, check, send:")
        program = mailsetup.draft_program(str(report.entry.meta.get("program", "")))
        for line in mailsetup.open_drafts(report.drafts, drafts_maildir(config, paths.state_dir()), program):
            click.echo(f"  {printable(line)}")
    else:
        who = printable(team.key)
        click.echo(f"Drafts ({language}) in {who}'s name, not sent — give them to {who} to check and send:")
        for path in report.drafts:
            click.echo(f"  {path}")
        click.echo(f"Record: {where}/record.txt (and record.json), kept when the milter prunes its copy.")
        if mailed:
            click.echo(f"Mailed to {printable(mailed)} alone: what happened, and the drafts attached to send as new.")
    for note in report.notes:
        click.echo(f"Note: {printable(note)}")
    click.echo(f"Deadline to decide on notifying the supervisory authority: {report.record['deadline']}.")
    whose = "The history" if team is None else f"{printable(team.key)}'s history"
    if report.history_skipped is None:
        click.echo(f"{whose} has forgotten this message: it will not be learned as a real relationship.")
    else:
        if team is None:
            fix, again = report.history_skipped.hints[0], f"sendguard oops {report.entry.id}"
        else:
            fix = "`sendguard doctor --postfix` says how to set it aside and seed it again"
            again = f"sendguard oops {report.entry.id} --as {printable(team.key)}"
        click.echo(
            f"{whose} part was skipped: {printable(report.history_skipped.message)}, so this message is not "
            "taken out of it, and the drafts use no greeting or name learned from it."
        )
        click.echo(
            f"{printable(fix[:1].upper() + fix[1:])}; then `{again}` again takes it out (the same record and drafts)."
        )
    if unmailed is not None:
        raise unmailed
