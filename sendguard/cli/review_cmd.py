"""``sendguard review``: the Textual review screen.

Textual is imported only here, inside the command, so no other command (and never the send
path) pays its ~0.5 s import. The config is loaded before the screen opens: a broken config is
reported on the terminal like in every other command, not inside a half-drawn screen.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from sendguard.errors import UsageError


@click.command()
@click.pass_obj
def review(state) -> None:  # type: ignore[no-untyped-def]
    """See what was held, fix it with one key, and move on."""
    from sendguard import paths

    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise UsageError("sendguard review needs a terminal", hints=["use `sendguard queue list` in scripts"])
    config_path = state.config_path
    if config_path is None and os.environ.get("SENDGUARD_CONFIG"):
        config_path = Path(os.environ["SENDGUARD_CONFIG"])
        state.config_path = config_path
    config = state.config
    from sendguard.tui.app import run

    run(config, config_path or paths.config_path())
