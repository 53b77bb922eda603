"""Who a reply or forward quotes: the people named in quoted headers and attribution lines.

A reply usually goes back to whoever wrote what it quotes, and a quoted header block names
that person even when the user's own text names nobody. Mail programs write these blocks in a
handful of conventions, all read here:

* Outlook/Exchange: "-----Original Message-----" then "From: Last, First" / "To: ...; ..."
  (also German "Von:/An:", French "De:/À:", Spanish "De:/Para:", Dutch "Van:/Aan:", Russian
  "От:/Кому:");
* attribution lines: "On <date>, First Last <addr> wrote:", "Am ... schrieb First Last:",
  "Le ... First Last a écrit :", also wrapped over two lines or as "First Last <addr> wrote:";
* Lotus Notes: "First Last/ORG/ORG@ORG" on its own line, or after "To:"; its header lines
  "First Last <addr> on 05/11/2001 04:28:09 PM", and a name on the line before a lone
  "12/13/2000 09:51 AM";
* a message passed on as an attachment and shown inline ("--- Inline attachment follows ---"),
  and any of these blocks quoted once more ("> -----Original Message-----", "> From: ...").

The first block is the most recent message: its author is the likeliest recipient of a reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from sendguard.mail.content import fold as fold_text

MAX_SCAN_CHARS = 20_000
# Each line pattern below is tried only on a line that can match it: from and to need a colon,
# lotus a slash and an at sign, marker a first character (after white space) of MARKER_FIRST
# (">" for a marker quoted once more),
# wrote one of WROTE_FIRST (on/am/le/el/op: re.IGNORECASE matches no other code point, a test
# checks every one) and one of WROTE_WORDS in the folded line (content.fold). Most lines of
# prose pass by without trying five patterns each; the Notes date patterns need a slash and a
# colon.
MARKER_FIRST = frozenset("_->")
WROTE_FIRST = frozenset("oOaAlLeE")
WROTE_WORDS = ("wrote", "schrieb", "a écrit", "escribió", "schreef")


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


_NOTES_DATE = r"\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AP]M)?"


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
            r"^[\s>]*_{10,}\s*$|^[\s>]*-{2,}.{0,40}(?:original|forwarded|ursprüngliche|weitergeleitete|origine|original"
            r"|oorspronkelijk|исходное|пересылаемое|inline attachment).{0,120}$",
            re.IGNORECASE,
        ),
        "notes_on": re.compile(r"^\s*(?:from:\s*)?(?P<v>\S.{0,80}?)\s+on\s+" + _NOTES_DATE + r"\s*$", re.IGNORECASE),
        "notes_date": re.compile(r"^\s*" + _NOTES_DATE + r"\s*$", re.IGNORECASE),
        # the second half of a wrapped attribution: "Anna Berger <a@b.example> wrote:"
        "wrote_tail": re.compile(
            r"^\s*(?P<v>[^\W\d_][^,<>:]{1,60}?)\s*(?:<[^>]*>)?\s*(?:wrote|schrieb|a écrit|escribió|schreef)\s*:\s*$",
            re.IGNORECASE,
        ),
        "from_prefix": re.compile(r"^\s*from:\s*", re.IGNORECASE),  # Notes: "From:  Name" above a date
        "dated": re.compile(r"\s+" + _NOTES_DATE + r"\s*$", re.IGNORECASE),
        "addr": re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+"),
        # where an address can be: a run of the characters addr takes (find_addresses)
        "run": re.compile(r"[\w.+'@-]*"),
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


@lru_cache(maxsize=1024)
def person(text: str) -> Person | None:
    """One written name ('Last, First M.', 'First M. Last', 'First Last/ORG@ORG'); kept, as the
    same names recur in the quoted headers of one thread and of the next message."""
    from sendguard.mail.greetings import fold

    # "Name <addr>@ORG": Notes' form of an outside sender; the address is no part of the name
    text = re.sub(r"<[^>]*>?", " ", text).split("/")[0].split("@")[0].strip()
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


class _Blocks:
    """What quoted_people has read so far: which quoted block a line is in, and who is named.

    Block 0 is before the first quoted block, 1 the first (the newest message), 2+ older ones.
    A marker opens the next block once the current one showed a header line, so a rule of
    underscores under a signature does not make the real first block the second."""

    def __init__(self, out: QuotedPeople) -> None:
        self.out = out
        self.block = 0
        self.in_header = False
        self.headed = False
        self.previous = ""  # the last non-empty line, for Notes' name-then-date header

    def marker(self) -> None:
        if self.block == 0 or self.headed:
            self.block += 1
            self.headed = False
        self.in_header = True
        self.previous = ""

    def author_header(self, value: str, address: re.Pattern[str], name: str | None = None) -> None:
        """A From-like header line: its address and name (``name``, else ``value``) wrote the block's message."""
        self.block = self.block or 1
        found = address.search(value)
        if found and self.block <= 1 and not self.out.author_addr:
            self.out.author_addr = found.group(0).lower().strip(".")
        self.author(person(value if name is None else name))
        self.in_header = True

    def attribution(self, value: str) -> None:
        """ "On ..., X wrote:": a new block, written by X."""
        self.block += 1
        self.author(person(value))
        self.in_header = False

    def author(self, who: Person | None) -> None:
        if who:
            _add_author(self.out, who, self.block)
        self.headed = True

    def addressees(self, value: str) -> None:
        for name in split_names(value):
            who = person(name)
            if who:
                (self.out.addressees if self.block <= 1 else self.out.others).append(who)
        self.headed = True


