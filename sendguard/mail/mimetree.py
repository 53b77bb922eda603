"""Walk a MIME tree over the raw bytes: iteratively, within bounds, without copying bodies.

Design: every entity is a pair of offsets into the one ``raw`` bytes object. Header blocks are
found by a regular expression anchored at the entity start (``match(raw, pos, endpos)``: no
slicing) and handed to the stdlib header parser; multipart bodies are split with
``bytes.find`` on the delimiter, which runs at memory speed. A leaf keeps its offsets and
decodes (base64 / quoted-printable) only when asked, through a memoryview, so a 25 MB
attachment exists once encoded (the message) and once decoded (if a rule reads it).

Boundaries follow what the stdlib feed parser accepts (a delimiter line is ``--boundary``
at the start of a line followed only by white space, ``--boundary--`` closes; a missing close
delimiter ends the part at the end of its parent), so the parts seen here are the parts a mail
program shows. Bounds (MAX_DEPTH, MAX_PARTS, MAX_ENTITIES, MAX_HEADER_BYTES) turn a hostile
structure into ``problems`` instead of unbounded time, memory or recursion.
"""

from __future__ import annotations

import binascii
import email.errors
import email.header
import email.parser
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
from email.message import Message

MAX_PARTS = 500
MAX_DEPTH = 30
MAX_ENTITIES = 2_000
MAX_HEADER_BYTES = 256_000
MAX_DELIMITER_LINES = 10_000
MAX_HEADER_LINES = 5_000
MAX_CACHED_PAYLOAD = 4_000_000

# One header block: an optional mbox "From " line, stray continuation lines (seen in the wild),
# then header fields with their continuation
# lines (field names as the stdlib's headerRE accepts them). Alternatives start with disjoint
# characters, so matching is linear.
_HEADER_BLOCK = re.compile(
    rb"(?:From [^\n]*\n)?(?:[ \t][^\n]*(?:\n|\Z))*(?:[\x21-\x39\x3b-\x7e]+[ \t]*:[^\n]*(?:\n|\Z)(?:[ \t][^\n]*(?:\n|\Z))*)*"
)
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


# A field as the stdlib's feed parser reads it with nothing to note: a name right before its
# colon, continuation lines, each line ending in LF or CRLF, no other CR. Read from the block
# as the parser decodes it (ASCII, other bytes as surrogates).
_SIMPLE = r"[\x21-\x39\x3b-\x7e]+:[^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*"
_SIMPLE_FIELD = re.compile(_SIMPLE)
_SIMPLE_BLOCK = re.compile(f"(?:{_SIMPLE})*")


def _parse_headers(block: bytes) -> Message:
    # The default policy is compat32; naming it would import email.policy (headerregistry &c.,
    # several ms on every mail).
    simple = _simple_headers(block)
    return email.parser.BytesHeaderParser().parsebytes(block) if simple is None else simple


def _simple_headers(block: bytes) -> Message | None:
    """What ``BytesHeaderParser`` (compat32) makes of a block of ``_SIMPLE_FIELD`` fields, built
    without its line-by-line feed parser (most of the cost of reading a header block); None
    for any other block. Each field is stored as compat32's ``header_source_parse`` stores it."""
    text = block.decode("ascii", "surrogateescape")
    if not _SIMPLE_BLOCK.fullmatch(text) or "multipart" in text.lower():
        # a multipart type: Python 3.11's patch releases disagree on its headers-only defects
        return None
    message = Message()
    for field in _SIMPLE_FIELD.findall(text):
        name, value = field.split(":", 1)
        message.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))
    message.set_payload("")  # what headers-only parsing leaves as the payload
    return message


def split_entity(raw: bytes, start: int, end: int) -> tuple[Message, int, str | None]:
    """The header block of the entity at raw[start:end] and the offset where its body starts."""
    limit = min(end, start + MAX_HEADER_BYTES)
    match = _HEADER_BLOCK.match(raw, start, limit)
    head_end = match.end() if match else start
    problem = None
    if head_end >= limit and limit < end:
        problem = f"a header block is larger than {MAX_HEADER_BYTES // 1000} kB"
    parse_end = head_end
    if raw.count(b"\n", start, head_end) > MAX_HEADER_LINES:
        # Every header lookup walks all fields: tens of thousands of them cost seconds.
        problem = f"more than {MAX_HEADER_LINES} header lines"
        parse_end = start
        for _ in range(MAX_HEADER_LINES):
            parse_end = raw.find(b"\n", parse_end, head_end) + 1
    body = head_end
    if raw.startswith(b"\r\n", body, end):
        body += 2
    elif raw.startswith(b"\n", body, end):
        body += 1
    return _parse_headers(raw[start:parse_end]), min(body, end), problem


