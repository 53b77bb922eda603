"""Which addresses a received message names as a mailing list's own.

A list's software marks what it distributes: ``List-Post: <mailto:dev@lists.example.org>``
(RFC 2369) is the posting address itself; ``List-Id: <dev.lists.example.org>`` (RFC 2919) is
the list's label and the domain it lives in, which lists such as vger.kernel.org's send without a
List-Post, and whose posting address is, by the RFC's own advice, the label at that domain.
"""

from __future__ import annotations

import re
from email.message import Message

from sendguard.mail.message import NOT_IN_BARE_ADDRESS, normalize_address
from sendguard.mail.mimetree import decode_header

_MAILTO = re.compile(r"<\s*mailto:([^>?\s]+)", re.IGNORECASE)
_LIST_ID = re.compile(r"<\s*([^<>\s]+)\s*>\s*$")
MAX_LISTS = 4
"""Of each header: a list names one posting address; more is a header nobody's software wrote."""


def _address(text: str) -> str:
    addr = normalize_address(text)
    local, at, domain = addr.partition("@")
    if not at or not local or "." not in domain or any(ch in NOT_IN_BARE_ADDRESS for ch in addr):
        return ""
    return addr


def list_addresses(msg: Message) -> list[str]:
    """The posting addresses of the lists ``msg`` came through (List-Post, else from List-Id)."""
    found: list[str] = []
    for value in msg.get_all("List-Post", [])[:MAX_LISTS]:
        for url in _MAILTO.findall(decode_header(value))[:MAX_LISTS]:
            addr = _address(url)
            if addr and addr not in found:
                found.append(addr)
    if found:
        return found
    for value in msg.get_all("List-Id", [])[:MAX_LISTS]:
        match = _LIST_ID.search(decode_header(value))
        if match:
            label, _, namespace = match.group(1).partition(".")
            addr = _address(f"{label}@{namespace}")
            if addr and addr not in found:
                found.append(addr)
    return found
