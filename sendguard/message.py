"""A read-only view of one outgoing message, parsed lazily.

The raw bytes are the truth: they are what gets delivered, byte for byte. Everything here is
derived from them on demand, so a rule that needs only the headers never pays for decoding
attachments. Parsing uses the ``compat32`` policy: it is several times cheaper to import and
run than ``policy.default``, never raises on malformed headers, and we decode RFC 2047 words
ourselves. Anything that cannot be read is recorded in ``problems`` (the check turns that into
a finding: fail closed) instead of raising.
"""

from __future__ import annotations

import email
import email.header
import email.utils
from dataclasses import dataclass, field
from email.message import Message
from functools import cached_property

# Bounds that keep a hostile message from costing unbounded time or memory.
MAX_PARTS = 500
MAX_DEPTH = 30
MAX_TEXT_CHARS = 2_000_000


def decode_header(value: str | email.header.Header | None) -> str:
    """An RFC 2047 header as text; undecodable words are kept as they are."""
    if value is None:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except (email.errors.HeaderParseError, LookupError, UnicodeError, ValueError):
        return str(value)


def normalize_address(addr: str) -> str:
    """Lower-case, stripped, without surrounding angle brackets. Idempotent."""
    return addr.strip().strip("<>").strip().lower()


def domain_of(addr: str) -> str:
    return addr.rpartition("@")[2].lower() if "@" in addr else ""


@dataclass(frozen=True)
class Address:
    name: str
    addr: str

    @property
    def domain(self) -> str:
        return domain_of(self.addr)

    def __str__(self) -> str:
        return email.utils.formataddr((self.name, self.addr)) if self.name else self.addr


@dataclass
class Part:
    """One leaf of the MIME tree."""

    content_type: str
    filename: str | None
    disposition: str | None
    message: Message = field(repr=False)
    depth: int = 0

    @property
    def is_attachment(self) -> bool:
        if self.disposition == "attachment":
            return True
        if self.filename:
            return True
        return not (self.content_type.startswith("text/") or self.content_type.startswith("multipart/"))

    def payload(self) -> bytes:
        """The decoded bytes (base64 / quoted-printable undone)."""
        try:
            data = self.message.get_payload(decode=True)
        except (ValueError, TypeError, AssertionError):
            data = None
        if isinstance(data, bytes):
            return data
        raw = self.message.get_payload()
        return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""

    def text(self) -> str:
        """The part as text, in its declared charset (or UTF-8), never raising."""
        data = self.payload()
        charset = self.message.get_content_charset() or "utf-8"
        try:
            return data.decode(charset, "replace")
        except LookupError:
            return data.decode("utf-8", "replace")


class OutgoingMessage:
    """The message as read from stdin or a file."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.problems: list[str] = []

    @cached_property
    def parsed(self) -> Message:
        return email.message_from_bytes(self.raw)

    def header(self, name: str) -> str:
        """A header decoded to text ('' when absent); the first one if repeated."""
        return decode_header(self.parsed.get(name))

    @cached_property
    def subject(self) -> str:
        return " ".join(self.header("Subject").split())

    def addresses(self, *names: str) -> list[Address]:
        values = []
        for name in names:
            values.extend(decode_header(v) for v in self.parsed.get_all(name, []))
        out: list[Address] = []
        for display, addr in email.utils.getaddresses(values):
            addr = normalize_address(addr)
            if "@" in addr:
                out.append(Address(display.strip(), addr))
        return out

    @cached_property
    def sender(self) -> Address | None:
        found = self.addresses("From")
        return found[0] if found else None

    @cached_property
    def header_recipients(self) -> list[Address]:
        return self.addresses("To", "Cc", "Bcc")

    @cached_property
    def parts(self) -> list[Part]:
        """The leaves of the MIME tree, bounded by MAX_PARTS and MAX_DEPTH."""
        out: list[Part] = []
        stack: list[tuple[Message, int]] = [(self.parsed, 0)]
        while stack:
            msg, depth = stack.pop()
            if len(out) >= MAX_PARTS:
                self.problems.append(f"more than {MAX_PARTS} MIME parts; the rest was not checked")
                break
            if depth > MAX_DEPTH:
                self.problems.append(f"MIME nesting deeper than {MAX_DEPTH}; the rest was not checked")
                continue
            payload = msg.get_payload() if msg.is_multipart() else None
            if isinstance(payload, list):
                stack.extend((sub, depth + 1) for sub in reversed(payload) if isinstance(sub, Message))
                continue
            try:
                filename = msg.get_filename()
            except (LookupError, ValueError, TypeError):
                filename = None
            out.append(
                Part(
                    content_type=msg.get_content_type(),
                    filename=decode_header(filename) if filename else None,
                    disposition=msg.get_content_disposition(),
                    message=msg,
                    depth=depth,
                )
            )
        return out

    @cached_property
    def attachments(self) -> list[Part]:
        return [p for p in self.parts if p.is_attachment]

    @cached_property
    def body_text(self) -> str:
        """The readable text of the message: text/plain parts, else text/html stripped of tags."""
        plain = [p for p in self.parts if p.content_type == "text/plain" and not p.is_attachment]
        if plain:
            text = "\n".join(p.text() for p in plain)
        else:
            html = [p for p in self.parts if p.content_type == "text/html" and not p.is_attachment]
            text = "\n".join(_strip_html(p.text()) for p in html)
        return text[:MAX_TEXT_CHARS]


def _strip_html(html: str) -> str:
    import re

    html = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    html = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", html)
    import html as html_mod

    return html_mod.unescape(re.sub(r"<[^>]+>", "", html))
