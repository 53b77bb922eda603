"""``sendguard trust ADDR [--rule ID]``: the per-contact "don't ask again"."""

from __future__ import annotations

import click

from sendguard.cli import complete
from sendguard.cli.words import TEXT
from sendguard.errors import UsageError


@click.command()
@click.option(
    "--rule",
    "rule",
    metavar="ID",
    shell_complete=complete.rule_ids,
    help="Only for this rule (default: every recipient rule).",
)
@click.option("--remove", is_flag=True, help="Forget the trust instead.")
@click.option("--list", "show", is_flag=True, help="List trusted addresses.")
@click.argument("addresses", nargs=-1, type=TEXT)
def trust(rule: str | None, remove: bool, show: bool, addresses: tuple[str, ...]) -> None:
    """Never ask again about ADDRESSES (for one rule with --rule)."""
    from sendguard import paths
    from sendguard.history import trust as trust_mod
    from sendguard.printable import printable
    from sendguard.rules import RULES

    if rule and rule not in RULES:
        raise UsageError(f"no such rule: {rule}")
    state_dir = paths.state_dir(create=True)
    if show:
        for addr, r in trust_mod.trusted(state_dir):
            click.echo(f"{printable(addr)}\t{'all rules' if r == trust_mod.ALL_RULES else r}")
        return
    if not addresses:
        raise UsageError("give an address to trust (or --list)")
    for addr in addresses:
        if "@" not in addr:
            raise UsageError(f"not an address: {addr}")
        if remove:
            n = trust_mod.untrust(state_dir, addr, rule)
            click.echo(f"{printable(addr)}: {'no longer trusted' if n else 'was not trusted'}")
        else:
            trust_mod.trust(state_dir, addr, rule)
            click.echo(f"{printable(addr)}: trusted{' for ' + rule if rule else ''}")