def quoted_people(body: str) -> QuotedPeople:
    from sendguard.mail.greetings import has_quote_marker

    out = QuotedPeople()
    text = body[:MAX_SCAN_CHARS]
    if "@" not in text and ">" not in text and not has_quote_marker(text):
        return out  # nothing quoted, no addresses: most new mail; no pattern needs compiling
    pats = _patterns()
    out.addresses = {a.lower().strip(".") for a in find_addresses(text)}
    at = _Blocks(out)
    for line in text.splitlines():
        lead = line.lstrip()[:1]  # ^\s* as re reads it: str.isspace (a test checks every code point)
        if lead in MARKER_FIRST and pats["marker"].match(line):
            at.marker()
            continue
        if "/" in line and ":" in line:
            m = pats["notes_on"].match(line) or pats["notes_date"].match(line)
            given = m.groupdict().get("v") if m else None
            if m and ((given is None and _looks_like_name(at.previous)) or (given and (at.block or at.in_header))):
                value = given or at.previous  # "Name <addr> on <date>", or the name above a lone date
                name = re.sub(r'<[^>]*>|"', " ", pats["from_prefix"].sub("", value))
                at.author_header(value, pats["addr"], name)
                at.previous = ""
                continue
        m = pats["wrote"].match(line) if lead in WROTE_FIRST and _may_attribute(line) else None
        if (
            m is None
            and line.rstrip().endswith(":")
            and _may_attribute(line)
            and _wrapped_attribution(line, at.previous)
        ):
            m = pats["wrote_tail"].match(line)
        if m:
            at.attribution(m.group("v"))
            continue
        colon = ":" in line
        m = pats["from"].match(line) if colon else None
        if m and (at.block or at.in_header):
            at.author_header(pats["dated"].sub("", m.group("v")), pats["addr"])  # Notes: "From:  Name   <date>"
            continue
        m = pats["to"].match(line) if colon else None
        if m and at.in_header:
            at.addressees(m.group("v"))
            continue
        m = pats["lotus"].match(line) if "/" in line and "@" in line else None
        if m and at.block:
            at.author(person(m.group("v")))
            continue
        if at.in_header and (not lead or (lead == ">" and not line.replace(">", "").strip())):
            at.in_header = False  # a blank line, or a quoted one ("> "), ends the header
        if lead:
            at.previous = line
    return out


def address_lines(body: str) -> list[str]:
    """The body's lines that read as a quoted header's To or Cc line (the ``to`` pattern), in or
    out of a header block; only lines with a colon near their start are tried."""
    if ":" not in body:
        return []
    to = _patterns()["to"]
    return [line for line in body.splitlines() if ":" in line[:16] and to.match(line)]


def _wrapped_attribution(line: str, previous: str) -> bool:
    """Is ``line`` the end of an attribution a mail program wrapped ("On Mon, 4 Dec 2026 10:00,"
    above it), or one that gives the writer's address? A name alone before "wrote:" could be prose."""
    return "<" in line or previous.lstrip().lower().startswith(("on ", "am ", "le ", "el ", "op "))


def _looks_like_name(line: str) -> bool:
    """Notes' header names the sender on the line before the date: "Michael Tribolet",
    "From:  Rick Buy", "Rick Buy/HOU/ECT@ECT" (two to four capitalised words)."""
    words = _patterns()["from_prefix"].sub("", line).split("/")[0].split()
    return 2 <= len(words) <= 4 and all(w[:1].isupper() for w in words)


def _in_address(ch: str) -> bool:
    return ch.isalnum() or ch in "_.+'-@"


def find_addresses(text: str) -> list[str]:
    """``addr``'s findall over ``text``, tried only on the runs of address characters around an
    "@" (\\w is str.isalnum or "_" as re reads it; a test checks every code point): every match
    lies in one, and the pattern tried at every position of every word costs ~0.4 ms over 10 kB
    of prose."""
    pattern, address_run = _patterns()["addr"], _patterns()["run"]
    out: list[str] = []
    at = text.find("@")
    while at >= 0:
        start = at
        while start and _in_address(text[start - 1]):
            start -= 1
        run = address_run.match(text, at)
        end = run.end() if run else at + 1  # always a match ("*"): for the type checker
        out += pattern.findall(text, start, end)
        at = text.find("@", end)
    return out


def _may_attribute(line: str) -> bool:
    """Does the line hold one of the attribution's verbs, as re.IGNORECASE compares letters?"""
    folded = fold_text(line)
    return any(word in folded for word in WROTE_WORDS)


def _add_author(out: QuotedPeople, who: Person, block: int) -> None:
    if block <= 1 and out.author is None:
        out.author = who
    else:
        out.others.append(who)
