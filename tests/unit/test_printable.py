"""printable() and json_line(): no character from a message acts on the terminal it is shown on."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.printable import json_line

# What a terminal acts on (C0 but newline and tab, DEL, C1: U+009B is CSI, U+009D OSC) or
# what reorders text (bidi overrides and isolates), and the separators some break lines at.
ACTIVE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x2100), max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(TEXT, st.one_of(TEXT, st.lists(TEXT, max_size=3), st.none(), st.integers()), max_size=4))
def test_json_line_reads_back_and_holds_nothing_a_terminal_acts_on(value):
    line = json_line(value)
    assert json.loads(line) == value
    assert not ACTIVE.search(line)
    assert "\n" not in line


def test_json_line_keeps_non_ascii_text_readable():
    assert json_line({"subject": "Grüße \u009b2J \u202eevil"}) == '{"subject": "Grüße \\u009b2J \\u202eevil"}'
