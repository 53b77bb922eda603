"""``sendguard man [PAGE]``: the manual, also where ``man`` cannot find it.

The pages are installed into ``PREFIX/share/man`` (pyproject data-files), which ``man`` finds
when ``PREFIX/bin`` is on PATH (man-db derives its search path from PATH). A venv used only by
absolute path, or a checkout, is not on PATH: this command finds the page itself and hands it to
``man -l``; without ``man`` it prints the scdoc source, which reads as plain text.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import click

from sendguard.errors import SendguardError

PAGES = {
    "sendguard": ("sendguard", 1),
    "sendguard.toml": ("sendguard.toml", 5),
    "config": ("sendguard.toml", 5),
    "sendguard-rules": ("sendguard-rules", 7),
    "rules": ("sendguard-rules", 7),
}


def page_file(name: str, section: int) -> Path | None:
    from sendguard.cli.support.mailsetup import install_prefixes, shipped_dir

    candidates = [prefix / "share" / "man" / f"man{section}" / f"{name}.{section}" for prefix in install_prefixes()]
    source = shipped_dir("man")
    if source:
        candidates.append(source / f"{name}.{section}")
    return next((p for p in candidates if p.is_file()), None)


@click.command("man")
@click.argument("page", required=False, default="sendguard", type=click.Choice(sorted(PAGES)))
def man(page: str) -> None:
    """Show a manual page: sendguard(1), sendguard.toml(5) (config) or sendguard-rules(7) (rules)."""
    name, section = PAGES[page]
    path = page_file(name, section)
    if path is None:
        raise SendguardError(
            f"the manual page {name}({section}) is not installed",
            hints=["reinstall sendguard, or read man/*.scd in its source"],
        )
    viewer = shutil.which("man")
    if viewer:
        sys.stdout.flush()
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # Python ignores it; man's formatters would too
        os.execv(viewer, [viewer, "-l", str(path)])
    scd = path.with_name(path.name + ".scd")
    click.echo((scd if scd.is_file() else path).read_text(encoding="utf-8"))