def _next_delimiter(raw: bytes, line_delim: bytes, pos: int, end: int) -> int:
    """Where the next line starting with the delimiter starts (after its newline), or -1."""
    found = raw.find(line_delim, pos, end)
    return found + 1 if found >= 0 else -1


def split_multipart(
    raw: bytes, start: int, end: int, boundary: bytes
) -> tuple[list[tuple[int, int]] | None, str | None]:
    """The (start, end) of each body part between delimiter lines (None when there is none), and
    a problem when the body has more delimiter-like lines than any real message."""
    delim = b"--" + boundary
    line_delim = b"\n" + delim  # searched as one string: bytes.find skips the rest in C
    cuts: list[tuple[int, int, bool]] = []  # (content end before the line, after the line, closing)
    problem = None
    i = start if raw.startswith(delim, start, end) else _next_delimiter(raw, line_delim, start, end)
    candidates = 0
    while i >= 0 and len(cuts) <= MAX_PARTS + 1:
        candidates += 1
        if candidates > MAX_DELIMITER_LINES:
            problem = f"more than {MAX_DELIMITER_LINES} boundary-like lines; the rest was not checked"
            break
        j = i + len(delim)
        closing = raw.startswith(b"--", j, end)
        k = j + 2 if closing else j
        newline = raw.find(b"\n", k, end)
        line_end = end if newline < 0 else newline
        if raw[k : min(line_end, k + 256)].strip() and not closing:
            i = _next_delimiter(raw, line_delim, i, end)  # "--boundaryX": a longer boundary, not ours
            continue
        cut = i
        if cut > start and raw[cut - 1] == 0x0A:
            cut -= 1
            if cut > start and raw[cut - 1] == 0x0D:
                cut -= 1
        after = end if newline < 0 else newline + 1
        cuts.append((cut, after, closing))
        if closing:
            break
        i = _next_delimiter(raw, line_delim, after - 1, end)
    if not cuts:
        return None, problem
    spans = [(cuts[n][1], max(cuts[n][1], cuts[n + 1][0])) for n in range(len(cuts) - 1)]
    if not cuts[-1][2]:
        spans.append((cuts[-1][1], end))
    return spans or None, problem


def _safe(call: Callable[[], Any], default: Any) -> Any:
    """A Message accessor on hostile headers: the stdlib helpers can raise on odd parameters."""
    try:
        return call()
    except (LookupError, ValueError, TypeError, UnicodeError, IndexError, AttributeError):
        return default


