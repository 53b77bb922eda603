"""The first screen: the queue, most urgent first, filterable, with a live undo countdown.

Rows are read in a worker thread (10,000 meta.json files must not block the first paint of
the frame) and handed to a RowList (tui/rowlist.py), which draws only the visible lines. The
countdown timer touches only the rows that are waiting in the undo window.

On Postfix's hold queue (``review --postfix``) the same list shows who sent each message
instead of its state (all are held), offers release and discard only, and reads the hold queue
again every few seconds: Postfix does not tell anyone when it holds or lets go of a message.
"""

from __future__ import annotations

import itertools
from concurrent.futures import Future
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Input, Static

from sendguard.errors import SendguardError
from sendguard.printable import printable
from sendguard.recover.review_data import ENTRY_ACTIONS, QueueRow, allowed_actions, queue_rows, queue_signature
from sendguard.tui import render
from sendguard.tui.actions import EntryActions
from sendguard.tui.keys import bindings
from sendguard.tui.rowlist import RowList
from sendguard.tui.safe import text
from sendguard.tui.screens.base import ReviewScreen

WATCH_LIMIT = 500  # entries stat()ed each second for changes; more waiting than that is refreshed by g
COLUMNS = [("state", "State", 11), ("when", "When", 8), ("to", "To", 24), ("subject", "Subject", 0)]
POSTFIX_COLUMNS = [("from", "From", 22), ("when", "When", 8), ("to", "To", 22), ("subject", "Subject", 0)]
POSTFIX_ACTIONS = frozenset({"release", "discard"})
"""What can be done to a message in Postfix's hold queue: let it go, or delete it."""
POSTFIX_POLL = 5.0  # seconds between reads of Postfix's hold queue


