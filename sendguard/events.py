"""After a decision or a state change: tell the observers (history, incident log).

The send path must not wait for them and must never fail because of them: an observer that
breaks is reported in one line on stderr and the message's fate is unchanged. Observers are
modules named here, each with ``observe(entry, event, config)``; they are imported only when
an event happens.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

OBSERVERS: tuple[str, ...] = ("sendguard.history.observer", "sendguard.incidents.observer")


def emit(entry: Any, event: str, config: Any, *, observers: tuple[str, ...] | None = None) -> None:
    for name in OBSERVERS if observers is None else observers:
        try:
            importlib.import_module(name).observe(entry, event, config)
        except Exception as err:  # noqa: BLE001 — the log must never cost the user a message
            print(f"sendguard: warning: {name} could not record {event!r} for {entry.id}: {err}", file=sys.stderr)
