"""The help screen (?): every key, read from tui/keys.py (on Postfix's hold queue, the ones that work there)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from sendguard.tui.keys import KEYS, LABELS

# Postfix's hold queue (review --postfix): the sender's fixes and the incident browser are not offered.
POSTFIX_HIDDEN = frozenset({"suggest", "edit", "allow", "false_alarm", "incidents"})
POSTFIX_DESCRIPTIONS = {
    "open": "open sendguard's copy of the message, with its findings",
    "release": "release it from Postfix's hold queue: Postfix delivers it now (asks first)",
    "discard": "delete it from Postfix's hold queue: never sent (asks first)",
    "copy_id": "copy the Postfix queue id",
    "refresh": "read the hold queue again (it is also read every few seconds)",
}


def help_text(postfix: bool = False) -> Text:
    out = Text(end="")
    keys = [k for k in KEYS if not (postfix and k.action in POSTFIX_HIDDEN)]
    for index, key in enumerate(keys):
        if index:
            out.append("\n")
        out.append(f"{LABELS.get(key.key, key.key):>6}  ", style="bold")
        out.append(POSTFIX_DESCRIPTIONS.get(key.action, key.description) if postfix else key.description)
    out.append("\n\nOutside recipients are marked ", style="dim")
    out.append("outside", style="bold yellow")
    out.append("; evidence is ", style="dim")
    out.append("highlighted", style="black on yellow")
    out.append(" in the body.", style="dim")
    return out


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "close")]

    def __init__(self, postfix: bool = False) -> None:
        super().__init__()
        self.postfix = postfix

    def compose(self) -> ComposeResult:
        title = "sendguard review — keys (Postfix's hold queue)" if self.postfix else "sendguard review — keys"
        with Vertical(id="dialog"):
            yield Static(Text(title, style="bold"), id="dialog-title")
            with VerticalScroll(id="dialog-body"):
                yield Static(help_text(self.postfix))

    def action_close(self) -> None:
        self.dismiss(None)
