"""What attachments really are, and the text inside them, within a budget.

``real_type`` asks libmagic (content only; names and declared types lie). magic is imported
here, lazily, the first time an attachment is looked at: a mail without attachments never
loads it. Only the first SNIFF_BYTES are shown to libmagic; that is enough for every format
we care about (an OOXML zip names its parts in the first entries).

``attachment_texts`` turns the readable attachments into text, so the content rules
(sensitive-data, secrets, and the other-client rule via ``context.cache``) read them exactly
as they read the body: plain text and CSV, docx/xlsx/pptx/odt/ods (zip + XML, parsed with
regular expressions rather than an XML parser: the tags we need are flat, and a hostile
document cannot make a regex expand entities), and PDF text where it is cheap (literal
strings in uncompressed or Flate streams; nothing else). Spreadsheet rows become tab-separated
lines, so "a name and an amount on one row" survives extraction.

Budget: at most TEXT_BUDGET characters per attachment and TOTAL_BUDGET per message, zip members
read with a size limit (a zip bomb costs at most MEMBER_BUDGET), at most MAX_MEMBERS members
and MAX_PDF_STREAMS streams. Text beyond the budget is not checked; ``truncated`` says so. This
is deliberate: holding every large attachment for being large would nag, and secrets and
personal data sit in the first megabyte of nearly every document that has them.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
import zlib
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
    out: list[AttachmentText] = []
    budget = TOTAL_BUDGET
    for index, part in enumerate(message.attachments, 1):
        if budget <= 0:
            break
        name = part.filename or f"attachment {index}"
        kind = real_type(part)
        limit = min(TEXT_BUDGET, budget)
        if is_text(kind):
            data = part.head(limit * 2)  # a text is cut at the budget anyway: decode no more
        elif kind == "application/pdf":
            data = part.head(MAX_PDF_BYTES)
        elif kind in OOXML_TYPES or kind in ODF_TYPES or kind == "application/zip":
            data = part.payload()
        else:
            continue  # images, binaries: no text to read, nothing decoded
        text, truncated = text_of(data, kind, limit)
        truncated = truncated or (is_text(kind) and part.encoded_size > limit * 2)
        if text:
            budget -= len(text)
            out.append(AttachmentText(name, kind, text, truncated))
    context.cache[_CACHE_KEY] = tuple(out)
    return out


def is_text(kind: str) -> bool:
    return kind.startswith("text/") or kind in ("application/json", "application/xml", "application/csv")


def text_of(data: bytes, kind: str, budget: int = TEXT_BUDGET) -> tuple[str, bool]:
    """(text, truncated) of one document whose real type is ``kind``; ('', False) if unreadable."""
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
                return office_text(archive, budget)
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

_TAG = re.compile(r"<[^>]{0,4000}>")
_SHEET = re.compile(r"xl/worksheets/sheet\d+\.xml")
_SLIDE = re.compile(r"ppt/slides/slide\d+\.xml")
_ROW = re.compile(r"<row\b[^>]*>(.*?)</row>", re.DOTALL)
_CELL = re.compile(r"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.DOTALL)
_VALUE = re.compile(r"<v>(.*?)</v>", re.DOTALL)
_INLINE = re.compile(r"<t\b[^>]*>(.*?)</t>", re.DOTALL)
_SHARED = re.compile(r"<si>(.*?)</si>", re.DOTALL)


def _read(archive: zipfile.ZipFile, name: str) -> str:
    with archive.open(name) as member:
        return member.read(MEMBER_BUDGET).decode("utf-8", "replace")


def _strip(xml: str) -> str:
    return html.unescape(_TAG.sub("", xml))


def office_text(archive: zipfile.ZipFile, budget: int) -> tuple[str, bool]:
    """Text of an OOXML or ODF document (docx, xlsx, pptx, odt, ods, odp)."""
    names = [info.filename for info in archive.infolist()[:MAX_MEMBERS]]
    chunks: list[str] = []
    if "word/document.xml" in names:
        xml = _read(archive, "word/document.xml")
        xml = re.sub(r"</w:p>|<w:br\s*/>", "\n", xml)
        chunks.append(_strip(re.sub(r"<w:tab\s*/>|</w:tc>", "\t", xml)))
    if "xl/workbook.xml" in names:
        shared = []
        if "xl/sharedStrings.xml" in names:
            shared = [_strip(s) for s in _SHARED.findall(_read(archive, "xl/sharedStrings.xml"))]
        for name in sorted(n for n in names if _SHEET.fullmatch(n)):
            chunks.append(_sheet_text(_read(archive, name), shared))
    for name in sorted(n for n in names if _SLIDE.fullmatch(n)):
        chunks.append(" ".join(_strip(t) for t in _INLINE.findall(_read(archive, name).replace("a:t", "t"))))
    if "content.xml" in names:
        xml = _read(archive, "content.xml")
        xml = re.sub(r"</table:table-row>", "\n", xml)
        xml = re.sub(r"</table:table-cell>|<table:covered-table-cell[^>]*/>", "\t", xml)
        xml = re.sub(r"<text:tab\s*/>", "\t", xml)
        xml = re.sub(r"</text:p>(?!\s*</table:table-cell>)|</text:h>", "\n", xml)
        chunks.append(_strip(xml))
    text = "\n".join(chunks)
    return text[:budget], len(text) > budget


def _sheet_text(xml: str, shared: list[str]) -> str:
    """A worksheet as tab-separated rows."""
    rows = []
    for row in _ROW.findall(xml):
        cells = []
        for attrs, inner in _CELL.findall(row):
            inner = inner or ""
            if 't="s"' in attrs:
                value = _VALUE.search(inner)
                try:
                    cells.append(shared[int(value.group(1))] if value else "")
                except (ValueError, IndexError):
                    cells.append("")
            elif 't="inlineStr"' in attrs:
                cells.append(_strip("".join(_INLINE.findall(inner))))
            else:
                value = _VALUE.search(inner)
                cells.append(html.unescape(value.group(1)) if value else "")
        rows.append("\t".join(cells))
    return "\n".join(rows)


_PDF_STREAM = re.compile(rb"<<(.{0,2000}?)>>\s*stream\r?\n", re.DOTALL)
_PDF_TEXT_OP = re.compile(
    rb"\((?:[^()\\]|\\.){0,2000}\)\s*Tj|\[(?:[^\]]{0,4000})\]\s*TJ|\((?:[^()\\]|\\.){0,2000}\)\s*['\"]", re.DOTALL
)
_PDF_STRING = re.compile(rb"\(((?:[^()\\]|\\.){0,2000})\)", re.DOTALL)
_PDF_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def pdf_text(data: bytes, budget: int) -> tuple[str, bool]:
    """The literal text strings of a PDF's content streams (uncompressed or FlateDecode only)."""
    data = data[:MAX_PDF_BYTES]
    pieces: list[str] = []
    size = 0
    for count, match in enumerate(_PDF_STREAM.finditer(data)):
        if count >= MAX_PDF_STREAMS or size >= budget:
            break
        start = match.end()
        stop = data.find(b"endstream", start)
        if stop < 0:
            break
        stream = data[start:stop]
        filters = match.group(1)
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
