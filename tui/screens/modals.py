"""Typed modals: confirm (bool), choose (an index or None), error (nothing).

Their bodies are Text objects built by the caller from untrusted data (see tui/safe.py);
the button labels are our own constants.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option


def clear_toasts(modal: ModalScreen) -> None:  # type: ignore[type-arg]
    """Toasts are drawn above every screen: the notices shown at start (a minute each) covered
    a dialog's diff and its buttons in an 80- or 100-column terminal. A dialog is what the person
    reads now. Textual refreshes only the top screen's toasts: the screens beneath, drawn around
    the dialog, kept theirs ("Sent to ..." of the decision before, beside the next dialog)."""
    app = modal.app
    app.clear_notifications()
    for screen in app.screen_stack:
        if screen is not modal:
            screen.query("#textual-toastrack > *").remove()


class ConfirmModal(ModalScreen[bool]):
    """Ask before anything that sends or destroys. y / Enter: yes; n / Esc: no."""

    BINDINGS = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, title: str, body: Text, yes: str = "Yes") -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.body = body
        self.yes_label = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self.title_text, style="bold"), id="dialog-title")
            with VerticalScroll(id="dialog-body"):
                yield Static(self.body)
            with Horizontal(id="dialog-buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="primary")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        clear_toasts(self)
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ChoiceModal(ModalScreen["int | None"]):
    """Pick one of several options (Enter), or Esc for none."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, options: list[Text]) -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.options = options

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self.title_text, style="bold"), id="dialog-title")
            yield OptionList(*(Option(prompt, id=str(i)) for i, prompt in enumerate(self.options)), id="choices")
            yield Static(Text("Enter: choose   Esc: cancel", style="dim"))

    def on_mount(self) -> None:
        clear_toasts(self)
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option_index)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ErrorModal(ModalScreen[None]):
    """An error a person can act on: SendguardError.details(), never a traceback."""

    BINDINGS = [Binding("escape,enter,q", "close", "close")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__(classes="modal error")
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        from sendguard.tui.safe import text

        body = Text(end="")
        for index, line in enumerate(self.lines):
            if index:
                body.append("\n")
            body.append_text(text(line, "" if index else "bold", keep_newlines=True))
        with Vertical(id="dialog"):
            yield Static(Text(self.title_text, style="bold red"), id="dialog-title")
            with VerticalScroll(id="dialog-body"):
                yield Static(body)
            with Horizontal(id="dialog-buttons"):
                yield Button("Close (Esc)", id="close", variant="error")

    def on_mount(self) -> None:
        clear_toasts(self)
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
