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
    from sendguard.milter.spec import parse_listen

    spec = parse_listen(spec)
    config = state.config
    try:
        from sendguard.milter import adapter, lifecycle  # noqa: F401  (adapter: pymilter)
    except ImportError as err:  # pymilter is missing or was built against another libmilter
        raise UsageError(
            f"the milter library cannot be loaded ({err})",
            hints=["install libmilter (Debian: libmilter1.0.1) and `pip install pymilter`"],
        ) from None
    from sendguard.milter.policy import Policy
    from sendguard.paths import ensure_private_dir

    root = state_dir or senders.state_dir(config)
    ensure_private_dir(root)
    lifecycle.serve(spec, Policy(config, root), config.milter.timeout)
