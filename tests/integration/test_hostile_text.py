"""Message text on the terminal, through the real commands: a held message whose subject,
names and attachment name carry escapes, C1 controls, bidi overrides and markup shows them as
text in every listing, the JSON ones included (people read those on a terminal too)."""

from __future__ import annotations

import base64
import json
import re
import subprocess

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_message, sendguard_exe

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


# ---- check --json over generated hostile MIME, through the real command ---------------------

_ACTIVE_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_PIECES = st.sampled_from(
    ["\x1b[2J", "\x1b]8;;https://e.example\x07", "\u009b2J", "\u202e", "\u2066", "[bold red]", "[/]",
     "[link=https://e.example]", "[@click=app.quit]", "é", "ü", ",", '"', "<", "@", " ", "a"]
)  # fmt: skip
_HOSTILE_TEXT = st.lists(_PIECES, max_size=8).map("".join)


@st.composite
def hostile_message(draw) -> bytes:  # type: ignore[no-untyped-def]
    name, subject, filename = draw(_HOSTILE_TEXT), draw(_HOSTILE_TEXT), draw(_HOSTILE_TEXT) + ".pdf"
    charset = draw(st.sampled_from(["utf-8", "x-unknown", "utf-7", "", "latin-1"]))
    payload = draw(st.sampled_from(["JVBERi0xLjQK", "!!not base64!!", "JVBERi0", ""]))
    raw_name = draw(st.booleans())  # raw UTF-8 (RFC 6532) or an encoded word
    shown = encoded(name) if not raw_name else name.replace('"', "")
    depth = draw(st.integers(0, 30))
    head = f"From: {shown} <me@nordwerk.example>\nTo: anna@kundenfirma.example\nSubject: {encoded(subject)}\n"
    body = (
        f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\n'
        f"Content-Type: text/plain; charset={charset}\n\nsee attached {encoded(subject)}\n--b\n"
        + 'Content-Type: multipart/mixed; boundary="n"\n\n--n\n'
        * depth
        + f'Content-Type: application/pdf; name="{encoded(filename)}"\nContent-Transfer-Encoding: base64\n'
        f'Content-Disposition: attachment; filename="{encoded(filename)}"\n\n{payload}\n--b--\n'
    )
    return (head + body).encode("utf-8", "surrogateescape")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(hostile_message(), min_size=15, max_size=15))
def test_check_json_over_hostile_mime_is_one_clean_line_per_file(tmp_path_factory, messages):
    root = tmp_path_factory.mktemp("hostile")
    files = []
    for n, raw in enumerate(messages):
        files.append(root / f"{n:02}.eml")
        files[-1].write_bytes(raw)
    config = root / "config.toml"
    config.write_text(
        '[identity]\naddresses = ["me@nordwerk.example"]\n[organization]\ndomains = ["nordwerk.example"]\n'
    )
    proc = subprocess.run(
        [sendguard_exe(), "--config", str(config), "check", "--json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 1, 2, 3), proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert [json.loads(line)["file"] for line in lines] == [str(f) for f in files]
    assert not _ACTIVE_OR_NEWLINE.search(proc.stdout.replace("\n", ""))