class Part:
    """One leaf of the MIME tree. ``message`` holds the part's headers; use payload()/text().

    A plain class, not a dataclass: parsing runs on every mail, and @dataclass compiles its
    generated methods per class at import (~0.5 ms; bench/README.md)."""

    def __init__(
        self,
        content_type: str,
        filename: str | None,
        disposition: str | None,
        message: Message,
        depth: int = 0,
        forwarded: bool = False,
        raw: bytes = b"",
        start: int = 0,
        end: int = 0,
        memo: dict[str, object] | None = None,
    ) -> None:
        self.content_type = content_type
        self.filename = filename
        self.disposition = disposition
        self.message = message
        self.depth = depth
        self.forwarded = forwarded
        """Inside a message/rfc822 part: someone else's message, forwarded."""
        self.raw = raw
        self.start = start
        self.end = end
        self.memo: dict[str, object] = {} if memo is None else memo
        """What rules learned about this part (e.g. its real type), so it is computed once."""

    def __repr__(self) -> str:
        return (
            f"Part(content_type={self.content_type!r}, filename={self.filename!r}, "
            f"disposition={self.disposition!r}, depth={self.depth!r}, forwarded={self.forwarded!r}, "
            f"start={self.start!r}, end={self.end!r})"
        )

    @property
    def is_attachment(self) -> bool:
        if self.disposition == "attachment":
            return True
        if self.filename:
            return True
        # message/delivery-status and the like are text for people, not files
        return not self.content_type.startswith(("text/", "multipart/", "message/"))

    @property
    def encoded_size(self) -> int:
        return max(0, self.end - self.start)

    @property
    def transfer_encoding(self) -> str:
        return _cte(self.message)

    def payload(self) -> bytes:
        """The decoded bytes (base64 / quoted-printable undone).

        Kept when small and encoded; a big part is decoded again when asked again (decoding runs at memory
        speed), so a message with many big attachments never holds all of them decoded at once."""
        cached = self.memo.get("payload")
        if isinstance(cached, bytes):
            return cached
        data = self._decode(self.end)
        if len(data) <= MAX_CACHED_PAYLOAD and self.transfer_encoding in _DECODED:
            self.memo["payload"] = data  # an unencoded part is a copy of the message: not kept
        return data

    def head(self, size: int) -> bytes:
        """About the first ``size`` decoded bytes (at least that many when the part has them),
        decoding only a prefix: enough for libmagic, without decoding a 25 MB attachment."""
        data = self._prefix(size, cache=True)
        return data if len(data) <= size else data[:size]

    def prefix(self, size: int) -> bytes:
        """At least the first ``size`` decoded bytes (or all), not cut to ``size``: for a
        reader that stops at ``size`` itself, so megabytes are not copied to cut a few off."""
        return self._prefix(size, cache=True)

    def _prefix(self, size: int, cache: bool) -> bytes:
        """At least the first ``size`` decoded bytes (or all); ``cache=False``: a whole part
        decoded here is not kept."""
        cached = self.memo.get("payload")
        if isinstance(cached, bytes):
            return cached
        encoded = size * 4 // 3 + size // 30 + 1024  # base64 with its line breaks, and some slack
        stop = self.start + encoded
        if stop >= self.end:
            return self.payload() if cache else self._decode(self.end)
        newline = self.raw.rfind(b"\n", self.start, stop)
        return self._decode(newline if newline > self.start else stop)

    def _decode(self, end: int) -> bytes:
        view = memoryview(self.raw)[self.start : end]
        encoding = self.transfer_encoding
        if encoding == "base64":
            try:
                return binascii.a2b_base64(view)
            except binascii.Error:
                cleaned = _BASE64_JUNK.sub(b"", view)
                return binascii.a2b_base64(cleaned[: len(cleaned) - len(cleaned) % 4])
        if encoding == "quoted-printable":
            return binascii.a2b_qp(view)
        if encoding in ("x-uuencode", "uuencode", "x-uue", "uue"):
            return _uudecode(bytes(view))
        return bytes(view)

    def text(self, limit: int | None = None) -> str:
        """The part as text, in its declared charset (or UTF-8), never raising.

        ``limit``: decode at most this many bytes (a budget for big parts). Holds one copy of
        the part beside the message: an unencoded body is decoded straight from the message's
        bytes, an encoded one is decoded to bytes that are dropped (not cached) once it is text."""
        cached = self.memo.get("payload")
        size = self.encoded_size if limit is None else limit
        data: bytes | memoryview
        if isinstance(cached, bytes):
            data = cached if len(cached) <= size else memoryview(cached)[:size]
        elif self.transfer_encoding in _DECODED:
            data = self._prefix(size, cache=False)
            if len(data) > size:
                data = memoryview(data)[:size]
        else:
            data = memoryview(self.raw)[self.start : min(self.end, self.start + size)]
        charset = _safe(lambda: self.message.get_content_charset(), None) or "utf-8"
        try:
            return str(data, charset, "replace")
        except (LookupError, UnicodeError, TypeError, ValueError):
            return str(data, "utf-8", "replace")


_DECODED = frozenset({"base64", "quoted-printable", "x-uuencode", "uuencode", "x-uue", "uue"})


