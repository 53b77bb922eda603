"""What attachments really are, and the text inside them, within a budget.

``real_type`` asks libmagic (content only; names and declared types lie), imported the first
time an attachment is looked at. ``attachment_texts`` turns readable attachments into text, so
the content rules read them as they read the body. Every extractor runs in linear time and within
the budgets (ARCHITECTURE.md, "Reading a message" and "reading is bounded").
"""

from __future__ import annotations

import html
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sendguard.mail.message import strip_html
from sendguard.mail.mimetree import Part

SNIFF_BYTES = 256 * 1024
TEXT_BUDGET = 1_000_000
TOTAL_BUDGET = 4_000_000
MEMBER_BUDGET = 4_000_000
MAX_MEMBERS = 2_000
MAX_PDF_STREAMS = 200
MAX_PDF_BYTES = 8_000_000
ARCHIVE_BUDGET = 16_000_000

_CACHE_KEY = "extract.attachment-texts"


def real_type(part: Part) -> str:
    """The MIME type libmagic sees in the decoded bytes ('' when empty or unknown)."""
    if "real_type" not in part.memo:
        data = part.head(SNIFF_BYTES)
        if not data:
            part.memo["real_type"] = ""
        else:
            import magic

            try:
                part.memo["real_type"] = magic.from_buffer(data, mime=True) or ""
            except magic.MagicException:
                part.memo["real_type"] = ""
    return str(part.memo["real_type"])


@dataclass(frozen=True)
class AttachmentText:
    name: str
    real_type: str
    text: str
    truncated: bool = False


def attachment_texts(message: Any, context: Any) -> list[AttachmentText]:
    """The text of every readable attachment; computed once per message (context.cache)."""
    cached = context.cache.get(_CACHE_KEY)
    if cached is not None:
        return list(cached)
    import time

    out: list[AttachmentText] = []
    budget = TOTAL_BUDGET
    deadline = getattr(context, "deadline", float("inf"))
    attachments = message.attachments
    for index, part in enumerate(attachments, 1):
        if budget <= 0:
            break
        if time.monotonic() > deadline:
            message.problem(
                f"too large or complex to read fully: checked {index - 1} of {len(attachments)} attachments "
                "within the time budget"
            )
            break
        name = part.filename or f"attachment {index}"
        kind = real_type(part)
        limit = min(TEXT_BUDGET, budget)
        if is_text(kind):
            data = part.head(limit * 2)  # a text is cut at the budget anyway: decode no more
        elif kind == "application/pdf":
            data = part.prefix(MAX_PDF_BYTES)  # pdf_text reads no further: not cut (a copy)
        elif kind in OOXML_TYPES or kind in ODF_TYPES or kind == "application/zip":
            data = part.payload()
        else:
            continue  # images, binaries: no text to read, nothing decoded
        unread: list[str] = []
        text, truncated = text_of(data, kind, limit, unread, deadline)
        for problem in unread:
            message.problem(f"too large or complex to read fully: {problem} in {name}")
        truncated = truncated or (is_text(kind) and part.encoded_size > limit * 2)
        if text:
            budget -= len(text)
            out.append(AttachmentText(name, kind, text, truncated))
    context.cache[_CACHE_KEY] = tuple(out)
    return out


def is_text(kind: str) -> bool:
    return kind.startswith("text/") or kind in ("application/json", "application/xml", "application/csv")


def text_of(
    data: bytes,
    kind: str,
    budget: int = TEXT_BUDGET,
    unread: list[str] | None = None,
    deadline: float = float("inf"),
) -> tuple[str, bool]:
    """(text, truncated) of one document whose real type is ``kind``; ('', False) if unreadable.
    ``unread`` gets a line for each part of it that the reading budgets left unread."""
    if is_text(kind):
        text = decode_text(data[: budget * 2])
        if kind == "text/html":
            text = strip_html(text)
        return text[:budget], len(data) > budget
    if kind == "application/pdf":
        return pdf_text(data, budget)
    if kind in OOXML_TYPES or kind in ODF_TYPES or kind == "application/zip":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return office_text(archive, budget, unread, deadline)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
            return "", False
    return "", False


