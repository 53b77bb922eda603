"""What a shell completes for an argument: queue ids by state, incident ids, rule ids.

Each is a click ``shell_complete`` callback; the description shown beside an id is its state
and subject (printable: a subject is anyone's text). A completion never fails: whatever cannot
be read completes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import click
from click.shell_completion import CompletionItem

Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def _item(entry_id: str, state: str, subject: str) -> CompletionItem:
    from sendguard.printable import printable

    return CompletionItem(entry_id, help=printable(f"{state}: {subject}")[:60])


def queue_ids(*states: str) -> Completer:
    """Ids of the queue entries in one of ``states``, newest first."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        try:
            from sendguard.act import queue as q

            entries = q.Queue.default().entries()
        except Exception:  # noqa: BLE001 — a completion says nothing rather than a traceback
            return []
        return [
            _item(e.id, str(e.meta.get("state", "")), str(e.meta.get("subject", "")))
            for e in reversed(entries)
            if e.id.startswith(incomplete) and e.meta.get("state") in states
        ]

    return complete


def releasable(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Ids of the entries that release and discard accept: held, blocked, deferred, failed..."""
    from sendguard.act.ops import RELEASABLE

    return queue_ids(*RELEASABLE)(ctx, param, incomplete)


def incident_ids(query: str, *states: str) -> Completer:
    """Ids of the queue entries in ``states`` and of the incident log's records matching
    ``query`` (an entry the queue has pruned is still in the log), newest first, each once.
    After ``--as SENDER``: the milter's copies of that sender's messages that left."""
    from_queue = queue_ids(*states)

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        if ctx.params.get("as_sender"):
            return _milter_copies(ctx, str(ctx.params["as_sender"]), incomplete)
        items = from_queue(ctx, param, incomplete)
        seen = {i.value for i in items}
        for item in _logged(query, incomplete):
            if item.value not in seen:
                seen.add(item.value)
                items.append(item)
        return items

    return complete


def _logged(query: str, incomplete: str) -> Iterable[CompletionItem]:
    try:
        from sendguard import paths
        from sendguard.incidents import store

        rows = store.search(paths.state_dir(), query)
    except Exception:  # noqa: BLE001 — no notmuch, no log yet, a locked database: nothing to offer
        return []
    return [_item(r.id, r.event, r.subject) for r in rows if r.id.startswith(incomplete)]


def _milter_state(ctx: click.Context) -> Path:
    """The milter's state directory, as ``--config`` (or SENDGUARD_CONFIG) configures it."""
    from sendguard.config import schema
    from sendguard.milter import senders

    config_path = ctx.find_root().params.get("config_path")
    return senders.state_dir(schema.load(config_path, required=config_path is not None))


def milter_senders(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The senders the team's milter keeps a history for: one directory listing."""
    import os
    from urllib.parse import unquote

    try:
        names = os.listdir(_milter_state(ctx) / "senders")
    except Exception:  # noqa: BLE001 — no milter here, a broken config, no rights: nothing to offer
        return []
    keys = sorted(unquote(name) for name in names if not name.startswith("."))
    return [CompletionItem(key) for key in keys if key.startswith(incomplete.lower())]


def _milter_copies(ctx: click.Context, sender: str, incomplete: str) -> list[CompletionItem]:
    try:
        from sendguard.act import queue as q
        from sendguard.milter import senders
        from sendguard.recover.team_oops import left_at

        key = senders.key_of(sender, None)
        entries = q.Queue(_milter_state(ctx) / "queue").entries()
    except Exception:  # noqa: BLE001 — as above
        return []
    return [
        _item(e.id, "left", str(e.meta.get("subject", "")))
        for e in reversed(entries)
        if e.id.startswith(incomplete) and e.meta.get("milter_sender") == key and left_at(e.meta)
    ]


def rule_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The rule ids, each with its one-line description."""
    from sendguard.rules import RULES, rule_class

    items = []
    for rule_id in sorted(RULES):
        if rule_id.startswith(incomplete):
            try:
                description: str | None = rule_class(rule_id).description
            except Exception:  # noqa: BLE001 — the id is still worth offering
                description = None
            items.append(CompletionItem(rule_id, help=description))
    return items
