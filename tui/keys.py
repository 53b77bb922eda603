"""Every key of the app in one table: the screens bind from it and the help screen lists it,
so the help can never miss a key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Key:
    key: str
    action: str
    description: str
    where: str  # space-separated screens: "queue", "message", "incidents"; or "all"
    short: str = ""  # the footer label; empty: not in the footer (still in the help)


KEYS: tuple[Key, ...] = (
    Key("enter", "open", "open the message", "queue", "open"),
    Key("r", "release", "release: send it now (asks first)", "queue message", "send"),
    Key("d", "discard", "discard: never send it (asks first)", "queue message", "discard"),
    Key("s", "suggest", "take the suggested recipient, check again, send (asks first)", "queue message", "suggest"),
    Key("e", "edit", "edit the message in $EDITOR, then check it again", "queue message", "edit"),
    Key("a", "allow", "allow this recipient / domain / client pairing from now on", "queue message", "allow"),
    Key(
        "f",
        "false_alarm",
        "mark as a false alarm (that rule weighs less for that contact)",
        "queue message",
        "false alarm",
    ),
    # Not in the footer, which must fit 80 columns: y (in the help) and / (the filter line says it).
    Key("y", "copy_id", "copy the queue id", "queue message incidents", ""),
    Key("slash", "filter", "filter the list / search the incidents", "queue incidents", ""),
    Key("i", "incidents", "browse past decisions (incidents)", "queue", "incidents"),
    Key("g", "refresh", "read the queue again", "queue incidents", ""),
    Key("escape", "back", "back", "message incidents", "back"),
    Key("question_mark", "help", "this help", "all", "help"),
    Key("q", "quit", "quit", "all", "quit"),
)

LABELS = {"slash": "/", "question_mark": "?", "escape": "Esc", "enter": "Enter"}


def bindings(where: str) -> list[Any]:
    """The Textual Bindings of one screen ("all" keys are bound by the app itself)."""
    from textual.binding import Binding

    return [Binding(k.key, k.action, k.short, show=bool(k.short)) for k in KEYS if where in k.where.split()]
