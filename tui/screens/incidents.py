"""Past decisions, newest first, searchable: the incident log when it exists, the queue before.

The search runs in a worker (notmuch may take a moment on a big log) on every change of the
search box; a query notmuch cannot parse is reported under the list, not in a modal that would
interrupt typing. Enter opens the message when the queue still has it, otherwise the record.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from sendguard.errors import SendguardError
from sendguard.printable import printable
from sendguard.recover.review_data import IncidentRow, incident_rows
from sendguard.tui import render
from sendguard.tui.keys import bindings
from sendguard.tui.rowlist import RowList
from sendguard.tui.safe import text
from sendguard.tui.screens.base import ReviewScreen

COLUMNS = [("when", "When", 12), ("event", "Event", 11), ("to", "To", 24), ("subject", "Subject", 0)]


def _cells(row: IncidentRow) -> list[Text]:
    from datetime import datetime

    when = datetime.fromtimestamp(row.when).astimezone().strftime("%d %b %H:%M") if row.when else "?"
    first = row.recipients[0] if row.recipients else "(none)"
    more = f" +{len(row.recipients) - 1}" if len(row.recipients) > 1 else ""
    return [
        Text(when),
        render.state_cell(row.event),
        text(first + more, limit=60),
        text(row.subject or "(no subject)", limit=200),
    ]


class IncidentsScreen(ReviewScreen):
    BINDINGS = bindings("incidents")

    def __init__(self) -> None:
        super().__init__(id="incidents-screen")
        self.shown: list[IncidentRow] = []
        self.by_key: dict[str, IncidentRow] = {}
        self.source = ""
        self.problem: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(text("Incidents — reading…", "bold"), id="title")
        yield Input(placeholder="/ search", id="search", compact=True)
        yield RowList(COLUMNS, id="incidents")
        yield Static(id="preview")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(RowList).focus()
        self.load()

    @work(thread=True, exclusive=True, group="incidents-load", exit_on_error=False)
    def load(self) -> None:
        app = self.review
        query = self.query_one("#search", Input).value
        worker = get_current_worker()
        try:
            rows, source = incident_rows(app.queue, app.state_dir, query)
            problem: list[str] = []
        except SendguardError as err:
            rows, source, problem = [], self.source, err.details()
        except OSError as err:
            rows, source, problem = [], self.source, [f"cannot read: {err}"]
        if not worker.is_cancelled:
            app.call_from_thread(self.show_rows, rows, source, problem)

    def show_rows(self, rows: list[IncidentRow], source: str, problem: list[str]) -> None:
        self.shown, self.source, self.problem = rows, source, problem
        self.by_key = {row.key: row for row in rows}
        self.query_one(RowList).set_rows([row.key for row in rows], rows, _cells)
        where = (
            "the incident log (search: notmuch syntax, e.g. tag:held to:example.org)"
            if source == "incident log"
            else "the queue's own records (search: words)"
        )
        self.query_one("#title", Static).update(text(f"Incidents — {len(rows)} from {where}", "bold"))
        self.update_preview()

    def current_row(self) -> IncidentRow | None:
        return self.by_key.get(self.query_one(RowList).current_key or "")

    def current_entry_id(self) -> str | None:
        row = self.current_row()
        return row.id if row else None

    def update_preview(self) -> None:
        preview = self.query_one("#preview", Static)
        if self.problem:
            preview.update(text("; ".join(self.problem), "red"))
            return
        row = self.current_row()
        if row is None:
            preview.update(text("No incidents match.", "dim"))
            return
        out = Text(end="")
        out.append("To:  ", style="bold")
        out.append_text(text(", ".join(row.recipients) or "(none)"))
        out.append("\nId:  ", style="bold")
        out.append_text(text(row.id or "?"))
        preview.update(out)

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        self.update_preview()

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        from sendguard.tui.screens.message import MessageScreen

        row = self.current_row()
        if row is None:
            return
        if row.id and (self.review.queue.root / row.id).is_dir():
            self.review.push_screen(MessageScreen(row.id))
        elif row.record:
            self.review.push_screen(RecordScreen(row.record))
        else:
            self.review.show_error("Nothing to open", [f"{row.id} is no longer in the queue"])

    def on_input_changed(self, event: Input.Changed) -> None:
        self.load()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(RowList).focus()

    def action_filter(self) -> None:
        self.query_one("#search", Input).focus()

    def action_refresh(self) -> None:
        self.load()

    def action_copy_id(self) -> None:
        entry_id = self.current_entry_id()
        if entry_id:
            self.review.copy_to_clipboard(entry_id)
            self.review.notify(printable(f"Copied {entry_id}"), markup=False)

    def action_back(self) -> None:
        if self.focused is self.query_one("#search", Input):
            self.query_one(RowList).focus()
            return
        self.review.pop_screen()


class RecordScreen(ReviewScreen):
    """One incident record (the queue has pruned the message): its readable summary."""

    BINDINGS = [("escape", "back", "back")]

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        from pathlib import Path

        from sendguard.mail.message import OutgoingMessage

        try:
            summary = OutgoingMessage(Path(self.path).read_bytes()).body_text
        except OSError as err:
            summary = f"the record cannot be read: {err}"
        with VerticalScroll():
            yield Static(text(summary, keep_newlines=True))
        yield Footer(compact=True)

    def action_back(self) -> None:
        self.review.pop_screen()
