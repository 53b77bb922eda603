"""Message text on the terminal, through the real commands: a held message whose subject,
names and attachment name carry escapes, C1 controls, bidi overrides and markup shows them as
text in every listing, the JSON ones included (people read those on a terminal too)."""

from __future__ import annotations

import base64
import json
import re

from tests.conftest import make_message

# ESC sequences, C1 CSI (U+009B) and OSC (U+009D) as UTF-8 terminals act on them, a bidi
# override, and Rich/Textual markup
HOSTILE = "\x1b[2J\u009b2J\u009d0;owned\u009c \u202eevil [bold red]B[/] [link=https://e.example]L[/link]"
ACTIVE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # a newline ends a line


def encoded(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def test_json_listings_of_a_hostile_subject_hold_no_terminal_control(world):
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    msg = make_message(subject=encoded(HOSTILE), sender=f"{encoded(HOSTILE)} <me@nordwerk.example>")
    assert world.send(msg, "anna@kundenfirma.example").returncode == 75
    for args in (("queue", "list", "--json"), ("log", "--json"), ("queue", "list"), ("log",)):
        proc = world.cli(*args)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip(), args
        assert not ACTIVE.search(proc.stdout), (args, proc.stdout)
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert row["subject"] == HOSTILE  # the facts are all there, only escaped
