"""Command-line words that name addresses, ids and queries: text, never stray bytes.

A word typed in a terminal whose locale is not UTF-8 (Latin-1's "Müller") reaches Python with
its bytes as surrogates; written into the history, a draft's header or a notmuch query it
raised UnicodeEncodeError, a traceback. ``TEXT`` refuses it as the command line is read.
"""

from __future__ import annotations

from typing import Any

import click

from sendguard.errors import UsageError


class _Text(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.2 on
    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                option = f"{param.opts[0]} " if isinstance(param, click.Option) else ""
                raise UsageError(
                    f"{option}'{shown}' is not UTF-8 text",
                    hints=["type it in a terminal that sends UTF-8 (a UTF-8 locale, e.g. LANG=C.UTF-8)"],
                ) from None
        return value


TEXT = _Text()
