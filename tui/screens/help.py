"""The help screen (?): every key, read from tui/keys.py."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from sendguard.tui.keys import KEYS, LABELS


def help_text() -> Text:
    out = Text(end="")
    for index, key in enumerate(KEYS):
        if index:
            out.append("\n")
        out.append(f"{LABELS.get(key.key, key.key):>6}  ", style="bold")
        out.append(key.description)
    out.append("\n\nOutside recipients are marked ", style="dim")
    out.append("outside", style="bold yellow")
    out.append("; evidence is ", style="dim")
    out.append("highlighted", style="black on yellow")
    out.append(" in the body.", style="dim")
    return out


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text("sendguard review — keys", style="bold"), id="dialog-title")
            with VerticalScroll(id="dialog-body"):
                yield Static(help_text())

    def action_close(self) -> None:
        self.dismiss(None)
