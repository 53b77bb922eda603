"""A read-only view of one outgoing message, parsed lazily, boundedly and without copies.

The raw bytes are the truth: they are what is delivered. Everything here is derived from them
on demand, and what cannot be read goes into ``problems`` instead of raising (the
unreadable-message rule holds it). Why not the stdlib's parser: ARCHITECTURE.md, "Reading a
message".
"""

from __future__ import annotations

import email
import email.parser
import email.utils
import re
from collections.abc import Iterable
from email.message import Message
from functools import cached_property
from typing import NamedTuple

from sendguard.mail import addresses, mimetree
from sendguard.mail.addresses import Mailbox
from sendguard.mail.mimetree import (  # noqa: F401  (public names)
    MAX_DECODED_HEADER_CHARS,
    MAX_DEPTH,
    MAX_HEADER_BYTES,
    MAX_PARTS,
    Part,
    decode_header,
)

MAX_TEXT_CHARS = 2_000_000

# The fields sendmail -t reads recipients from (msmtp and sendmail alike): To, Cc and Bcc — or,
# when the header block has any Resent- field, the Resent-To/-Cc/-Bcc of its first block of
# Resent- fields (the most recent resending).
RECIPIENT_FIELDS = ("to", "cc", "bcc")
RESENT_RECIPIENT_FIELDS = ("resent-to", "resent-cc", "resent-bcc")

# No address holds a control character (C0, DEL, C1): msmtp or the server would send the mail
# to another one ("bob\x01x@" left as "bob_x@"), which nobody judged.
CONTROL_CHARS = frozenset(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))
# A recipient written bare (an argument, an aliases entry) is one address: besides control
# characters, angle brackets and spaces mean a display name or a smuggled second address.
NOT_IN_BARE_ADDRESS = CONTROL_CHARS | frozenset("<> ")


def normalize_address(addr: str) -> str:
    """Lower-case, stripped, without surrounding angle brackets. Idempotent."""
    return addr.strip().strip("<>").strip().lower()


def named_mailboxes(values: Iterable[object]) -> list[tuple[str, str]]:
    """(display name, address) of each mailbox in these header values (str, or the stdlib's
    Header for raw 8-bit ones). The list is read as written, and only then are the names'
    RFC 2047 words decoded: a decoded name may hold an "@" or a comma ("Müller, Hans",
    ``=?utf-8?q?ceo=40nordwerk.example?=``), which read again would be addresses of their own."""
    out = []
    for value in values:
        for box in addresses.parse_address_list(mimetree.header_as_written(value)).mailboxes:
            out.append((" ".join(decode_header(box.name).split()) if "=?" in box.name else box.name, box.addr))
    return out


def domain_of(addr: str) -> str:
    return addr.rpartition("@")[2].lower() if "@" in addr else ""


class Route(NamedTuple):
    """Where an address with old-style routing in it really goes (:func:`route_of`)."""

    hosts: tuple[str, ...]
    """Every host besides the domain after the last "@" that a relay honouring the routing
    hands the mail to, lower-cased, in no particular order."""
    destination: str
    """The host it would end at."""
    mailbox: str
    """user@destination: the address it would end at."""
    how: str
    """"the percent hack", "a bang path", "a source route" or "an '@' in the local part"."""


_ROUTING = re.compile(r"[%!@]")


def route_of(addr: str) -> Route | None:
    """The routing an address carries besides its domain, or None for an ordinary address.

    ``bob%evil.example@nordwerk.example`` reaches nordwerk.example's relay, and one that honours
    the percent hack (RFC 1123 5.2.16 allows it) sends it on to bob@evil.example; so do bang
    paths (``evil.example!bob@...``, UUCP), source routes (``@relay:bob@...``, RFC 5321 C) and
    an "@" inside a quoted local part. For "u%b%a@d", d sends to a, a to b: b is the destination."""
    addr = normalize_address(addr)
    if "%" not in addr and "!" not in addr and addr.count("@") <= 1 and not addr.startswith("@"):
        return None  # the common case, once per recipient and rule
    hosts: list[str] = []
    how = ""
    if addr.startswith("@") and ":" in addr:
        route, _, addr = addr.partition(":")
        hosts += [host.strip().lstrip("@") for host in route.split(",")]
        how = "a source route"
    local, at, domain = addr.rpartition("@")
    if not at:
        local, domain = addr, ""
    local = local.replace('"', "")
    *bang, user = local.split("!")
    user, *percent = _ROUTING.split(user)
    hosts += bang + percent
    if not hosts:
        return None
    if percent:
        destination = percent[0]
        how = "the percent hack" if "%" in local else "an '@' in the local part"
    elif bang:
        destination, how = bang[-1], "a bang path"
    else:
        destination = domain
    return Route(tuple(hosts), destination, f"{user}@{destination}", how)


def domain_matches(domain: str, domains: list[str] | tuple[str, ...]) -> bool:
    """True when ``domain`` is one of ``domains`` or a subdomain of one."""
    domain = domain.lower()
    for d in domains:
        d = d.lower().lstrip("@")
        if domain == d or domain.endswith("." + d):
            return True
    return False


