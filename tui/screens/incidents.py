"""Past decisions: every message the queue still knows, newest first, searchable.

The incident log (sendguard.incidents, indexed with notmuch) is the long memory; when it
offers ``search(query, state_dir) -> list[str]`` (queue ids, newest first) the search box uses
it, otherwise the queue's own records are searched (they are kept ``[queue] keep_days``).
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from sendguard.review_data import QueueRow, queue_rows
from sendguard.tui import render
from sendguard.tui.keys import bindings
from sendguard.tui.rowlist import RowList
from sendguard.tui.safe import text

COLUMNS = [("when", "When", 8), ("state", "State", 11), ("to", "To", 24), ("subject", "Subject", 0)]


class IncidentsScreen(Screen[None]):
    BINDINGS = bindings("incidents")

    def __init__(self) -> None:
        super().__init__(id="incidents-screen")
        self.rows: list[QueueRow] = []
        self.shown: list[QueueRow] = []
        self.by_id: dict[str, QueueRow] = {}

    def compose(self) -> ComposeResult:
        yield Static(text("Incidents — every decision the queue remembers", "bold"), id="title")
        yield Input(placeholder="/ search: recipient, subject, reason, state, id", id="search", compact=True)
        yield RowList(COLUMNS, id="incidents")
        yield Static(id="preview")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RowList).focus()
        self.load()

    @work(thread=True, exclusive=True, group="incidents-load", exit_on_error=False)
    def load(self) -> None:
        app = self.app
        try:
            rows = queue_rows(app.queue, app.now(), include_all=True)
        except OSError as err:
            app.call_from_thread(app.show_error, "Cannot read the queue", [str(err)])
            return
        app.call_from_thread(self.show_rows, rows)

    def show_rows(self, rows: list[QueueRow]) -> None:
        self.rows = rows
        self.populate()

    def _matching(self, needle: str) -> list[QueueRow]:
        from sendguard import incidents

        search = getattr(incidents, "search", None)
        if needle and search is not None:
            ids = set(search(needle, self.app.state_dir))
            return [row for row in self.rows if row.id in ids]
        return [row for row in self.rows if row.matches(needle)]

    def populate(self) -> None:
        self.shown = self._matching(self.query_one("#search", Input).value.strip())
        self.by_id = {row.id: row for row in self.shown}
        self.query_one(RowList).set_rows([row.id for row in self.shown], self.shown, self._cells)
        self.update_preview()

    def _cells(self, row: QueueRow) -> list:  # type: ignore[type-arg]
        return [render.when_cell(row, self.app.now()), render.state_cell(row.state), render.recipients_cell(row, 24),
                text(row.subject or "(no subject)", limit=200)]

    def current_entry_id(self) -> str | None:
        return self.query_one(RowList).current_key

    def update_preview(self) -> None:
        row = self.by_id.get(self.current_entry_id() or "")
        self.query_one("#preview", Static).update(render.preview(row) if row else text("No incidents match.", "dim"))

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        self.update_preview()

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        from sendguard.tui.screens.message import MessageScreen

        entry_id = self.current_entry_id()
        if entry_id:
            self.app.push_screen(MessageScreen(entry_id))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.populate()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(RowList).focus()

    def action_filter(self) -> None:
        self.query_one("#search", Input).focus()

    def action_refresh(self) -> None:
        self.load()

    def action_copy_id(self) -> None:
        entry_id = self.current_entry_id()
        if entry_id:
            self.app.copy_to_clipboard(entry_id)
            self.app.notify(f"Copied {entry_id}", markup=False)

    def action_back(self) -> None:
        if self.focused is self.query_one("#search", Input):
            self.query_one(RowList).focus()
            return
        self.app.pop_screen()
