"""A virtual list of rows with a cursor: renders only the lines on screen.

Why not DataTable: with 10,000 rows, adding them took ~2.5 s and every cursor move ~150 ms on
this machine class (bench/bench_tui.py). This widget keeps the rows as a Python list of Text
cells and draws the ~20 visible ones in ``render_line`` (Textual's Line API), so filling it is
O(1) and scrolling costs the same for 10 rows or 100,000.

Rows are any objects; their cells are made by a ``render_row`` function only when a row comes
into view (and cached until the rows change), so filling the list with 10,000 rows costs
nothing per row. Cells are ``rich.text.Text`` built by tui/render.py from untrusted data; they
are cropped and padded here, never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


class RowList(ScrollView, can_focus=True):
    """Rows of cells under a fixed header line; the last column takes the remaining width."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "up", show=False),
        Binding("down,j", "move(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "edge(0)", "first", show=False),
        Binding("end", "edge(1)", "last", show=False),
        Binding("enter", "select", "open", show=False),
    ]
    COMPONENT_CLASSES = {"rowlist--header", "rowlist--cursor"}
    DEFAULT_CSS = """
    RowList { background: $surface; }
    RowList > .rowlist--header { text-style: bold; color: $text-accent; }
    RowList > .rowlist--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    RowList:blur > .rowlist--cursor { background: $block-cursor-blurred-background; }
    """

    cursor = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        def __init__(self, key: str | None) -> None:
            super().__init__()
            self.key = key

    class Selected(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, columns: list[tuple[str, str, int]], *, id: str | None = None) -> None:
        """``columns``: (key, header label, width); width 0 = the rest of the line."""
        super().__init__(id=id)
        self.columns = columns
        self.keys: list[str] = []
        self.rows: list[Any] = []
        self.render_row: Callable[[Any], list[Text]] = lambda row: []
        self._cells: dict[int, list[Text]] = {}
        self._index: dict[str, int] = {}

    # data

    def set_rows(
        self, keys: list[str], rows: list[Any], render_row: Callable[[Any], list[Text]], keep: str | None = None
    ) -> None:
        """Show ``rows`` (``keys`` name them); ``keep`` the cursor on that key if it is there."""
        self.keys, self.rows, self.render_row = keys, rows, render_row
        self._cells = {}
        self._index = {key: i for i, key in enumerate(keys)}
        self.virtual_size = Size(self.size.width, len(keys) + 1)
        target = self._index.get(keep, 0) if keep is not None else min(self.cursor, max(0, len(keys) - 1))
        self.cursor = target
        self.refresh()

    def cells_at(self, index: int) -> list[Text]:
        cells = self._cells.get(index)
        if cells is None:
            cells = self._cells[index] = self.render_row(self.rows[index])
        return cells

    def redraw(self, key: str) -> None:
        """The row behind ``key`` changed (a countdown): render it again when visible."""
        index = self._index.get(key)
        if index is not None:
            self._cells.pop(index, None)
            self.refresh_line(index)

    def visible_keys(self) -> list[str]:
        top = self.scroll_offset.y
        return self.keys[top : top + max(0, self.size.height - 1)]

    @property
    def row_count(self) -> int:
        return len(self.keys)

    @property
    def current_key(self) -> str | None:
        return self.keys[self.cursor] if 0 <= self.cursor < len(self.keys) else None

    def index_of(self, key: str) -> int:
        return self._index[key]

    def cell(self, key: str, column: str) -> Text:
        return self.cells_at(self._index[key])[self._column_index(column)]

    def move_to(self, key: str) -> None:
        self.cursor = self._index[key]

    def refresh_line(self, index: int) -> None:
        y = index + 1 - self.scroll_offset.y
        if 0 < y < self.size.height:
            self.refresh_lines(y)

    def _column_index(self, column: str) -> int:
        return next(i for i, (key, _, _) in enumerate(self.columns) if key == column)

    # cursor

    def watch_cursor(self, old: int, new: int) -> None:
        if self.keys:
            clamped = max(0, min(new, len(self.keys) - 1))
            if clamped != new:
                self.cursor = clamped
                return
            self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self.current_key))

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def action_move(self, delta: int) -> None:
        if self.keys:
            self.cursor = max(0, min(len(self.keys) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.size.height - 2))

    def action_edge(self, end: int) -> None:
        if self.keys:
            self.cursor = len(self.keys) - 1 if end else 0

    def action_select(self) -> None:
        if self.current_key is not None:
            self.post_message(self.Selected(self.current_key))

    def on_click(self, event) -> None:  # type: ignore[no-untyped-def]
        index = self.scroll_offset.y + event.y - 1
        if event.y >= 1 and 0 <= index < len(self.keys):
            self.cursor = index
            if event.chain >= 2:
                self.action_select()

    # drawing

    def _widths(self, width: int) -> list[int]:
        fixed = sum(w for _, _, w in self.columns if w) + len(self.columns)
        return [w or max(8, width - fixed) for _, _, w in self.columns]

    def _line(self, cells: list[Text], width: int, style: Style) -> Strip:
        segments: list[Segment] = []
        console = self.app.console
        for cell, cell_width in zip(cells, self._widths(width)):
            shown = cell.copy()
            shown.no_wrap = True
            shown.truncate(cell_width, overflow="ellipsis", pad=True)
            segments.append(Segment(" ", style))
            segments.extend(Segment.apply_style(shown.render(console), style))
        return Strip(segments).adjust_cell_length(width, style)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            header = self.get_component_rich_style("rowlist--header")
            return self._line([Text(label) for _, label, _ in self.columns], width, base + header)
        index = self.scroll_offset.y + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, base)
        style = base
        if index == self.cursor:
            style = base + self.get_component_rich_style("rowlist--cursor")
        return self._line(self.cells_at(index), width, style)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.keys) + 1)