class Address(NamedTuple):  # not a dataclass: see sendmail_args.SendmailArgs
    name: str
    addr: str

    @property
    def domain(self) -> str:
        return domain_of(self.addr)

    def __str__(self) -> str:
        """For people: ``Name <addr>``, the name quoted where it must be; nothing is encoded,
        so an internationalised address (RFC 6531) is shown as it is, never raises."""
        if not self.name:
            return self.addr
        name = self.name
        if any(c in name for c in '()<>[]:;@\\,."'):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{self.addr}>"


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
        self.header_block  # noqa: B018  (reading the fields strictly records their problems)
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

    @cached_property
    def header_block(self) -> addresses.HeaderBlock:
        """The top-level header fields as sendguard reads them for addresses: strictly
        (mail/addresses.py); what another reader could read differently is a problem."""
        block = addresses.scan_header_block(self.raw, MAX_HEADER_BYTES)
        for problem in block.problems:
            self.problem(problem)
        return block

    def addresses(self, *names: str, strict: bool = True) -> list[Address]:
        """The mailboxes in the named fields, in the order of ``names`` (addresses lower-cased).

        ``strict``: an address that does not parse is a problem (for recipients: the envelope
        must never be guessed)."""
        return [
            Address(self._display(box.name), normalize_address(box.addr))
            for box in self.mailboxes(*names, strict=strict)
        ]

    def mailboxes(self, *names: str, strict: bool = True) -> list[Mailbox]:
        """The mailboxes in the named fields, as written (case kept, names still encoded).
        An address without a domain is left out: it is a problem (held), never a recipient."""
        out: list[Mailbox] = []
        for name in names:
            wanted = name.lower()
            for field, value in self.header_block.fields:
                if field == wanted:
                    out.extend(box for box in self._parse_field(field, value, strict) if "@" in box.addr)
        return out

    def _parse_field(self, field: str, value: bytes, strict: bool) -> list[Mailbox]:
        key = (field, value)
        cached = self._parsed_fields.get(key)
        if cached is None:
            text, legacy = addresses.header_text(value)
            parsed = addresses.parse_address_list(text)
            problems = list(parsed.problems)
            if legacy and any(not box.addr.isascii() for box in parsed.mailboxes):
                problems.append("an address in a legacy 8-bit charset, not UTF-8")
            cached = (parsed.mailboxes, problems)
            self._parsed_fields[key] = cached
        if strict:
            label = "-".join(word.capitalize() for word in field.split("-"))
            for problem in cached[1]:
                self.problem(f"{label}: {problem}")
        return cached[0]

    @cached_property
    def _parsed_fields(self) -> dict[tuple[str, bytes], tuple[list[Mailbox], list[str]]]:
        return {}

    @staticmethod
    def _display(name: str) -> str:
        return " ".join(decode_header(name).split()) if "=?" in name else name

    @cached_property
    def sendmail_recipients(self) -> list[Mailbox]:
        """The recipients ``sendmail -t`` takes from the headers: To, Cc, Bcc, or the first
        block of Resent- fields' Resent-To/-Cc/-Bcc when the message has Resent- fields."""
        fields = self.header_block.fields
        first = next((i for i, (name, _) in enumerate(fields) if name.startswith("resent-")), -1)
        if first < 0:
            return self.mailboxes(*RECIPIENT_FIELDS)
        out: list[Mailbox] = []
        for name, value in fields[first:]:
            if not name.startswith("resent-"):
                break
            if name in RESENT_RECIPIENT_FIELDS:
                out.extend(box for box in self._parse_field(name, value, True) if "@" in box.addr)
        # the To/Cc/Bcc fields are not recipients now; their problems still count: a reader
        # that ignores Resent- fields would send there
        self.mailboxes(*RECIPIENT_FIELDS)
        return out

    @cached_property
    def sender(self) -> Address | None:
        found = self.addresses("From", strict=False)
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


_BLOCK_OPEN = re.compile(r"(?i)<(script|style)\b")
_BLOCK_CLOSE = {"script": re.compile(r"(?i)</script"), "style": re.compile(r"(?i)</style")}
_LINE_BREAK_TAGS = re.compile(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|</tr\s*>|</li\s*>")


_STRIP_CHUNK = 1 << 16


def strip_html(html: str) -> str:
    """The text of an HTML document: scripts and styles dropped, tags removed, entities undone.

    Linear on any input: a script or style block ends at the first closing tag after it (found
    with str.find; a block never closed ends the document), and a tag is "<" up to the next
    "<" or ">", so no scan starts twice over the same characters. The text between blocks is
    stripped in pieces of 64 kB cut before a "<" (no tag spans two), and the document is let go
    before the pieces are joined: a 2 MB body is held as itself plus its text, not four times."""
    pieces: list[str] = []
    pos = 0
    while True:
        match = _BLOCK_OPEN.search(html, pos)
        if match is None:
            _strip_span(html, pos, len(html), pieces)
            break
        _strip_span(html, pos, match.start(), pieces)
        pieces.append(" ")
        end = _BLOCK_CLOSE[match.group(1).lower()].search(html, match.end())
        if end is None:
            break
        close = html.find(">", end.end())
        pos = len(html) if close < 0 else close + 1
    del html  # the caller's only reference: the document goes before its text is joined
    return "".join(pieces)


_TAG = re.compile(r"<[^<>]*>")


def _strip_span(html: str, start: int, stop: int, pieces: list[str]) -> None:
    """Tags out, entities undone, of ``html[start:stop]``, 64 kB at a time."""
    import html as html_mod

    while start < stop:
        cut = stop
        if stop - start > _STRIP_CHUNK:
            cut = html.rfind("<", start + 1, start + _STRIP_CHUNK)
            if cut < 0:
                cut = start + _STRIP_CHUNK
        text = _LINE_BREAK_TAGS.sub("\n", html[start:cut])
        pieces.append(html_mod.unescape(_TAG.sub("", text)))
        start = cut
