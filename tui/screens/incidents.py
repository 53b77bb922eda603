"""Past decisions: every message the queue still knows, newest first, searchable.

The incident log (sendguard.incidents, indexed with notmuch) is the long memory; when it
offers ``search(query, state_dir) -> list[str]`` (queue ids, newest first) the search box uses
it, otherwise the queue's own records are searched (they are kept ``[queue] keep_days``).
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from sendguard.review_data import QueueRow, queue_rows
from sendguard.tui import render
from sendguard.tui.keys import bindings
from sendguard.tui.safe import text

COLUMNS = (("when", "When", 8), ("state", "State", 11), ("to", "To", 24), ("subject", "Subject", 0))


class IncidentsScreen(Screen[None]):
    BINDINGS = bindings("incidents")

    def __init__(self) -> None:
        super().__init__(id="incidents-screen")
        self.rows: list[QueueRow] = []
        self.shown: list[QueueRow] = []

    def compose(self) -> ComposeResult:
        yield Static(text("Incidents — every decision the queue remembers", "bold"), id="title")
        yield Input(placeholder="/ search: recipient, subject, reason, state, id", id="search")
        yield DataTable(id="incidents", cursor_type="row")
        yield Static(id="preview")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self.subject_width = max(12, self.app.size.width - sum(w for *_, w in COLUMNS) - 2 * len(COLUMNS) - 2)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width or self.subject_width)
        table.focus()
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
        table = self.query_one(DataTable)
        table.clear()
        now = self.app.now()
        self.shown = self._matching(self.query_one("#search", Input).value.strip())
        for row in self.shown:
            table.add_row(render.when_cell(row, now), render.state_cell(row.state),
                          render.recipients_cell(row, 24), text(row.subject or "(no subject)", limit=self.subject_width),
                          key=row.id)
        self.update_preview()

    def current_entry_id(self) -> str | None:
        table = self.query_one(DataTable)
        if not self.shown or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row].id

    def update_preview(self) -> None:
        entry_id = self.current_entry_id()
        row = next((r for r in self.shown if r.id == entry_id), None)
        self.query_one("#preview", Static).update(render.preview(row) if row else text("No incidents match.", "dim"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.update_preview()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        from sendguard.tui.screens.message import MessageScreen

        entry_id = self.current_entry_id()
        if entry_id:
            self.app.push_screen(MessageScreen(entry_id))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.populate()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

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
            self.query_one(DataTable).focus()
            return
        self.app.pop_screen()
