"""Documents and messages built in code for the content-rule tests (no corpus files).

Each builder produces the real format (zip + XML for OOXML/ODF, a valid PDF with an xref
table), so real libmagic identifies them as it would a file from an office suite.
"""

from __future__ import annotations

import base64
import io
import zipfile
import zlib
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from xml.sax.saxutils import escape

from sendguard.config import schema as config_mod
from sendguard.decide.check import CheckResult, check_message, envelope_for
from sendguard.mail.message import OutgoingMessage

CONFIG = """
[identity]
addresses = ["d.wolff@nordwerk.example"]

[organization]
domains = ["nordwerk.example"]

[clients.kundenfirma]
domains = ["kundenfirma.example"]
keywords = ["Falke"]
"""
INSIDE = "m.berger@nordwerk.example"
OUTSIDE = "markus.brandt@kundenfirma.example"


def run_check(raw: bytes, state_dir: Path, config_text: str = CONFIG) -> CheckResult:
    message = OutgoingMessage(raw)
    config = config_mod.parse(config_text)
    return check_message(message, config, envelope=envelope_for(message, [], False), state_dir=state_dir)


def findings_of(result: CheckResult, rule: str) -> list:  # type: ignore[type-arg]
    return [f for f in result.decision.findings if f.rule == rule]


def mail(
    body: str, to: str = OUTSIDE, attachments: list[tuple[str, str, bytes]] | None = None, subject: str = "Angebot"
) -> bytes:
    """A message as a mail program writes it; attachments are (filename, declared type, bytes)."""
    text = MIMEText(body, "plain", "utf-8")
    if not attachments:
        message = text
    else:
        message = MIMEMultipart()
        message.attach(text)
        for name, declared, data in attachments:
            maintype, subtype = declared.split("/")
            part = MIMEApplication(data, subtype, Name=name) if maintype == "application" else MIMEApplication(data)
            if maintype != "application":
                part.replace_header("Content-Type", f'{declared}; name="{name}"')
            part["Content-Disposition"] = f'attachment; filename="{name}"'
            message.attach(part)
    message["From"] = "Daniel Wolff <d.wolff@nordwerk.example>"
    message["To"] = to
    message["Subject"] = subject
    return message.as_bytes()


# A message built as bytes, not with the email package: the hostile inputs of the bounded-check
# tests and bench/bench_hostile.py are megabytes the stdlib would take long to write.
RAW_HEAD = "From: Daniel Wolff <d.wolff@nordwerk.example>\nTo: m.berger@nordwerk.example\nSubject: report\n"


def raw_with_attachment(name: str, ctype: str, data: bytes) -> bytes:
    """RAW_HEAD, a line of text and ``data`` attached (base64) as ``name`` of type ``ctype``."""
    return (
        (
            f'{RAW_HEAD}MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\n'
            "Content-Type: text/plain\n\nsee attached\n--b\n"
            f'Content-Type: {ctype}; name="{name}"\nContent-Disposition: attachment; filename="{name}"\n'
            "Content-Transfer-Encoding: base64\n\n"
        ).encode()
        + base64.encodebytes(data)
        + b"--b--\n"
    )


_CT = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>'
)
_RELS = '<?xml version="1.0" encoding="UTF-8"?><Relationships/>'


def docx(paragraphs: list[str]) -> bytes:
    body = "".join(f"<w:p><w:r><w:t>{escape(p)}</w:t></w:r></w:p>" for p in paragraphs)
    return _zip(
        [
            ("[Content_Types].xml", _CT),
            ("_rels/.rels", _RELS),
            ("word/document.xml", f'<?xml version="1.0"?><w:document><w:body>{body}</w:body></w:document>'),
        ]
    )


def xlsx(rows: list[list[str | int]]) -> bytes:
    strings: list[str] = []
    xml_rows = []
    for r, row in enumerate(rows, 1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{chr(65 + c)}{r}"
            if isinstance(value, int):
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            else:
                strings.append(value)
                cells.append(f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>')
        xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    shared = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
    return _zip(
        [
            ("[Content_Types].xml", _CT),
            ("_rels/.rels", _RELS),
            ("xl/workbook.xml", "<workbook/>"),
            ("xl/sharedStrings.xml", f"<sst>{shared}</sst>"),
            ("xl/worksheets/sheet1.xml", f"<worksheet><sheetData>{''.join(xml_rows)}</sheetData></worksheet>"),
        ]
    )


def odt(paragraphs: list[str]) -> bytes:
    body = "".join(f"<text:p>{escape(p)}</text:p>" for p in paragraphs)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            _member("mimetype"), "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED
        )
        archive.writestr(
            _member("content.xml"),
            f'<?xml version="1.0"?><office:document-content><office:body><office:text>'
            f"{body}</office:text></office:body></office:document-content>",
        )
        archive.writestr(_member("META-INF/manifest.xml"), "<manifest/>")
    return buffer.getvalue()


def pdf(lines: list[str], compress: bool = False) -> bytes:
    """A one-page PDF whose content stream shows ``lines`` with Tj operators."""
    ops = (
        "BT /F1 12 Tf 72 720 Td "
        + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") Tj 0 -14 Td" for line in lines
        )
        + " ET"
    )
    stream = zlib.compress(ops.encode("latin-1")) if compress else ops.encode("latin-1")
    filters = b" /Filter /FlateDecode" if compress else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        b"<< /Length " + str(len(stream)).encode() + filters + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def zip_of(members: list[tuple[str, bytes]], encrypted: bool = False) -> bytes:
    data = _zip(members)
    if encrypted:  # set the "encrypted" flag bit in local and central headers, as zip -e does
        data = data.replace(b"PK\x03\x04\x14\x00\x00\x00", b"PK\x03\x04\x14\x00\x01\x00")
        data = data.replace(b"PK\x01\x02\x14\x03\x14\x00\x00\x00", b"PK\x01\x02\x14\x03\x14\x00\x01\x00")
    return data


def _zip(members: list[tuple[str, str | bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            archive.writestr(_member(name, zipfile.ZIP_DEFLATED), content)
    return buffer.getvalue()


def _member(name: str, compress_type: int = zipfile.ZIP_STORED) -> zipfile.ZipInfo:
    """A member with a fixed date, so the same call gives the same bytes (test ids, xdist workers)."""
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = compress_type
    return info


ELF = (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + b"\x00" * 40) + b"\x00" * 200
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
