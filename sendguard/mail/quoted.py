"""Who a reply or forward quotes: the people named in quoted headers and attribution lines.

A reply usually goes back to whoever wrote what it quotes, and a quoted header block names
that person even when the user's own text names nobody. Mail programs write these blocks in a
handful of conventions, all read here:

* Outlook/Exchange: "-----Original Message-----" then "From: Last, First" / "To: ...; ..."
  (also German "Von:/An:", French "De:/À:", Spanish "De:/Para:", Dutch "Van:/Aan:", Russian
  "От:/Кому:");
* attribution lines: "On <date>, First Last <addr> wrote:", "Am ... schrieb First Last:",
  "Le ... First Last a écrit :";
* Lotus Notes: "First Last/ORG/ORG@ORG" on its own line, or after "To:".

The first block is the most recent message: its author is the likeliest recipient of a reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

MAX_SCAN_CHARS = 20_000


@dataclass(frozen=True)
class Person:
    """A written name, folded: first name, last name, and the initials of all given names."""

    first: str
    last: str
    initials: str
    tokens: frozenset[str] = frozenset()
    """Every name token (for multi-word names such as "de Jesus")."""


@dataclass
class QuotedPeople:
    """(first, last) names folded; addresses lower-case."""

    author: Person | None = None
    """Who wrote the most recent quoted message."""
    author_addr: str = ""
    """Their address, when the quoted header gives one."""
    addressees: list[Person] = field(default_factory=list)
    """Its To/Cc."""
    others: list[Person] = field(default_factory=list)
    """Names in older quoted blocks."""
    addresses: set[str] = field(default_factory=set)
    """Mail addresses written anywhere in the text."""


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    return {
        "from": re.compile(r"^\s*[>|\s]*(?:from|von|de|van|от)\s*:\s*(?P<v>.+)$", re.IGNORECASE),
        "to": re.compile(r"^\s*[>|\s]*(?:to|cc|an|à|a|para|aan|кому|копия)\s*:\s*(?P<v>.+)$", re.IGNORECASE),
        "wrote": re.compile(
            r"^\s*(?:on|am|le|el|op)\b.{0,120}?,?\s*(?P<v>[^,<>]{2,60}?)\s*(?:<[^>]*>)?\s*"
            r"(?:wrote|schrieb|a écrit|escribió|schreef)\b",
            re.IGNORECASE,
        ),
        "lotus": re.compile(r"^\s*(?P<v>[^\W\d_][\w .'-]{1,40})/[A-Z][\w/]*@[\w.]+\s*$"),
        "marker": re.compile(
            r"^\s*_{10,}\s*$|^\s*-{2,}.{0,40}(?:original|forwarded|ursprüngliche|weitergeleitete|origine|original|oorspronkelijk|исходное|пересылаемое).{0,40}$",
            re.IGNORECASE,
        ),
        "addr": re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+"),
    }


def split_names(value: str) -> list[str]:
    """The people in a quoted To/Cc/From value: 'A, B; C, D', 'A B, C D', 'X/ORG@ORG, Y/ORG@ORG'."""
    value = re.sub(r"<[^>]*>|\[mailto:[^\]]*\]|\"", " ", value)
    if ";" in value:
        return [p.strip() for p in value.split(";") if p.strip()]
    if "/" in value or "@" in value:
        return [p.strip() for p in value.split(",") if p.strip()]
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if len(parts) == 2 and len(parts[0].split()) == 1:
        return [value.strip()]  # "Last, First M."
    return parts


def person(text: str) -> Person | None:
    """One written name ('Last, First M.', 'First M. Last', 'First Last/ORG@ORG')."""
    from sendguard.mail.greetings import fold

    text = text.split("/")[0].split("@")[0].strip()
    text = re.sub(r"\bon behalf of\b.*$|\[.*$|\(.*?\)", "", text, flags=re.IGNORECASE).strip()
    if not text or len(text) > 60:
        return None
    if "," in text:
        last_part, _, given_part = text.partition(",")
        given, lasts = given_part.split(), last_part.split()
    else:
        tokens = text.split()
        if len(tokens) < 2:
            return None
        given, lasts = tokens[:-1], tokens[-1:]
    given = [fold(g) for g in given if fold(g) and fold(g) not in ("jr", "sr", "ii", "iii")]
    lasts = [fold(x) for x in lasts if fold(x) and fold(x) not in ("jr", "sr", "ii", "iii")]
    if not lasts:
        return None
    return Person(given[0] if given else "", lasts[-1], "".join(g[0] for g in given), frozenset(given + lasts))


def quoted_people(body: str) -> QuotedPeople:
    from sendguard.mail.greetings import has_quote_marker

    out = QuotedPeople()
    text = body[:MAX_SCAN_CHARS]
    if "@" not in text and not has_quote_marker(text):
        return out  # nothing quoted, no addresses: most new mail; no pattern needs compiling
    pats = _patterns()
    out.addresses = {a.lower().strip(".") for a in pats["addr"].findall(text)}
    block = 0  # 0 before the first quoted block; 1 inside the first; 2+ later
    in_header = False
    for line in text.splitlines():
        if pats["marker"].match(line):
            block += 1
            in_header = True
            continue
        m = pats["wrote"].match(line)
        if m:
            block += 1
            who = person(m.group("v"))
            if who:
                _add_author(out, who, block)
            in_header = False
            continue
        m = pats["from"].match(line)
        if m and (block or in_header):
            who = person(m.group("v"))
            found = pats["addr"].search(m.group("v"))
            if found and block <= 1 and not out.author_addr:
                out.author_addr = found.group(0).lower().strip(".")
            if block == 0:
                block = 1
            if who:
                _add_author(out, who, block)
            in_header = True
            continue
        m = pats["to"].match(line)
        if m and in_header:
            for name in split_names(m.group("v")):
                who = person(name)
                if who:
                    (out.addressees if block <= 1 else out.others).append(who)
            continue
        m = pats["lotus"].match(line)
        if m and block:
            who = person(m.group("v"))
            if who:
                _add_author(out, who, block)
            continue
        if not line.strip() and in_header:
            in_header = False
    return out


def _add_author(out: QuotedPeople, who: Person, block: int) -> None:
    if block <= 1 and out.author is None:
        out.author = who
    else:
        out.others.append(who)