def _uudecode(data: bytes) -> bytes:
    """uuencoded lines between "begin" and "end", leniently (as the stdlib does)."""
    out = []
    lines = iter(data.splitlines())
    for line in lines:
        if line.startswith(b"begin "):
            break
    for line in lines:
        if line.strip() == b"end":
            break
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:
            length = (((line[:1] or b" ")[0] - 32) & 63) * 4 + 5
            try:
                out.append(binascii.a2b_uu(line[: length // 3]))
            except binascii.Error:
                continue
    return b"".join(out)


_ENCLOSED = ("message/rfc822", "message/global")


def _cte(message: Message) -> str:
    return str(message.get("Content-Transfer-Encoding", "")).strip().lower()


def _boundary(message: Message) -> bytes | None:
    value: str | None = _safe(message.get_boundary, None)
    if not value:
        return None
    try:
        return value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace")


def _may_name_a_file(message: Message) -> bool:
    """Whether ``get_filename`` may find a name: a "filename" or "name" parameter is named in
    the Content-Disposition or Content-Type it reads (each parameter name, lower-cased, is part
    of the lower-cased field), so most text parts skip parsing their parameters for it."""
    try:
        for field in ("content-disposition", "content-type"):
            value = message.get(field)
            if value is not None and "name" in str(value).lower():
                return True
    except (LookupError, ValueError, TypeError, UnicodeError, IndexError, AttributeError):
        return True  # get_filename decides (and fails alike)
    return False


def walk(raw: bytes, headers: Message, body_start: int, end: int) -> tuple[list[Part], list[str]]:
    """The leaves under one entity, depth first in document order, and what could not be read."""
    parts: list[Part] = []
    problems: list[str] = []
    stack: list[tuple[Message, int, int, int, bool]] = [(headers, body_start, end, 0, False)]
    entities = 0
    while stack:
        message, start, stop, depth, forwarded = stack.pop()
        entities += 1
        if len(parts) >= MAX_PARTS or entities > MAX_ENTITIES:
            problems.append(f"more than {MAX_PARTS} MIME parts; the rest was not checked")
            break
        if depth > MAX_DEPTH:
            problems.append(f"MIME nesting deeper than {MAX_DEPTH}; the rest was not checked")
            continue
        content_type = _safe(message.get_content_type, "text/plain")
        children: list[tuple[int, int]] | None = None
        inner_forwarded = forwarded
        if content_type.startswith("multipart/"):
            boundary = _boundary(message)
            children, problem = split_multipart(raw, start, stop, boundary) if boundary else (None, None)
            if problem:
                problems.append(problem)
            if children is not None and len(children) > MAX_PARTS:
                problems.append(f"more than {MAX_PARTS} MIME parts; the rest was not checked")
                children = children[:MAX_PARTS]
            if children is None:
                content_type = "text/plain"  # as mail programs show it: the text it is
        elif content_type in _ENCLOSED and _cte(message) in ("7bit", "8bit", "binary", ""):
            children, inner_forwarded = [(start, stop)], True
        if children is not None:
            for child_start, child_end in reversed(children):
                child, child_body, problem = split_entity(raw, child_start, child_end)
                if problem:
                    problems.append(problem)
                stack.append((child, child_body, child_end, depth + 1, inner_forwarded))
            continue
        filename = _safe(message.get_filename, None) if _may_name_a_file(message) else None
        parts.append(
            Part(
                content_type=content_type,
                filename=decode_header(filename) if filename else None,
                disposition=_safe(message.get_content_disposition, None),
                message=message,
                depth=depth,
                forwarded=forwarded,
                raw=raw,
                start=start,
                end=stop,
            )
        )
    return parts, list(dict.fromkeys(problems))


# The stdlib's RFC 2047 decoding is superlinear in the number of encoded words (0.25 s for
# 256 kB of them, 4 s for 800 kB): values are cut before decoding.
MAX_DECODED_HEADER_CHARS = 64_000


def decode_header(value: object, limit: int = MAX_DECODED_HEADER_CHARS) -> str:
    """An RFC 2047 header as text (its first ``limit`` characters); undecodable words are kept."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        text = _eight_bit_text(value)[:limit]
        # RFC 2047 words beside raw non-ASCII text: the stdlib would turn the raw part into
        # backslash escapes, so only the encoded words themselves are decoded
        return _ENCODED_WORDS.sub(lambda words: decode_header(words.group(0)), text)
    text = str(value)[:limit]
    if "=?" not in text:
        return text  # no encoded word: the stdlib would give the text back as it is
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (email.errors.MessageError, LookupError, UnicodeError, ValueError, RecursionError):
        return text  # MessageError: HeaderParseError, CharsetError ("=?ütf-8?q?x?=")


def header_as_written(value: object, limit: int = MAX_DECODED_HEADER_CHARS) -> str:
    """A header value as written, its RFC 2047 words still encoded (raw 8-bit bytes read as
    :func:`decode_header` reads them): an address list is parsed from this, and only then are
    its names decoded, since a decoded name may hold an "@", a comma or angle brackets."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        return _eight_bit_text(value)[:limit]
    return str(value)[:limit]


_ENCODED_WORDS = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=(?:\s+=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)*")


def _eight_bit_text(header: email.header.Header) -> str:
    """A header with raw non-ASCII bytes (UTF-8 as RFC 6532 allows, or a legacy 8-bit charset).

    The compat32 parser keeps such a value as a Header of "unknown-8bit" bytes, and str() of it
    turns every non-ASCII byte into U+FFFD: "Jürgen" would lose its "ü", a lookalike domain
    spelt with a Cyrillic "o" would lose exactly the letter that gives it away, and with
    sendmail -t the envelope itself would carry the mangled address. The bytes are read as UTF-8, else as cp1252 (what older mail programs
    wrote).
    """
    parts = []
    for chunk, _charset in email.header.decode_header(header):
        if isinstance(chunk, bytes):
            try:
                parts.append(chunk.decode("utf-8"))
            except UnicodeDecodeError:
                parts.append(chunk.decode("cp1252", "replace"))
        else:
            parts.append(chunk)
    return "".join(parts)
