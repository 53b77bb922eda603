"""``sendguard sendmail``: documented here; the real call is dispatched in __main__ without click."""

from __future__ import annotations

import sys

import click


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def sendmail(state, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """Read one message on stdin, check it, deliver it or hold it (sendmail options)."""
    from sendguard.sendpath import path as send_path

    sys.exit(send_path.run(list(args), state.config_path))
