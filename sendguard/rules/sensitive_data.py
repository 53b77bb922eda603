"""sensitive-data: bank accounts, payment cards, personal identifiers and salaries leaving the house.

Only checksummed evidence counts (IBAN mod-97 and national identifiers through python-stdnum,
cards by Luhn and a network's number range; a weak checksum only beside a word naming it), so a
random number is never a finding. What holds and what warns: sendguard-rules(7) and
ARCHITECTURE.md, "Content rules".
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sendguard.mail.content import LazyPattern, Reading, has_whole_word, mask, reading, texts_in_time
from sendguard.model import Finding, Severity
from sendguard.rules import Rule

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext

_IBAN = LazyPattern(r"(?<![A-Za-z0-9])([A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)(?![A-Za-z0-9])")
_CARD = LazyPattern(r"\d{4}(?:[ -]?\d{4}){2}[ -]?\d{1,7}|\d{4}[ -]?\d{6}[ -]?\d{5}")
_TEST_CARDS = frozenset(
    {
        "4111111111111111",
        "4242424242424242",
        "4012888888881881",
        "4000056655665556",
        "5555555555554444",
        "5105105105105100",
        "5200828282828210",
        "378282246310005",
        "371449635398431",
        "6011111111111117",
        "6011000990139424",
        "3530111333300000",
        "3566002020360505",
        "4222222222222",
        "4000000000000002",
        "4000000000000077",
        "4000000000000093",
        "4000000000009995",
        "2223003122003222",
        "36227206271667",
        "30569309025904",
        "38520000023237",
        "6200000000000005",
        "4917610000000000",
        "4484070000000000",
    }
)

# (label, stdnum module, candidate pattern, words that must stand near it)
_IDENTIFIERS = [
    (
        "German tax ID",
        "de.idnr",
        r"\d{2} ?\d{3} ?\d{3} ?\d{3}",
        r"steuer-?id|steuerliche identifikationsnummer|identifikationsnummer|idnr",
    ),
    ("Dutch BSN", "nl.bsn", r"\d{4}\.?\d{2}\.?\d{3}|\d{9}", r"bsn|burgerservicenummer|sofinummer"),
    ("Spanish DNI", "es.dni", r"\d{8}-?[A-Za-z]", r"dni|nif|documento nacional"),
    ("Spanish NIE", "es.nie", r"[XYZxyz]-?\d{7}-?[A-Za-z]", r"nie|extranjero"),
    (
        "French social security number",
        "fr.nir",
        r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}",
        r"nir|s[ée]curit[ée] sociale|num[ée]ro de s[ée]cu|insee",
    ),
    (
        "Italian fiscal code",
        "it.codicefiscale",
        r"[A-Za-z]{6}\d{2}[A-Za-z]\d{2}[A-Za-z]\d{3}[A-Za-z]",
        r"codice fiscale|c\.f\.|cf",
    ),
    (
        "Austrian social insurance number",
        "at.vnr",
        r"\d{4} ?\d{6}",
        r"sozialversicherungs|svnr|vsnr|versicherungsnummer",
    ),
    ("Swiss AHV number", "ch.ssn", r"756\.?\d{4}\.?\d{4}\.?\d{2}", r"ahv|avs|sozialversicherungs"),
    ("Polish PESEL", "pl.pesel", r"\d{11}", r"pesel"),
    ("Swedish personal number", "se.personnummer", r"\d{6,8}[-+]?\d{4}", r"personnummer"),
    ("Danish CPR number", "dk.cpr", r"\d{6}-?\d{4}", r"cpr"),
    ("Finnish personal identity code", "fi.hetu", r"\d{6}[-+A]\d{3}[0-9A-Ya-y]", r"hetu|henkil[öo]tunnus"),
    (
        "Belgian national number",
        "be.nn",
        r"\d{2}\.?\d{2}\.?\d{2}-?\d{3}\.?\d{2}",
        r"rijksregister|registre national|national number",
    ),
    ("NHS number", "gb.nhs", r"\d{3} ?\d{3} ?\d{4}", r"nhs"),
]
_NEAR = 80

# Words that mean pay for work and little else ("Vergütung", "brutto", "compensation" also fill
# offers and invoices, so they are left out).
SALARY_WORDS = (
    "gehalt",
    "gehälter",
    "gehaelter",
    "jahresgehalt",
    "monatsgehalt",
    "bruttogehalt",
    "lohn",
    "löhne",
    "salary",
    "salaries",
    "wages",
    "payroll",
    "base pay",
    "salaire",
    "salaires",
    "sueldo",
    "sueldos",
    "salario",
    "salarios",
    "nómina",
    "salaris",
    "brutoloon",
    "зарплата",
    "зарплаты",
    "оклад",
    "stipendio",
    "retribuzione",
    "wynagrodzenie",
    "pensja",
)
_SALARY_WORD = LazyPattern(r"\b(?:" + "|".join(SALARY_WORDS) + r")\b")
_AMOUNT = LazyPattern(
    r"(?<![\w.,])(?:(?:€|EUR|USD|\$|£|CHF|RUB|₽)\s?)?\d{1,3}(?:[.,' \u00a0]\d{3})+(?:[.,]\d{2})?(?:\s?(?:€|EUR|USD|\$|£|CHF|k|K|₽|руб))?"
    r"|(?<![\w.,])\d{4,6}(?:[.,]\d{2})?\s?(?:€|EUR|USD|£|CHF|₽|руб)|(?:€|EUR|USD|\$|£|CHF)\s?\d{4,6}(?:[.,]\d{2})?(?![\w.,])"
    # a bare number in a table cell (spreadsheets and CSV carry no currency per cell)
    r"|(?:^|(?<=[\t;,]))[ ]*\d{4,7}(?:[.,]\d{1,2})?[ ]*(?=[\t;,]|$)"
)
_NAME = LazyPattern(
    r"(?<!\w)[A-ZÄÖÜÀ-ÝА-Я][a-zäöüßà-ÿа-я]+(?:[ \t]+[A-ZÄÖÜÀ-ÝА-Я][a-zäöüßà-ÿа-я'-]+){1,2}(?!\w)"
    r"|(?<!\w)[A-ZÄÖÜÀ-ÝА-Я][a-zäöüßà-ÿа-я]+,[ \t]*[A-ZÄÖÜÀ-ÝА-Я][a-zäöüßà-ÿа-я]+(?!\w)"
)
# (number range, lengths) of the card networks; a Luhn-valid number outside them is not a card.
_CARD_NETWORKS = [
    (LazyPattern(r"4"), (13, 16, 19)),  # Visa
    (LazyPattern(r"5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)"), (16,)),  # Mastercard
    (LazyPattern(r"3[47]"), (15,)),  # American Express
    (LazyPattern(r"6(?:011|5|4[4-9])"), (16, 19)),  # Discover
    (LazyPattern(r"35(?:2[89]|[3-8]\d)"), (16, 19)),  # JCB
    (LazyPattern(r"3(?:0[0-5]|[689])"), (14, 16)),  # Diners Club
    (LazyPattern(r"62"), (16, 19)),  # UnionPay
]
_TABLE_ROWS = 2

# Cheap tests that let a text skip a pattern that cannot match it, read in C (bytes.translate,
# bytes.find) instead of the patterns' own position-by-position scan (~0.3-0.6 ms each over a
# 10 kB body). The shape of a text: each ASCII digit "0", each capital A-Z "A", each byte of a
# non-ASCII character "u" (it may be a digit: \d matches every script's digits), all else ".".
_SHAPE = bytes(
    ord("0") if chr(b).isdigit() and b < 128 else ord("A") if 65 <= b <= 90 else ord("u") if b >= 128 else ord(".")
    for b in range(256)
)
_DIGIT = LazyPattern(r"\d")


def _shape(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass").translate(_SHAPE)


def _has_digits(text: str, shape: bytes, count: int) -> bool:
    """At least ``count`` characters that \\d matches (exact: other scripts' digits count too)."""
    if shape.count(b"0") >= count:
        return True
    return not text.isascii() and len(_DIGIT.findall(text)) >= count


def _may_hold_iban(shape: bytes) -> bool:
    """Two capitals and a digit, as every IBAN starts ("u": a non-ASCII digit, perhaps)."""
    return b"AA0" in shape or b"AAu" in shape


def _valid(module: str, value: str) -> bool:
    return bool(importlib.import_module(f"stdnum.{module}").is_valid(value))


def find_ibans(text: str, shape: bytes | None = None) -> list[str]:
    if not _may_hold_iban(_shape(text) if shape is None else shape):
        return []
    return [m.group(1) for m in _IBAN.finditer(text) if _valid("iban", m.group(1))]


# A card candidate is digits, spaces and hyphens only: in an ASCII text it lies within a run of
# those that holds 13 digits or more, found with bytes.find instead of trying _CARD everywhere.
_RUN_SHAPE = bytes(ord("0") if 48 <= b <= 57 else ord(" ") if b in (32, 45) else ord(".") for b in range(256))


def _card_candidates(text: str) -> Iterator[re.Match[str]]:
    """What _CARD.finditer(text) yields, searching only the runs a card can lie in."""
    if not text.isascii():
        yield from _CARD.finditer(text)
        return
    shape = text.encode("ascii").translate(_RUN_SHAPE)
    at = shape.find(b"0000")
    while at >= 0:
        start = shape.rfind(b".", 0, at) + 1
        end = shape.find(b".", at)
        end = len(shape) if end < 0 else end
        if shape.count(b"0", start, end) >= 13:
            yield from _CARD.finditer(text, start, end)
        at = shape.find(b"0000", end)


def find_cards(text: str, shape: bytes | None = None) -> list[str]:
    if not _has_digits(text, _shape(text) if shape is None else shape, 13):  # the shortest card
        return []
    out = []
    for match in _card_candidates(text):
        before = text[match.start() - 1 : match.start()]
        after = text[match.end() : match.end() + 2]
        if (
            (before and (before.isalnum() or before in "_.,/-"))
            or (after[:1] and (after[:1].isalnum() or after[:1] in "_/-"))
            or (after[:1] in ".," and after[1:2].isdigit())
        ):
            continue
        digits = re.sub(r"\D", "", match.group(0))
        if not 13 <= len(digits) <= 19 or digits in _TEST_CARDS or len(set(digits)) < 4:
            continue
        network = any(prefix.match(digits) and len(digits) in lengths for prefix, lengths in _CARD_NETWORKS)
        if network and _valid("luhn", digits):
            out.append(match.group(0))
    return out


_KEYWORDS = LazyPattern(r"\b(?:" + "|".join(words for *_, words in _IDENTIFIERS) + r")\b")
_KEYWORD_OF = [
    (label, module, LazyPattern(rf"(?:{candidate})"), LazyPattern(rf"^(?:{words})$"))
    for label, module, candidate, words in _IDENTIFIERS
]
MAX_KEYWORDS = 200
# Every keyword above contains one of these (a test checks it); the candidates all have 7 digits
# or more.
KEYWORD_CUES = (
    "steuer",
    "identifikationsnummer",
    "idnr",
    "bsn",
    "burgerservicenummer",
    "sofinummer",
    "dni",
    "nif",
    "documento nacional",
    "nie",
    "extranjero",
    "nir",
    "sociale",
    "ro de s",
    "insee",
    "codice fiscale",
    "c.f.",
    "cf",
    "sozialversicherungs",
    "svnr",
    "vsnr",
    "versicherungsnummer",
    "ahv",
    "avs",
    "pesel",
    "personnummer",
    "cpr",
    "hetu",
    "tunnus",
    "rijksregister",
    "registre national",
    "national number",
    "nhs",
)
MIN_IDENTIFIER_DIGITS = 7
# Cues that are a whole keyword (or end one that starts with a word): _KEYWORDS' \b holds on both
# sides of them, so "nie" in "companies" or "nif" in "significant" does not count (a test checks
# each keyword in its context).
WHOLE_WORD_CUES = frozenset(KEYWORD_CUES) - {"steuer", "ro de s", "c.f.", "tunnus"}
_WORD_CUES = tuple(cue for cue in KEYWORD_CUES if cue in WHOLE_WORD_CUES)
_PART_CUES = tuple(cue for cue in KEYWORD_CUES if cue not in WHOLE_WORD_CUES)


def _has_cue(lowered: str, cue: str) -> bool:
    return has_whole_word(lowered, cue) if cue in WHOLE_WORD_CUES else cue in lowered


def find_identifiers(text: str, shape: bytes | None = None, read: Reading | None = None) -> list[tuple[str, str]]:
    """National identifiers that pass their checksum and follow a word that names them."""
    if not _has_digits(text, _shape(text) if shape is None else shape, MIN_IDENTIFIER_DIGITS):
        return []
    read = Reading(text) if read is None else read
    if not read.any_word(_WORD_CUES) and not read.any_lowered(_PART_CUES):
        return []
    lowered = read.whole_lowered
    out = []
    for count, keyword in enumerate(_KEYWORDS.finditer(lowered)):
        if count >= MAX_KEYWORDS:
            break
        window = lowered[keyword.end() : keyword.end() + _NEAR]
        for label, module, candidate, words in _KEYWORD_OF:
            if not words.match(keyword.group(0)):
                continue
            for match in candidate.finditer(window):
                value = match.group(0)
                edge = window[match.end() : match.end() + 1]
                if (match.start() and (window[match.start() - 1].isalnum())) or (edge and edge.isalnum()):
                    continue
                if _valid(module, value.upper()):
                    out.append((label, value))
    return list(dict.fromkeys(out))


# Salary tables are small; a megabyte of text is not scanned line by line for them.
SALARY_SCAN_CHARS = 200_000


# Table cells: tabs, semicolons, runs of spaces, CSV commas ("Roth,78000"; "Roth, Tim" is one cell).
_CELL_SPLIT = LazyPattern(r"\t|;|\s{2,}|\|\s*|,(?=\S)|,\s+(?=[\d€$£])")
_BARE_AMOUNT = LazyPattern(r"\d{4,7}(?:[.,]\d{1,2})?")
_YEAR = LazyPattern(r"(?:19|20)\d\d")


def _is_amount(cell: str) -> bool:
    if _BARE_AMOUNT.fullmatch(cell):
        return not _YEAR.fullmatch(cell)
    return bool(_AMOUNT.search(cell))


def _is_table_row(line: str) -> bool:
    """A person's name in the first cell and an amount in another."""
    cells = [c.strip() for c in _CELL_SPLIT.split(line.strip()) if c.strip()]
    return len(cells) >= 2 and bool(_NAME.fullmatch(cells[0])) and any(_is_amount(c) for c in cells[1:])


def salary_lines(text: str, read: Reading | None = None) -> tuple[list[str], list[str]]:
    """(rows of a names-and-amounts table, lines naming one person's salary) — both only in a
    text that talks about salaries."""
    text = text[:SALARY_SCAN_CHARS]
    read = Reading(text) if read is None or read.text is not text else read
    # each salary word begins and ends with a letter: \b around it is no letter, digit or "_"
    if not read.any_word(SALARY_WORDS):
        return [], []
    lines = [line for line in text.splitlines() if len(line) < 1000 and _NAME.search(line)]
    rows = [line for line in lines if _is_table_row(line)]
    figures = [line for line in lines if _SALARY_WORD.search(line.lower()) and _AMOUNT.search(line)]
    return rows, figures


class SensitiveData(Rule):
    id = "sensitive-data"
    description = "Checksummed bank, card and identity numbers, and salaries, sent outside."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        outside = bool(context.outside_recipients)
        found: list[tuple[str, str, str]] = []  # (kind, where, masked value)
        salary_table = salary_figure = False
        for where, text in texts_in_time(message, context, self.id):
            if not text:
                continue
            shape, read = _shape(text), reading(context, text)
            found += [("an IBAN", where, mask(v)) for v in find_ibans(text, shape)]
            found += [("a payment card number", where, mask(v)) for v in find_cards(text, shape)]
            found += [(f"a {label}", where, mask(v)) for label, v in find_identifiers(text, shape, read)]
            rows, figures = salary_lines(text, read)
            if len(rows) >= _TABLE_ROWS:
                salary_table = True
                found.append(("a table of names with salaries", where, f"{len(rows)} rows"))
            elif figures:
                salary_figure = True
                found.append(("a person's salary", where, "1 line" if len(figures) == 1 else f"{len(figures)} lines"))
        if not found:
            return []
        numbers = [f for f in found if not f[0].startswith(("a table", "a person's"))]
        if not outside:
            severity = Severity.INFO
        elif salary_table or (salary_figure and numbers):
            severity = Severity.HOLD
        else:
            severity = Severity.WARN
        kinds = list(dict.fromkeys(f"{kind} in {where}" for kind, where, _ in found))
        audience = "to recipients outside the organization" if outside else "internally"
        return [
            Finding(
                self.id,
                severity,
                f"Sensitive data is being sent {audience}: " + "; ".join(kinds[:6]) + ".",
                evidence=", ".join(dict.fromkeys(value for _, _, value in found[:6])),
            )
        ]


RULE = SensitiveData
