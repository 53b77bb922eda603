"""``sendguard config``: validate the config, list every key."""

from __future__ import annotations

import click


@click.group()
def config() -> None:
    """Check and describe the configuration."""


@config.command()
@click.pass_obj
def validate(state) -> None:  # type: ignore[no-untyped-def]
    """Load the config and report every problem (exit 78 if any)."""
    cfg = state.config
    click.echo(f"{cfg.path or 'embedded default'}: ok")


@config.command("keys")
def keys() -> None:
    """Every config key with its type, default and meaning."""
    from sendguard.config.schema import documented_keys

    for name, type_name, default, doc in documented_keys():
        click.echo(f"{name} = {default!r}  ({type_name})\n    {doc}")
