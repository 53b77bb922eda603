"""``sendguard evaluate PATH...``: how many autocomplete mistakes your own mail would have caught."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--seed", default=0, show_default=True, help="Seed for choosing the swapped-in contacts.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_obj
def evaluate(state, seed: int, paths: tuple[Path, ...]) -> None:  # type: ignore[no-untyped-def]
    """Learn from the older part of your mail, replay the newer sent mail as sent and with one
    recipient swapped for a confusable contact, and report caught mistakes and false holds."""
    from sendguard.decide.evaluate import evaluate as run
    from sendguard.errors import UsageError
    from sendguard.history import sources

    config = state.config
    if not config.identity.addresses:
        raise UsageError("[identity] addresses is empty: sendguard cannot tell your sent mail apart")
    messages: list[bytes] = []
    empty: list[str] = []
    for path in paths:
        found = [raw for f in sources.message_files(path) for raw in sources.read_messages(f)]
        messages += found
        if not found:
            empty.append(str(path))
    score = run(messages, config, seed=seed)
    score.empty, score.given = empty, len(paths)
    for line in score.lines():
        click.echo(line)