class QueueScreen(EntryActions, ReviewScreen):
    BINDINGS = [*bindings("queue"), Binding("escape", "leave_filter", "", show=False)]

    def __init__(self) -> None:
        super().__init__(id="queue-screen")
        self.rows: list[QueueRow] = []
        self.shown: dict[str, QueueRow] = {}
        self.loaded = False
        self.expired_seen: set[str] = set()
        self.signature: tuple[int, ...] | None = None
        self.reads = itertools.count()
        self.shown_read = -1
        """The newest read of the queue shown: a read that began before it shows nothing."""

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        what = "sender, recipient, subject or reason" if self.review.postfix else "recipient, subject, reason or state"
        yield Input(placeholder=f"/ filter: words from {what}", id="filter", compact=True)
        yield RowList(POSTFIX_COLUMNS if self.review.postfix else COLUMNS, id="queue")
        yield Static(id="preview")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#title", Static).update(text("sendguard review — loading the queue…", "bold"))
        self.query_one(RowList).focus()
        self.set_interval(1.0, self.tick)
        if self.review.postfix:
            self.set_interval(POSTFIX_POLL, self.load)
        self.load()

    def load(self) -> None:
        """Read the queue anew on a thread; the newest read is shown (``_loaded``). Its number and
        the command's first read (``prefetch``) are taken here, in call order: on the threads, a
        later read could take the first read's place and show the queue as it was before."""
        app = self.review
        prefetch, app.prefetch = app.prefetch, None
        self._load(next(self.reads), prefetch)

    @work(thread=True, exclusive=True, group="queue-load", exit_on_error=False)
    def _load(self, read: int, prefetch: Future[Any] | None) -> None:
        app = self.review
        try:
            if app.hold_queue is not None:
                rows = app.hold_queue()
            else:
                rows = prefetch.result() if prefetch is not None else queue_rows(app.queue, app.now())
        except OSError as err:
            app.call_from_thread(app.show_error, "Cannot read the queue", [f"{app.queue.root}: {err}"])
            return
        except SendguardError as err:
            title = "Cannot read Postfix's hold queue" if app.postfix else "Cannot read the queue"
            app.call_from_thread(app.show_error, title, err.details())
            return
        app.call_from_thread(self._loaded, read, rows)

    def _loaded(self, read: int, rows: list[QueueRow]) -> None:
        """Reads of the queue overlap (a thread cannot be stopped) and may end out of order: one
        that began before the read shown is what the queue was, and shows nothing."""
        if read > self.shown_read:
            self.shown_read = read
            self.show_rows(rows)

    def show_rows(self, rows: list[QueueRow]) -> None:
        self.rows = rows
        self.loaded = True
        self.signature = queue_signature(self.review.queue.root, self._watched())
        self.populate()

    def populate(self) -> None:
        table = self.query_one(RowList)
        keep = self.current_entry_id()
        needle = self.query_one("#filter", Input).value.strip()
        shown = [row for row in self.rows if row.matches(needle)]
        self.shown = {row.id: row for row in shown}
        now = self.review.now
        if self.review.postfix:
            widths = (POSTFIX_COLUMNS[0][2], POSTFIX_COLUMNS[2][2])
            table.set_rows(
                [row.id for row in shown], shown, lambda row: render.postfix_row_cells(row, now(), *widths, 200), keep
            )
        else:
            to_width = COLUMNS[2][2]
            table.set_rows(
                [row.id for row in shown], shown, lambda row: render.row_cells(row, now(), to_width, 200), keep
            )
        self.update_title(len(shown))
        self.update_preview()
        self.refresh_bindings()

    def update_title(self, count: int) -> None:
        if self.review.postfix:
            title = text(f"sendguard review — Postfix's hold queue: {len(self.rows)} held", "bold")
            if count != len(self.rows):
                title.append(f"  (showing {count})", style="dim")
            title.append("   ? help", style="dim")
            self.query_one("#title", Static).update(title)
            return
        held = sum(1 for r in self.rows if r.needs_you)
        waiting = sum(1 for r in self.rows if r.state == "delayed")
        title = text(f"sendguard review — {held} need you, {waiting} waiting, {len(self.rows)} in the queue", "bold")
        if count != len(self.rows):
            title.append(f"  (showing {count})", style="dim")
        title.append("   ? help", style="dim")
        self.query_one("#title", Static).update(title)

    def current_row(self) -> QueueRow | None:
        return self.shown.get(self.current_entry_id() or "")

    def current_entry_id(self) -> str | None:
        return self.query_one(RowList).current_key

    def current_postfix_row(self) -> QueueRow | None:
        return self.current_row() if self.review.postfix else None

    def update_preview(self) -> None:
        row = self.current_row()
        if row is None and not self.loaded:
            return
        self.query_one("#preview", Static).update(render.preview(row))

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        self.update_preview()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer (in the footer) and run only the actions the highlighted message's state allows."""
        if self.review.postfix:
            if action == "incidents":  # the milter's decisions are in its own log, not this user's
                return False
            if action in ENTRY_ACTIONS:
                return self.current_row() is not None and action in POSTFIX_ACTIONS
            return True
        if action not in ENTRY_ACTIONS:
            return True
        row = self.current_row()
        return row is not None and action in allowed_actions(
            row.state, suggestion=row.suggestion, findings=row.findings
        )

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        self.action_open()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.loaded:
            self.populate()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(RowList).focus()

    def action_leave_filter(self) -> None:
        self.query_one(RowList).focus()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_open(self) -> None:
        from sendguard.tui.screens.message import MessageScreen

        if self.review.postfix:
            row = self.current_row()
            if row is not None and row.copy_id:
                self.review.push_screen(MessageScreen(row.copy_id, postfix_row=row))
            elif row is not None:
                self.review.notify(
                    printable(f"sendguard kept no copy of {row.id}: it was held by something else."),
                    severity="warning",
                    markup=False,
                )
            return
        entry_id = self.current_entry_id()
        if entry_id:
            self.review.push_screen(MessageScreen(entry_id))

    def action_incidents(self) -> None:
        from sendguard.tui.screens.incidents import IncidentsScreen

        self.review.push_screen(IncidentsScreen())

    def action_refresh(self) -> None:
        self.load()

    def after_change(self) -> None:
        self.load()

    def _watched(self) -> list[str]:
        """The entries whose state may change without us: everything not yet delivered."""
        if self.review.postfix:  # Postfix's ids are not entries of the milter's queue; it is polled
            return []
        return [r.id for r in self.rows if r.state != "delivered"][:WATCH_LIMIT]

    def tick(self) -> None:
        """Once a second: redraw the visible countdowns; read the queue again when it changed
        (new mail held, `queue run` delivered something) or a countdown ran out."""
        if self.loaded:
            signature = queue_signature(self.review.queue.root, self._watched())
            if self.signature is not None and signature != self.signature:
                self.signature = None
                self.load()
                return
        now = self.review.now()
        table = self.query_one(RowList)
        for key in table.visible_keys():
            if self.shown[key].state == "delayed":
                table.redraw(key)
        expired = {r.id for r in self.rows if r.state == "delayed" and r.not_before is not None and r.not_before <= now}
        if expired - self.expired_seen:  # once per message: `queue run` may have sent it meanwhile
            self.expired_seen |= expired
            self.load()
