"""A program in a terminal: a private tmux server per test (its own socket name), for the
mail programs whose screen is what a person sees."""

from __future__ import annotations

import itertools
import os
import subprocess

import pytest

from tests.support.wait import wait_until

_serial = itertools.count()


class Terminal:
    def __init__(self, env: dict[str, str], name: str, width: int = 120, height: int = 40) -> None:
        from tests.support.mua import need

        self.tmux = need("tmux")
        self.socket = f"sg-{name}-{os.getpid()}-{next(_serial)}"
        # pytest-xdist's workers export COLUMNS=80 LINES=24, and ncurses believes them over the
        # pane's own size: neomutt drew 80x24 in a 100x30 pane and its status line was lost.
        self.env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
        self.width, self.height = width, height

    def _tmux(self, *args: str) -> str:
        proc = subprocess.run(
            [self.tmux, "-L", self.socket, *args], env=self.env, capture_output=True, text=True, timeout=30, check=False
        )
        return proc.stdout

    def start(self, command: str, cwd: str | None = None) -> None:
        """Run ``command`` in a shell; the pane stays after it exits, with its exit status."""
        self._tmux(
            "new-session", "-d", "-x", str(self.width), "-y", str(self.height),
            *(["-c", cwd] if cwd else []),
            f"{command}; echo EXIT=$?; sleep 600",
        )  # fmt: skip

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J")

    def wait_for(self, text: str, timeout: float = 30) -> str:
        screens = [""]

        def shown() -> bool:
            screens[0] = self.screen()
            return text in screens[0]

        if not wait_until(shown, timeout, 0.2):
            pytest.fail(f"the terminal never showed {text!r}; screen:\n{screens[0]}")
        return screens[0]

    def resize(self, width: int, height: int) -> None:
        """A resize is input: a program that repaints only on input (aerc 0.14) repaints."""
        self._tmux("resize-window", "-x", str(width), "-y", str(height))

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", *keys)

    def close(self) -> None:
        self._tmux("kill-server")

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
