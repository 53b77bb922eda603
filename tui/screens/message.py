"""One message: recipients first, the findings in sentences, evidence highlighted in the body.

For a message in Postfix's hold queue this is the milter's copy of it (``postfix_row`` says
which held message it stands for); r and d then act on Postfix's queue, nothing else is offered.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from sendguard.errors import SendguardError
from sendguard.recover.review_data import ENTRY_ACTIONS, MessageView, QueueRow, allowed_actions, message_view
from sendguard.tui import render
from sendguard.tui.actions import EntryActions
from sendguard.tui.keys import bindings
from sendguard.tui.safe import text
from sendguard.tui.screens.base import ReviewScreen


class MessageScreen(EntryActions, ReviewScreen):
    BINDINGS = bindings("message")

    def __init__(self, entry_id: str, postfix_row: QueueRow | None = None) -> None:
        super().__init__(id="message-screen")
        self.entry_id = entry_id
        self.postfix_row = postfix_row
        self.view: MessageView | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-scroll"):
            yield Static(text("reading the message…", "dim"), id="detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#detail-scroll").focus()
        self.load()

    @work(thread=True, exclusive=True, group="message-load", exit_on_error=False)
    def load(self) -> None:
        app = self.review
        try:
            view = message_view(app.queue, self.entry_id, app.config)
        except SendguardError as err:
            app.call_from_thread(app.show_error, "Cannot show that message", err.details())
            return
        except (OSError, ValueError) as err:
            app.call_from_thread(app.show_error, "Cannot show that message", [f"{type(err).__name__}: {err}"])
            return
        app.call_from_thread(self.show_view, view)

    def show_view(self, view: MessageView) -> None:
        self.view = view
        self.query_one("#detail", Static).update(render.detail(view))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer (in the footer) and run only the actions this message's state allows."""
        if action not in ENTRY_ACTIONS:
            return True
        if self.postfix_row is not None:
            from sendguard.tui.screens.queue_list import POSTFIX_ACTIONS

            return action in POSTFIX_ACTIONS
        view = self.view
        return view is not None and action in allowed_actions(
            view.state, suggestion=bool(view.suggestions), findings=bool(view.findings)
        )

    def current_entry_id(self) -> str | None:
        return self.entry_id

    def current_postfix_row(self) -> QueueRow | None:
        return self.postfix_row

    def after_change(self) -> None:
        if self.postfix_row is not None:  # released or deleted: it is no longer in the hold queue
            self.review.pop_screen()
            return
        self.load()

    def action_back(self) -> None:
        self.review.pop_screen()
