"""Message text is untrusted: make it safe to put on a terminal, or in a header of a mail we write.

Any control character (ESC, CSI, OSC, BEL, backspace, carriage return ...) from a subject,
name or body is shown as a visible escape (``\\x1b``), so no sequence from a message can move
the cursor, set a title or hide text. Used for stderr, the CLI and the review screen.
``encode_header`` puts such text into a header of a mail sendguard writes itself (an incident
record, a notice mail): one field, whatever line breaks the text carries.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control or bidi-override character shown as an escape."""
    if not keep_newlines:
        text = text.replace("\n", " ").replace("\t", " ")
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


# sendguard's own punctuation, for a terminal program in the C locale
_ASCII = str.maketrans(
    {
        "—": "-",
        "–": "-",
        "→": "->",
        "…": "...",
        "·": "-",
        "„": '"',
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "«": '"',
        "»": '"',
        "\u00a0": " ",
    }
)


def ascii_text(text: str) -> str:
    """``text`` in ASCII, for a program whose locale is C or POSIX: mutt there shows each byte
    above 127 as an octal escape ("HELD \\342\\200\\224 not sent."). Accents go ("Gehälter"
    becomes "Gehalter"), anything else becomes "?"."""
    import unicodedata

    text = unicodedata.normalize("NFKD", text.translate(_ASCII))
    return "".join(c for c in text if not unicodedata.combining(c)).encode("ascii", "replace").decode("ascii")


def column(text: str, width: int) -> str:
    """``text`` in a column of ``width``: padded, or cut with "…" so a cut never passes for the
    whole (a recipient list missing its last address, "Freigab" for "Freigabe")."""
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.ljust(width)


# What JSON leaves raw but a terminal acts on or reorders: DEL, the C1 controls (U+009B is CSI,
# U+009D OSC: VTE and xterm act on them in UTF-8), bidi overrides, line and paragraph separators.
_JSON_RAW = re.compile(r"[\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def json_line(value: object) -> str:
    """``value`` as one line of JSON for stdout: non-ASCII text stays readable, but every
    character a terminal would act on is a ``\\uXXXX`` escape (json.dumps escapes only C0)."""
    import json

    text = json.dumps(value, ensure_ascii=False)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def encode_header(value: str) -> str:
    """A header value safe to write: no line breaks of its own, folded lines, RFC 2047 Q
    words when not ASCII (so a hostile subject can never start a header of its own)."""
    value = " ".join(value.split())
    if value.isascii():
        lines = [""]
        for word in value.split(" "):  # fold long values (a hundred recipients) at spaces
            if lines[-1] and len(lines[-1]) + 1 + len(word) > 76:
                lines.append(word)
            else:
                lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
        return "\n ".join(lines)
    # Q, not B: notmuch's GMime joins adjacent base64 words before decoding, so a word that
    # ends in padding ("=") loses every word after it. A Q word has no padding.
    words, chunk = [], ""
    for char in value:
        code = _q_char(char)
        if len(chunk) + len(code) > 63:  # "=?utf-8?q?" + 63 + "?=": a word stays within 75
            words.append(chunk)
            chunk = ""
        chunk += code
    if chunk:
        words.append(chunk)
    return "\n ".join(f"=?utf-8?q?{w}?=" for w in words)


_Q_LITERAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")


def _q_char(char: str) -> str:
    """One character as RFC 2047 Q text (the set allowed in a phrase; a space is "_")."""
    if char == " ":
        return "_"
    if char in _Q_LITERAL:
        return char
    return "".join(f"={byte:02X}" for byte in char.encode("utf-8", "replace"))
