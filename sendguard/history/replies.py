"""Replying to one person, addressed to another: the quoted author versus the recipients.

A reply goes back to whoever wrote the message it quotes. When a reply's recipients include
neither that author nor anyone in the quoted header block, and one of them is *confusable* with
the author (same first or last name, the same first letters, an address a couple of edits
away), autocomplete most likely picked the wrong entry: "RE: Post Petition Organization" quotes
Jim Fallon and goes to Jim Lobdell. This needs no history of the author at all, which matters:
the person being replied to is often someone the user has never written to.
"""

from __future__ import annotations

import re

from sendguard.history.names import LOCAL_SPLIT, contact_names
from sendguard.history.twins import edit_distance
from sendguard.mail.greetings import fold
from sendguard.mail.quoted import Person, QuotedPeople


def local_tokens(addr: str) -> list[str]:
    return [t for t in (fold(p) for p in LOCAL_SPLIT.split(addr.partition("@")[0])) if t]


def is_person(addr: str, display: str, who: Person, first_names: set[str]) -> bool:
    """Could this address (and display name) belong to the written person?"""
    first, last = contact_names(display, addr)
    tokens = local_tokens(addr)
    if last and last in who.tokens:
        if not first or first == who.first or first in first_names:
            return True
        if len(first) == 1 and first in who.initials:
            return True  # "s..bradford" for "Bradford, William S."
    if len(tokens) >= 2 and all(t in who.tokens or (len(t) == 1 and t in who.initials) for t in tokens):
        return True  # "frank.de" for "Frank de Jesus"
    local = "".join(tokens)
    return bool(who.last and len(who.last) >= 4 and who.last in local)  # "flack@", "pflack@"


def confusion(addr: str, display: str, who: Person | None, author_addr: str) -> str | None:
    """Why the address could have been picked instead of the author's, or None."""
    first, last = contact_names(display, addr)
    local = addr.partition("@")[0].lower()
    if who is not None:
        if len(first) >= 2 and first == who.first:
            return "same first name"
        if len(last) >= 2 and last == who.last:
            return "same last name"
        for name in (who.first, who.last):
            if len(name) >= 3 and re.sub(r"[^a-z]", "", local)[:3] == name[:3]:
                return "same first letters"
    if author_addr:
        if addr[:3] == author_addr[:3]:
            return "same first letters"
        if edit_distance(addr, author_addr) <= 2:
            return "nearly the same address"
    return None


def misaddressed_reply(
    recipients: list[tuple[str, str]], quoted: QuotedPeople, first_names: dict[str, set[str]]
) -> list[tuple[str, str]]:
    """(recipient, why) for recipients confusable with the quoted author, when none is the author.

    ``recipients`` are (address, display name); ``first_names`` maps an address to the greeting
    forms of its first name (nicknames), where known.
    """
    who, author_addr = quoted.author, quoted.author_addr
    if who is None and not author_addr:
        return []
    for addr, display in recipients:
        if addr == author_addr or (who is not None and is_person(addr, display, who, first_names.get(addr, set()))):
            return []
        if any(is_person(addr, display, p, first_names.get(addr, set())) for p in quoted.addressees):
            return []  # a reply to someone else who was on the quoted message
    out = []
    for addr, display in recipients:
        why = confusion(addr, display, who, author_addr)
        if why:
            out.append((addr, why))
    return out


def stale_address(
    recipients: list[tuple[str, str]], quoted: QuotedPeople, first_names: dict[str, set[str]]
) -> tuple[str, str] | None:
    """(recipient, author address) when a reply goes to the author's name at another domain.

    The quoted header says where the author writes from now; the recipient is the same person at
    a different organization — typically the address autocomplete remembers from an old job.
    """
    author_addr, who = quoted.author_addr, quoted.author
    if not author_addr or who is None or any(addr == author_addr for addr, _ in recipients):
        return None
    domain = author_addr.rpartition("@")[2]
    for addr, display in recipients:
        if addr.rpartition("@")[2] != domain and is_person(addr, display, who, first_names.get(addr, set())):
            return addr, author_addr
    return None
