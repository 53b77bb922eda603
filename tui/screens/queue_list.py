"""The first screen: the queue, most urgent first, filterable, with a live undo countdown.

Rows are read in a worker thread (10,000 meta.json files must not block the first paint of
the frame) and put into the DataTable as Text cells. The countdown timer touches only the
rows that are waiting in the undo window.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from sendguard.review_data import QueueRow, queue_rows
from sendguard.tui import render
from sendguard.tui.actions import EntryActions
from sendguard.tui.keys import bindings
from sendguard.tui.safe import text

COLUMNS = (("state", "State", 11), ("when", "When", 8), ("to", "To", 24), ("subject", "Subject", 0))


class QueueScreen(EntryActions, Screen[None]):
    BINDINGS = [*bindings("queue"), Binding("escape", "leave_filter", "", show=False)]

    def __init__(self) -> None:
        super().__init__(id="queue-screen")
        self.rows: list[QueueRow] = []
        self.shown: dict[str, QueueRow] = {}
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Input(placeholder="/ filter: words from recipient, subject, reason or state", id="filter")
        yield DataTable(id="queue", cursor_type="row", zebra_stripes=False)
        yield Static(id="preview")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        subject_width = max(12, self.app.size.width - sum(w for *_, w in COLUMNS) - 2 * len(COLUMNS) - 2)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width or subject_width)
        self.subject_width = subject_width
        self.query_one("#title", Static).update(text("sendguard review — loading the queue…", "bold"))
        table.focus()
        self.set_interval(1.0, self.tick)
        self.load()

    @work(thread=True, exclusive=True, group="queue-load", exit_on_error=False)
    def load(self) -> None:
        app = self.app
        try:
            rows = queue_rows(app.queue, app.now())
        except OSError as err:
            app.call_from_thread(app.show_error, "Cannot read the queue", [f"{app.queue.root}: {err}"])
            return
        app.call_from_thread(self.show_rows, rows)

    def show_rows(self, rows: list[QueueRow]) -> None:
        self.rows = rows
        self.loaded = True
        self.populate()

    def populate(self) -> None:
        table = self.query_one(DataTable)
        keep = self.current_entry_id()
        needle = self.query_one("#filter", Input).value.strip()
        now = self.app.now()
        shown = [row for row in self.rows if row.matches(needle)]
        self.shown = {row.id: row for row in shown}
        table.clear()
        for row in shown:
            table.add_row(*render.row_cells(row, now, COLUMNS[2][2], self.subject_width), key=row.id)
        if keep in self.shown:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        self.update_title(len(shown))
        self.update_preview()

    def update_title(self, count: int) -> None:
        held = sum(1 for r in self.rows if r.state in ("held", "blocked", "interrupted", "failed"))
        waiting = sum(1 for r in self.rows if r.state == "delayed")
        title = text(f"sendguard review — {held} need you, {waiting} waiting, {len(self.rows)} in the queue", "bold")
        if count != len(self.rows):
            title.append(f"  (showing {count})", style="dim")
        title.append("   ? help", style="dim")
        self.query_one("#title", Static).update(title)

    def current_row(self) -> QueueRow | None:
        return self.shown.get(self.current_entry_id() or "")

    def current_entry_id(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 — Textual raises CellDoesNotExist when empty
            return None
        return str(key.value) if key.value is not None else None

    def update_preview(self) -> None:
        row = self.current_row()
        if row is None and not self.loaded:
            return
        self.query_one("#preview", Static).update(render.preview(row))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.update_preview()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.loaded:
            self.populate()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def action_leave_filter(self) -> None:
        self.query_one(DataTable).focus()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_open(self) -> None:
        from sendguard.tui.screens.message import MessageScreen

        entry_id = self.current_entry_id()
        if entry_id:
            self.app.push_screen(MessageScreen(entry_id))

    def action_incidents(self) -> None:
        from sendguard.tui.screens.incidents import IncidentsScreen

        self.app.push_screen(IncidentsScreen())

    def action_refresh(self) -> None:
        self.load()

    def after_change(self) -> None:
        self.load()

    def tick(self) -> None:
        """Once a second: redraw the countdowns; read the queue again when one ran out."""
        now = self.app.now()
        table = self.query_one(DataTable)
        expired = False
        for row in self.shown.values():
            if row.state != "delayed":
                continue
            table.update_cell(row.id, "when", render.when_cell(row, now))
            expired = expired or (row.not_before is not None and row.not_before <= now)
        if expired:
            self.load()
