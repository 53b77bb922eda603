"""Untrusted text for the screen: always a Text object, never a markup string.

Textual parses *strings* as markup in Static, DataTable cells, OptionList prompts and
notifications; a subject like ``[@click=app.quit]`` would become a live link. A
``rich.text.Text`` is never parsed, and ``printable()`` turns control characters (ESC, BEL,
bidi overrides) into visible escapes. Build every message-derived piece of the screen here.
"""

from __future__ import annotations

from rich.text import Text

from sendguard.printable import printable


def text(value: object, style: str = "", *, keep_newlines: bool = False, limit: int | None = None) -> Text:
    """``value`` as inert, printable text."""
    shown = printable(str(value), keep_newlines=keep_newlines)
    if limit is not None and len(shown) > limit:
        shown = shown[: max(0, limit - 1)] + "…"
    return Text(shown, style=style, no_wrap=not keep_newlines, end="")


def join(*parts: Text | str, sep: str = "") -> Text:
    """Concatenate; plain ``str`` parts are our own constant labels (also not parsed)."""
    out = Text(end="")
    for index, part in enumerate(parts):
        if index and sep:
            out.append(sep)
        out.append(part if isinstance(part, Text) else Text(part))
    return out
