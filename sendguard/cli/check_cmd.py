"""``sendguard check``: what the send path would decide, without sending (the dry run)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sendguard.errors import MessageReadError, SendguardError
from sendguard.exitcodes import CheckExit
from sendguard.model import Severity, Verdict
from sendguard.printable import json_line, printable


def _read(name: str) -> bytes | None:
    """The bytes of FILE (``-``: stdin), or None for a device that may never end (/dev/zero)."""
    from sendguard.sendpath.client import endless_device

    if name == "-":
        return None if endless_device(0) else sys.stdin.buffer.read()
    with Path(name).open("rb") as file:
        return None if endless_device(file.fileno()) else file.read()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, one line per file.")
@click.option(
    "--envelope",
    "envelope",
    multiple=True,
    metavar="ADDR",
    help="Judge these recipients instead of To/Cc/Bcc (repeatable).",
)
@click.argument("files", nargs=-1, required=True)
@click.pass_obj
def check(state, as_json: bool, envelope: tuple[str, ...], files: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """Check message FILEs (or - for stdin) and print the verdict and reasons."""
    from sendguard import paths
    from sendguard.act import aliases
    from sendguard.act.aliases import AliasesError
    from sendguard.decide.check import check_message, recipients_for
    from sendguard.mail.message import OutgoingMessage, normalize_address

    config = state.config
    worst = Verdict.PASS
    read_errors = 0
    config_errors: list[SendguardError] = []
    for name in files:
        problem = None
        raw = b""
        try:
            read = _read(name)
        except OSError as err:
            problem = f"cannot be read: {err.strerror or type(err).__name__}"
        else:
            if read is None:
                problem = "a device, not a message"
            elif not read or read.isspace():  # the send path refuses it (65): so does its dry run
                problem = "the message is empty"
            else:
                raw = read
        if problem is not None:
            # Its own line too: a script reading one line per file must not skip it unknowingly.
            read_errors += 1
            click.echo(f"sendguard: error: {printable(name)}: {problem}", err=True)
            if as_json:
                click.echo(json_line({"file": name, "verdict": None, "findings": [], "error": problem}))
            continue
        message = OutgoingMessage(raw)
        recipients = recipients_for(message, envelope, False)
        try:  # msmtp's aliases, as the send path expands them
            recipients, _ = aliases.expand(
                config.transport.command, (), recipients, message.raw[: message.header_block.end]
            )
        except AliasesError as err:
            config_errors.append(err)
            click.echo(f"sendguard: error: {printable(name)}: {printable(err.message)}", err=True)
            if as_json:
                click.echo(json_line({"file": name, "verdict": None, "findings": [], "error": err.message}))
            continue
        envelope_checked = [normalize_address(addr) for addr in recipients]
        result = check_message(message, config, envelope=envelope_checked, state_dir=paths.state_dir())
        decision = result.decision
        worst = max(worst, decision.verdict)
        if as_json:
            click.echo(
                json_line(
                    {
                        "file": name,
                        "verdict": decision.verdict.label,
                        "findings": [f.to_json() for f in decision.findings],
                    }
                )
            )
            continue
        click.echo(f"{printable(name)}: {decision.verdict.label}")
        for f in decision.findings:
            if f.severity >= Severity.WARN or not decision.findings:
                click.echo(f"  {f.severity.label:5} {f.rule}: {printable(f.message)}")
                if f.suggestion:
                    click.echo(f"        did you mean {printable(f.suggestion)}?")
    if config_errors:  # the envelope could not be known: the configuration is at fault
        raise config_errors[0]
    if read_errors:  # a file nobody judged outranks every verdict: never "only a warning"
        raise MessageReadError(f"{read_errors} file(s) could not be read")
    sys.exit(int(CheckExit(int(worst))))