def decode_text(data: bytes) -> str:
    """Bytes of unknown charset as text: UTF-8 (with or without BOM, UTF-16 with BOM), else cp1252."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


OOXML_TYPES = frozenset(
    {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.ms-excel.sheet.macroenabled.12",
        "application/vnd.ms-word.document.macroenabled.12",
    }
)
ODF_TYPES = frozenset(
    {
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    }
)

_TAG = re.compile(r"<[^<>]*>")
_SHEET = re.compile(r"xl/worksheets/sheet\d+\.xml")
_SLIDE = re.compile(r"ppt/slides/slide\d+\.xml")
_NAME_END = frozenset(" \t\r\n>/")


def elements(xml: str, tag: str) -> Iterator[tuple[str, str | None]]:
    """(attributes, content) of each ``<tag ...>content</tag>`` (content None for ``<tag/>``),
    in order, not nested. Linear: every search starts where the last one ended, and an element
    whose end tag never comes ends the list."""
    opening, closing = f"<{tag}", f"</{tag}>"
    pos = 0
    while True:
        start = xml.find(opening, pos)
        if start < 0:
            return
        after = start + len(opening)
        if after < len(xml) and xml[after] not in _NAME_END:
            pos = after  # <tagname...>: a longer name
            continue
        head_end = xml.find(">", after)
        if head_end < 0:
            return
        if xml[head_end - 1] == "/":
            yield xml[after : head_end - 1], None
            pos = head_end + 1
            continue
        end = xml.find(closing, head_end)
        if end < 0:
            return
        yield xml[after:head_end], xml[head_end + 1 : end]
        pos = end + len(closing)


def _contents(xml: str, tag: str) -> Iterator[str]:
    return (content or "" for _, content in elements(xml, tag))


class _Reader:
    """Reads archive members within MEMBER_BUDGET each and ARCHIVE_BUDGET together, and not past
    the deadline: checked before each member and between chunks of one (a member of 4 MB of
    XML decompresses in ~10 ms, but a zip can hold thousands)."""

    CHUNK = 1 << 20

    def __init__(self, archive: zipfile.ZipFile, deadline: float) -> None:
        self.archive = archive
        self.left = ARCHIVE_BUDGET
        self.skipped = 0
        self.deadline = deadline

    def out_of_time(self) -> bool:
        import time

        return time.monotonic() > self.deadline

    def read(self, name: str) -> str:
        if self.left <= 0 or self.out_of_time():
            self.skipped += 1
            return ""
        chunks: list[bytes] = []
        want = min(MEMBER_BUDGET, self.left)
        with self.archive.open(name) as member:
            while want > 0:
                chunk = member.read(min(self.CHUNK, want))
                if not chunk:
                    break
                chunks.append(chunk)
                want -= len(chunk)
                if want > 0 and self.out_of_time():
                    self.skipped += 1
                    return ""
        data = b"".join(chunks)
        del chunks
        self.left -= len(data)
        return data.decode("utf-8", "replace")


def _numbered(names: list[str], pattern: re.Pattern[str]) -> list[str]:
    """The names matching ``pattern`` in the order a person sees them (sheet2 before sheet10)."""
    found = [n for n in names if pattern.fullmatch(n)]
    return sorted(found, key=lambda n: (len(n), n))


def _strip(xml: str) -> str:
    return html.unescape(_TAG.sub("", xml))


def office_text(
    archive: zipfile.ZipFile, budget: int, unread: list[str] | None = None, deadline: float = float("inf")
) -> tuple[str, bool]:
    """Text of an OOXML or ODF document (docx, xlsx, pptx, odt, ods, odp)."""
    members = archive.infolist()
    every = [info.filename for info in members]
    names = every[:MAX_MEMBERS]
    reader = _Reader(archive, deadline)
    chunks: list[str] = []
    size = 0
    parts = 0  # the sheets and slides of the document, whether read or not
    if "word/document.xml" in names:
        xml = reader.read("word/document.xml")
        xml = re.sub(r"</w:p>|<w:br\s*/>", "\n", xml)
        chunks.append(_strip(re.sub(r"<w:tab\s*/>|</w:tc>", "\t", xml)))
    if "xl/workbook.xml" in names:
        shared = []
        if "xl/sharedStrings.xml" in names:
            shared = [_strip(s) for s in _contents(reader.read("xl/sharedStrings.xml"), "si")]
        parts += len(_numbered(every, _SHEET))
        for name in _numbered(names, _SHEET):
            if size > budget:
                break  # the text budget is full: the rest is "truncated", as in one long sheet
            chunks.append(_sheet_text(reader.read(name), shared, budget - size, reader))
            size += len(chunks[-1]) + 1
    slides = _numbered(names, _SLIDE)
    parts += len(_numbered(every, _SLIDE))
    for name in slides:
        chunks.append(" ".join(_strip(t) for t in _contents(reader.read(name).replace("a:t", "t"), "t")))
    if "content.xml" in names:
        xml = reader.read("content.xml")
        xml = re.sub(r"</table:table-row>", "\n", xml)
        xml = re.sub(r"</table:table-cell>|<table:covered-table-cell[^>]*/>", "\t", xml)
        xml = re.sub(r"<text:tab\s*/>", "\t", xml)
        xml = re.sub(r"</text:p>(?!\s*</table:table-cell>)|</text:h>", "\n", xml)
        chunks.append(_strip(xml))
    if unread is not None:
        if reader.skipped:
            unread.append(
                f"checked {max(parts - reader.skipped, 0)} of {max(parts, reader.skipped)} parts "
                f"(more than {ARCHIVE_BUDGET // 1_000_000} MB inside the archive, or out of time)"
            )
        if len(members) > MAX_MEMBERS:
            unread.append(f"more than {MAX_MEMBERS} members in the archive")
    text = "\n".join(chunks)
    return text[:budget], len(text) > budget


def _sheet_text(xml: str, shared: list[str], budget: int = TEXT_BUDGET, reader: _Reader | None = None) -> str:
    """A worksheet as tab-separated rows (no more than ``budget`` characters of them; stopped,
    and counted as unread, when the reader's deadline passes)."""
    import time

    rows: list[str] = []
    size = 0
    for row in _contents(xml, "row"):
        if size > budget:
            break
        if reader is not None and len(rows) % 1024 == 0 and time.monotonic() > reader.deadline:
            reader.skipped += 1
            break
        cells = []
        for attrs, inner in elements(row, "c"):
            inner = inner or ""
            values = list(_contents(inner, "v"))
            if 't="s"' in attrs:
                try:
                    cells.append(shared[int(values[0])] if values else "")
                except (ValueError, IndexError):
                    cells.append("")
            elif 't="inlineStr"' in attrs:
                cells.append(_strip("".join(_contents(inner, "t"))))
            else:
                cells.append(html.unescape(values[0]) if values else "")
        rows.append("\t".join(cells))
        size += len(rows[-1]) + 1
    return "\n".join(rows)


_PDF_STREAM_KEYWORD = re.compile(rb">>\s{0,64}stream\r?\n")
_PDF_TEXT_OP = re.compile(
    rb"\((?:[^()\\]|\\.){0,2000}\)\s*Tj|\[(?:[^\][]{0,4000})\]\s*TJ|\((?:[^()\\]|\\.){0,2000}\)\s*['\"]", re.DOTALL
)
_PDF_STRING = re.compile(rb"\(((?:[^()\\]|\\.){0,2000})\)", re.DOTALL)
_PDF_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def pdf_text(data: bytes, budget: int) -> tuple[str, bool]:
    """The literal text strings of a PDF's content streams (uncompressed or FlateDecode only),
    in its first MAX_PDF_BYTES (bounded by index: a cut would copy megabytes)."""
    end = min(len(data), MAX_PDF_BYTES)
    pieces: list[str] = []
    size = 0
    for count, (filters, start) in enumerate(_pdf_streams(data, end)):
        if count >= MAX_PDF_STREAMS or size >= budget:
            break
        stop = data.find(b"endstream", start, end)
        if stop < 0:
            break
        stream = data[start:stop]
        if b"/Filter" in filters:
            if b"/FlateDecode" not in filters or b"[" in filters.split(b"/Filter", 1)[1][:3]:
                continue
            try:
                stream = zlib.decompressobj().decompress(stream, budget * 4)
            except zlib.error:
                continue
        for op in _PDF_TEXT_OP.finditer(stream):
            shown = b"".join(_unescape_pdf(s) for s in _PDF_STRING.findall(op.group(0)))
            pieces.append(shown.decode("latin-1"))
            size += len(shown)
        pieces.append("\n")
    text = "".join(pieces)
    return text[:budget], size > budget


def _pdf_streams(data: bytes, end: int | None = None):  # type: ignore[no-untyped-def]
    """(dictionary, offset of the data) of each stream before ``end``: found from ">> stream"
    (a keyword the data must have), the dictionary read back to its "<<", at most 2,000 bytes.
    Each step starts after the last stream's data, so no byte is looked at twice."""
    end = len(data) if end is None else end
    pos = 0
    while True:
        match = _PDF_STREAM_KEYWORD.search(data, pos, end)
        if match is None:
            return
        opening = data.rfind(b"<<", max(0, match.start() - 2000), match.start())
        yield data[opening + 2 if opening >= 0 else match.start() : match.start()], match.end()
        after = data.find(b"endstream", match.end(), end)
        if after < 0:
            return
        pos = after + len(b"endstream")


def _unescape_pdf(raw: bytes) -> bytes:
    return re.sub(rb"\\([nrtbf()\\]|[0-7]{1,3}|\r?\n)", _pdf_escape, raw)


def _pdf_escape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if code in _PDF_ESCAPES:
        return _PDF_ESCAPES[code]
    if code[:1].isdigit():
        return bytes([int(code, 8) & 0xFF])
    if code[:1] in (b"\r", b"\n"):
        return b""
    return code
