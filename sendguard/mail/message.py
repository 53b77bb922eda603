"""A read-only view of one outgoing message, parsed lazily, boundedly and without copies.

The raw bytes are the truth: they are what gets delivered, byte for byte. Everything here is
derived from them on demand, so a rule that needs only the headers never pays for decoding
attachments.

Why not ``email.message_from_bytes`` for the whole message: on a 25 MB attachment the stdlib
feed parser takes seconds and holds the message several times over (the text, a list of its
lines, the joined payload, the decoded bytes), and it recurses once per nesting level, so an
endlessly nested message raises RecursionError. So the stdlib parses only *header blocks*
(``compat32`` policy: cheap, never raises on malformed headers; RFC 2047 words are decoded
here), and the MIME tree is walked by :mod:`sendguard.mail.mimetree`, iteratively, over a memoryview
of the raw bytes: a part's body is a view, decoded only when a rule asks for it.

Anything that cannot be read is recorded in ``problems`` instead of raising; the
unreadable-message rule turns that into a hold (fail closed: what was not read was not
checked). ``parsed`` still offers the full stdlib parse for callers that want a Message tree;
nothing on the send path should need it.
"""

from __future__ import annotations

import email
import email.parser
import email.utils
import re
from email.message import Message
from functools import cached_property
from typing import NamedTuple

from sendguard.mail import mimetree
from sendguard.mail.mimetree import (  # noqa: F401  (public names)
    MAX_DECODED_HEADER_CHARS,
    MAX_DEPTH,
    MAX_HEADER_BYTES,
    MAX_PARTS,
    Part,
    decode_header,
)

MAX_TEXT_CHARS = 2_000_000
# An address header longer than this is read only for address-like words (and held as unreadable):
# the stdlib address parser recurses per comment or word and is superlinear on some inputs.
MAX_ADDRESS_HEADER_CHARS = 128_000

_LOOSE_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def normalize_address(addr: str) -> str:
    """Lower-case, stripped, without surrounding angle brackets. Idempotent."""
    return addr.strip().strip("<>").strip().lower()


def domain_of(addr: str) -> str:
    return addr.rpartition("@")[2].lower() if "@" in addr else ""


class Address(NamedTuple):  # not a dataclass: see sendmail_args.SendmailArgs
    name: str
    addr: str

    @property
    def domain(self) -> str:
        return domain_of(self.addr)

    def __str__(self) -> str:
        return email.utils.formataddr((self.name, self.addr)) if self.name else self.addr


class OutgoingMessage:
    """The message as read from stdin or a file."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    @cached_property
    def _top(self) -> tuple[Message, int]:
        headers, body_start, problem = mimetree.split_entity(self.raw, 0, len(self.raw))
        if problem:
            self.problem(problem)
        return headers, body_start

    @property
    def headers(self) -> Message:
        """The top-level header block only (cheap; no body is parsed)."""
        return self._top[0]

    @cached_property
    def parsed(self) -> Message:
        """The stdlib's full parse (expensive on big mail; headers only if it cannot be had)."""
        try:
            return email.message_from_bytes(self.raw)
        except (RecursionError, MemoryError, ValueError, TypeError, LookupError) as err:
            self.problem(f"the message structure could not be parsed ({type(err).__name__})")
            return self.headers

    def header(self, name: str) -> str:
        """A header decoded to text ('' when absent); the first one if repeated."""
        value = self.headers.get(name)
        if value is not None and len(str(value)) > MAX_DECODED_HEADER_CHARS:
            self.problem(f"the {name} header is longer than {MAX_DECODED_HEADER_CHARS // 1000} kB")
        return decode_header(value)

    @cached_property
    def subject(self) -> str:
        return " ".join(self.header("Subject").split())

    def addresses(self, *names: str) -> list[Address]:
        values: list[str] = []
        for name in names:
            for value in self.headers.get_all(name, []):
                if len(str(value)) > MAX_ADDRESS_HEADER_CHARS:
                    self.problem(f"an address header is longer than {MAX_ADDRESS_HEADER_CHARS // 1000} kB")
                    values.append(str(value))  # every address-like word still counts (below)
                else:
                    values.append(decode_header(value, MAX_ADDRESS_HEADER_CHARS))
        pairs: list[tuple[str, str]] = []
        for value in values:
            pairs.extend(self._parse_addresses(value))
        out: list[Address] = []
        for display, addr in pairs:
            addr = normalize_address(addr)
            if "@" in addr:
                out.append(Address(display.strip(), addr))
        return out

    def _parse_addresses(self, value: str) -> list[tuple[str, str]]:
        """getaddresses, bounded; on a value it cannot parse, every address-like word (fail closed:
        a recipient is never dropped because its header is malformed)."""
        if len(value) <= MAX_ADDRESS_HEADER_CHARS:
            try:
                return email.utils.getaddresses([value])
            except (RecursionError, ValueError, TypeError, IndexError):
                self.problem("an address header could not be parsed")
        return [("", m) for m in _LOOSE_ADDRESS.findall(value)]

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
        headers, body_start = self._top
        parts, problems = mimetree.walk(self.raw, headers, body_start, len(self.raw))
        for problem in problems:
            self.problem(problem)
        return parts

    @cached_property
    def attachments(self) -> list[Part]:
        return [p for p in self.parts if p.is_attachment]

    @cached_property
    def body_text(self) -> str:
        """The readable text of the message: text/plain parts, else text/html stripped of tags.

        Forwarded messages (inside message/rfc822) are left out: they are someone else's words.
        """
        own = [p for p in self.parts if not p.is_attachment and not p.forwarded]
        plain = [p for p in own if p.content_type == "text/plain"]
        if plain:
            text = "\n".join(p.text(MAX_TEXT_CHARS) for p in plain)
        else:
            html = [p for p in own if p.content_type == "text/html"]
            text = "\n".join(strip_html(p.text(MAX_TEXT_CHARS)) for p in html)
        return text[:MAX_TEXT_CHARS]


def strip_html(html: str) -> str:
    import html as html_mod

    html = re.sub(r"(?is)<(script|style)\b[^>]*>.*?</\1\s*>", " ", html)
    html = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|</tr\s*>|</li\s*>", "\n", html)
    return html_mod.unescape(re.sub(r"<[^>]{0,2000}>", "", html))
