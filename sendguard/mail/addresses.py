"""Header fields and address lists, read strictly, in linear time, the same on every Python.

The envelope sendguard checks is the envelope it hands the transport, so the recipients are
read here and not by the stdlib: ``email.utils.getaddresses`` changed its answer on hostile
input between patch releases of 3.11, recurses per comment, and a fallback regex over a long
header backtracked for tens of seconds. Both functions below are single passes over their
input.

What two readers could read differently is never guessed: a field name with non-ASCII bytes or
spaces, a line without a colon, a bare CR, a ``From `` line among the fields, an address that
does not parse. Each becomes a *problem* (the unreadable-message rule holds the mail); the
fields and addresses that could be read are still returned, so a held message shows every
recipient that any reader might have found.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MAX_HEADER_BYTES = 256_000
MAX_HEADER_LINES = 5_000


class HeaderBlock(NamedTuple):
    fields: list[tuple[str, bytes]]
    """(lower-case name, unfolded value) in order."""
    end: int
    """Offset just after the empty line that ends the block (or where reading stopped)."""
    problems: list[str]


# Bytes that make the field boundaries themselves a matter of opinion: msmtp reads a NUL as
# the end of the line and a bare CR as part of it; other readers end a field at a bare CR.
BARE_CR = "a header line contains a bare CR"
NUL_BYTE = "a header line contains a NUL byte"
AMBIGUOUS_BYTES = {BARE_CR: "a bare carriage return", NUL_BYTE: "a NUL byte"}

_NAME_OK = frozenset(range(0x21, 0x7F)) - {0x3A}


# One field of a block with nothing to report: a name of visible ASCII, its value and
# continuation lines, each ending in LF or CRLF, no other CR and no NUL; such fields up to the
# empty line are the whole block.
_PLAIN = rb"[\x21-\x39\x3b-\x7e]+[ \t]*:[^\r\n\0]*\r?\n(?:[ \t][^\r\n\0]*\r?\n)*"
_PLAIN_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:([^\r\n\0]*)\r?\n((?:[ \t][^\r\n\0]*\r?\n)*)")
_PLAIN_BLOCK = re.compile(rb"(?:" + _PLAIN + rb")*\r?\n")


def scan_header_block(raw: bytes, limit: int = MAX_HEADER_BYTES) -> HeaderBlock:
    """The top-level header fields of ``raw`` up to the first empty line.

    An mbox ``From `` line at offset 0 is skipped (it is no header field); one further down is
    a problem. Continuation lines are joined to their field without the line break (RFC 5322
    unfolding). A block with nothing to report is read field by field with a pattern
    (``_plain_block``), anything else line by line."""
    size = len(raw)
    stop = min(size, limit)
    pos = 0
    if raw.startswith(b"From "):
        newline = raw.find(b"\n", 0, stop)
        pos = stop if newline < 0 else newline + 1
    return _plain_block(raw, pos, stop) or _scan_lines(raw, pos, stop, limit)


def _plain_block(raw: bytes, pos: int, stop: int) -> HeaderBlock | None:
    """What ``_scan_lines`` reads from a block whose lines all match ``_PLAIN_FIELD`` up to an
    empty line before ``stop`` (within MAX_HEADER_LINES): its fields, no problem. None for
    any other block."""
    block = _PLAIN_BLOCK.match(raw, pos, stop)
    if block is None:
        return None
    end = block.end()
    if raw.count(b"\n", pos, end) > MAX_HEADER_LINES:
        return None
    fields = [
        (name.decode("ascii").lower(), value + more.replace(b"\r", b"").replace(b"\n", b"") if more else value)
        for name, value, more in _PLAIN_FIELD.findall(raw, pos, end)
    ]
    return HeaderBlock(fields, end, [])


def _scan_lines(raw: bytes, pos: int, stop: int, limit: int) -> HeaderBlock:
    fields: list[tuple[str, bytes]] = []
    problems: list[str] = []
    size = len(raw)
    pieces: list[bytes] = []
    name = ""
    lines = 0

    def flush() -> None:
        if name:
            fields.append((name, b"".join(pieces)))

    while pos < size:
        if pos >= stop or lines >= MAX_HEADER_LINES:
            problems.append(
                f"a header block is larger than {limit // 1000} kB"
                if pos >= stop
                else f"more than {MAX_HEADER_LINES} header lines"
            )
            break
        lines += 1
        newline = raw.find(b"\n", pos, stop)
        if newline < 0 and stop < size:
            pos = stop
            continue  # a line running past the limit: reported above
        line_end = size if newline < 0 else newline
        nxt = line_end + 1
        content_end = line_end - 1 if line_end > pos and raw[line_end - 1] == 0x0D else line_end
        line = raw[pos:content_end]
        pos = nxt
        if not line:
            break  # the empty line: the body starts at pos
        if b"\r" in line:
            problems.append(BARE_CR)
        if b"\0" in line:
            problems.append(NUL_BYTE)
        first = line[0]
        if first in (0x20, 0x09):
            if name:
                pieces.append(line)
            elif line.strip():
                problems.append("a header block starts with a continuation line")
            continue
        flush()
        name, pieces = "", []
        colon = line.find(b":")
        if colon < 0:
            if line.startswith(b"From "):
                problems.append("a 'From ' line among the header fields")
            else:
                problems.append("a header line without a colon")
            continue
        field = line[:colon].rstrip(b" \t")
        if not field or any(byte not in _NAME_OK for byte in field):
            problems.append("a header field name with spaces or non-ASCII characters")
            continue
        name = field.decode("ascii").lower()
        pieces = [line[colon + 1 :]]
    else:
        pos = size
    flush()
    return HeaderBlock(fields, min(pos, size), list(dict.fromkeys(problems)))


def header_text(value: bytes) -> tuple[str, bool]:
    """A raw header value as text: UTF-8 (RFC 6532), else cp1252 (what older programs wrote).
    The flag says the legacy fallback was needed."""
    try:
        return value.decode("utf-8"), False
    except UnicodeDecodeError:
        return value.decode("cp1252", "replace"), True


class Mailbox(NamedTuple):
    name: str
    """The display name as written (RFC 2047 words still encoded), or a comment's text."""
    addr: str
    """The addr-spec, case kept."""


