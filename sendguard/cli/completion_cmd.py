"""``sendguard completion SHELL``: the shell completion script (click's), for bash, zsh and fish.

The script calls ``sendguard`` back with ``_SENDGUARD_COMPLETE`` set, so completions always match
the installed commands and options (nothing to regenerate after an upgrade). Install:

    bash:  sendguard completion bash > ~/.local/share/bash-completion/completions/sendguard
    zsh:   sendguard completion zsh > "${fpath[1]}/_sendguard"     (or eval it in ~/.zshrc)
    fish:  sendguard completion fish > ~/.config/fish/completions/sendguard.fish
"""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish)."""
    from click.shell_completion import get_completion_class

    from sendguard.cli import cli

    cls = get_completion_class(shell)
    assert cls is not None  # click ships all three
    source = cls(cli, {}, "sendguard", "_SENDGUARD_COMPLETE").source()
    if shell == "fish":
        # click's fish script splits "plain,VALUE\tHELP" at every comma, so fish showed each
        # description only up to its first comma ("Check config"); split once.
        source = source.replace('(string split "," $completion)', '(string split -m 1 "," $completion)')
    click.echo(source)