class AddressList(NamedTuple):
    mailboxes: list[Mailbox]
    problems: list[str]


_SPECIALS = frozenset('()<>[]:;@\\,."')
_WSP = frozenset(" \t\r\n")

# token kinds
_ATOM, _QUOTED, _COMMENT, _LITERAL, _SPECIAL = range(5)


def _tokens(text: str, problems: list[str], gaps: list[bool]) -> list[tuple[int, str]]:
    """Atoms, quoted strings, comments, domain literals and specials: one pass, no recursion.
    ``gaps`` gets, per token, whether white space preceded it (display names keep their spacing)."""
    out: list[tuple[int, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        del gaps[len(out) :]
        gaps.append(i > 0 and text[i - 1] in _WSP)
        if c in _WSP:
            i += 1
        elif c == "(":
            depth, j, buf = 1, i + 1, []
            while j < n and depth:
                d = text[j]
                if d == "\\" and j + 1 < n:
                    buf.append(text[j + 1])
                    j += 2
                    continue
                depth += (d == "(") - (d == ")")
                if depth:
                    buf.append(d)
                j += 1
            if depth:
                problems.append("an unclosed comment '(' in an address header")
            out.append((_COMMENT, "".join(buf)))
            i = j
        elif c == '"':
            j, buf, closed = i + 1, [], False
            while j < n:
                d = text[j]
                if d == "\\" and j + 1 < n:
                    buf.append(text[j + 1])
                    j += 2
                    continue
                if d == '"':
                    closed = True
                    j += 1
                    break
                buf.append(d)
                j += 1
            if not closed:
                problems.append("an unclosed quote in an address header")
            out.append((_QUOTED, "".join(buf)))
            i = j
        elif c == "[":
            j = text.find("]", i + 1)
            if j < 0:
                problems.append("an unclosed '[' in an address header")
                j = n - 1
            out.append((_LITERAL, text[i : j + 1]))
            i = j + 1
        elif c in _SPECIALS:
            out.append((_SPECIAL, c))
            i += 1
        else:
            j = i + 1
            while j < n and text[j] not in _SPECIALS and text[j] not in _WSP:
                j += 1
            out.append((_ATOM, text[i:j]))
            i = j
    return out


def _quote_local(text: str) -> str:
    if text and all(c not in _SPECIALS and c not in _WSP for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _addr_spec(tokens: list[tuple[int, str]], problems: list[str], bare: bool = False) -> str:
    """An addr-spec from its tokens (comments removed): local-part "@" domain.

    ``bare``: written without <...>, where words before the address ("John Smith john@x") are
    not part of it: the address is the dotted run of words before the last "@"."""
    at_index = next((k for k in range(len(tokens) - 1, -1, -1) if tokens[k] == (_SPECIAL, "@")), -1)
    start = 0
    if bare and at_index > 0:
        start = at_index - 1
        while start >= 1 and tokens[start] == (_SPECIAL, "."):
            start -= 1  # "st.@": trailing dots, see _dotted
        while start >= 2 and tokens[start - 1] == (_SPECIAL, "."):
            k = start - 1
            while k >= 1 and tokens[k - 1] == (_SPECIAL, "."):
                k -= 1  # "s..bradford@": consecutive dots, see _dotted
            if k < 1 or tokens[k - 1][0] not in (_ATOM, _QUOTED):
                break
            start = k - 1
        while start >= 1 and tokens[start - 1] == (_SPECIAL, "."):
            start -= 1  # ".ward@": a leading dot, see _dotted
    text = "".join(_quote_local(value) if kind == _QUOTED else value for kind, value in tokens[start:])
    if at_index < 0 or at_index == start or at_index == len(tokens) - 1:
        problems.append(f"an address without a domain: {text[:80]}")
        return text
    domain = tokens[at_index + 1 :]
    if (
        start > 0
        or not _dotted(tokens[start:at_index], allow_quoted=True)
        or not ([kind for kind, _ in domain] == [_LITERAL] or _dotted(domain, allow_quoted=False))
    ):
        problems.append(f"an address that does not parse: {text[:80]}")
    return text


def _dotted(tokens: list[tuple[int, str]], allow_quoted: bool) -> bool:
    """word *("." word): alternating, starting and ending with a word.

    In a local part (``allow_quoted``) consecutive, leading and trailing dots are accepted:
    "s..bradford@", ".ward@" (RFC 5322's obsolete forms) are how whole organizations' addresses
    look, and every reader reads them alike."""
    if allow_quoted:
        tokens = [t for i, t in enumerate(tokens) if not (i and t == (_SPECIAL, ".") == tokens[i - 1])]
        while len(tokens) > 1 and tokens[0] == (_SPECIAL, "."):
            tokens = tokens[1:]
        while len(tokens) > 1 and tokens[-1] == (_SPECIAL, "."):
            tokens = tokens[:-1]
    if not tokens:
        return False
    for index, (kind, value) in enumerate(tokens):
        if index % 2:
            if (kind, value) != (_SPECIAL, "."):
                return False
        elif kind != _ATOM and not (allow_quoted and kind == _QUOTED):
            return False
    return len(tokens) % 2 == 1


def _phrase(tokens: list[tuple[int, str]], gaps: list[bool]) -> str:
    """A display name as written: its words, spaced where the header had space."""
    out: list[str] = []
    for (kind, value), gap in zip(tokens, gaps):
        if kind == _COMMENT:
            continue
        if out and gap:
            out.append(" ")
        out.append(value)
    return "".join(out).strip()


# A list of bare addresses ("a@x.example, b.c@y.example"): dotted words of atom characters
# (no special, no white space) around one "@", between commas; white space only around them.
_ATOM_RUN = r'[^()<>\[\]:;@\\,." \t\r\n]+'
_BARE_ADDRESS = rf"{_ATOM_RUN}(?:\.{_ATOM_RUN})*@{_ATOM_RUN}(?:\.{_ATOM_RUN})*"
_BARE_LIST = re.compile(rf"[ \t\r\n]*{_BARE_ADDRESS}(?:[ \t\r\n]*,[ \t\r\n]*{_BARE_ADDRESS})*[ \t\r\n]*")


def parse_address_list(text: str) -> AddressList:
    """RFC 5322 address-list (mailboxes, groups, obsolete routes and empty elements), leniently
    for what is unambiguous and with a problem for what is not. Linear in ``len(text)``.

    A list of bare addresses, as most To fields are, is split at its commas (``_BARE_LIST``:
    what the tokens would give, without them)."""
    if _BARE_LIST.fullmatch(text):
        return AddressList([Mailbox("", addr.strip(" \t\r\n")) for addr in text.split(",")], [])
    return _parse_tokens(text)


def _parse_tokens(text: str) -> AddressList:
    problems: list[str] = []
    gaps: list[bool] = []
    tokens = _tokens(text, problems, gaps)
    mailboxes: list[Mailbox] = []
    in_group = False
    phrase: list[tuple[int, str]] = []  # words before '<', or the whole addr-spec without one
    phrase_gaps: list[bool] = []
    comments: list[str] = []
    angle: list[tuple[int, str]] | None = None  # the tokens inside <...> once seen
    i, n = 0, len(tokens)

    def finish() -> None:
        nonlocal phrase, phrase_gaps, comments, angle
        if angle is not None:
            route_end = next((k for k, t in enumerate(angle) if t == (_SPECIAL, ":")), -1)
            if route_end >= 0 and angle[:1] == [(_SPECIAL, "@")]:
                angle = angle[route_end + 1 :]  # obs-route "<@a,@b:x@y>"
            if not angle:
                problems.append("an empty address '<>' in an address header")
            else:
                mailboxes.append(Mailbox(_phrase(phrase, phrase_gaps), _addr_spec(angle, problems)))
        elif phrase:
            words = [t for t in phrase if t[0] != _COMMENT]
            if words:
                mailboxes.append(Mailbox(" ".join(comments).strip(), _addr_spec(words, problems, bare=True)))
        phrase, phrase_gaps, comments, angle = [], [], [], None

    while i < n:
        kind, value = tokens[i]
        i += 1
        if kind == _COMMENT:
            comments.append(value)
            continue
        if kind == _SPECIAL and value == "<":
            if angle is not None:
                problems.append("two '<' in one address")
            inner: list[tuple[int, str]] = []
            closed = False
            while i < n:
                kind, value = tokens[i]
                i += 1
                if kind == _SPECIAL and value == ">":
                    closed = True
                    break
                if kind == _SPECIAL and value == "<":
                    problems.append("a '<' inside '<...>' in an address header")
                    continue
                if kind != _COMMENT and not (kind == _SPECIAL and value == "," and inner[:1] == [(_SPECIAL, "@")]):
                    inner.append((kind, value))
            if not closed:
                problems.append("an unclosed '<' in an address header")
            angle = inner
            continue
        if kind == _SPECIAL and value == ",":
            finish()
            continue
        if kind == _SPECIAL and value == ":" and angle is None:
            if in_group:
                problems.append("a group inside a group in an address header")
            in_group = True
            phrase, phrase_gaps, comments = [], [], []  # the group's name
            continue
        if kind == _SPECIAL and value == ";":
            finish()
            if not in_group:
                problems.append("a ';' outside a group in an address header")
            in_group = False
            continue
        if kind == _SPECIAL and value in ">\\":
            problems.append(f"a stray '{value}' in an address header")
            continue
        if angle is not None:
            problems.append("text after '<...>' in an address header")
            continue
        phrase.append((kind, value))
        phrase_gaps.append(gaps[i - 1])
    finish()
    if in_group:
        problems.append("a group without its closing ';' in an address header")
    return AddressList(mailboxes, list(dict.fromkeys(problems)))


_HIDDEN_FIELDS = (b"bcc", b"resent-bcc")


def without_bcc(raw: bytes, limit: int = MAX_HEADER_BYTES) -> bytes:
    """``raw`` without its Bcc and Resent-Bcc fields (with their continuation lines), as
    msmtp's remove_bcc_headers does; ``raw`` itself (no copy) when it has none.

    The fields are found by the same line rules as scan_header_block, so whatever sendguard
    read as a blind-copy recipient is what never reaches the recipients."""
    stop = min(len(raw), limit)
    pos = 0
    if raw.startswith(b"From "):
        newline = raw.find(b"\n", 0, stop)
        pos = stop if newline < 0 else newline + 1
    cuts: list[tuple[int, int]] = []
    hiding = -1  # start of the hidden field being read, or -1
    while pos < stop:
        newline = raw.find(b"\n", pos, stop)
        nxt = stop if newline < 0 else newline + 1
        line = raw[pos:nxt].rstrip(b"\r\n")
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            pos = nxt
            continue  # a continuation: part of the field being read
        if hiding >= 0:
            cuts.append((hiding, pos))
            hiding = -1
        colon = line.find(b":")
        if colon > 0 and line[:colon].rstrip(b" \t").lower() in _HIDDEN_FIELDS:
            hiding = pos
        pos = nxt
    if hiding >= 0:
        cuts.append((hiding, pos))
    if not cuts:
        return raw
    pieces: list[bytes | memoryview] = []
    keep = 0
    for start, end in cuts:
        pieces.append(raw[keep:start])
        keep = end
    pieces.append(memoryview(raw)[keep:])
    return b"".join(pieces)
