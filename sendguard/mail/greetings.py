"""Reading people's names out of mail text: salutations, quoted parts, name folding, words.

Shared by the history (learning) and the recipient rules (checking), so both see a message the
same way (ARCHITECTURE.md, "Reading a message"). Pure functions over strings, regular expressions
compiled on first use: this runs on the send path.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, filterfalse, islice
from string import ascii_lowercase

# How much of a body learning and checking read, and how many distinct words they keep: the
# same on both sides, so a message and the history are compared like for like.
MAX_BODY_CHARS = 6000
MAX_WORDS = 150
MAX_NAME_WORDS = 3  # "Anna von Berg"; a longer run between commas is a sentence
_CONNECTORS = frozenset(("&", "and", "und", "et", "y", "en", "и"))

# Salutations by language: greetings are read with all of them, and a draft in one language
# takes a greeting only from its own (recover.oops).
SALUTATIONS_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "en": (
        "hi",
        "hello",
        "hey",
        "dear",
        "good morning",
        "good afternoon",
        "good evening",
        "morning",
    ),
    "de": (
        "hallo",
        "hi",
        "liebe",
        "lieber",
        "liebes",
        "sehr geehrte",
        "sehr geehrter",
        "sehr geehrtes",
        "guten morgen",
        "guten tag",
        "guten abend",
        "moin",
        "servus",
        "grüß dich",
        "grüezi",
        "hoi",
        "hey",
    ),
    "fr": (
        "bonjour",
        "bonsoir",
        "salut",
        "cher",
        "chère",
        "chers",
        "chères",
        "coucou",
    ),
    "es": (
        "hola",
        "querido",
        "querida",
        "estimado",
        "estimada",
        "buenos días",
        "buenas tardes",
    ),
    "nl": (
        "beste",
        "geachte",
        "hallo",
        "hoi",
        "goedemorgen",
        "goedemiddag",
    ),
    "ru": (
        "здравствуйте",
        "здравствуй",
        "привет",
        "добрый день",
        "доброе утро",
        "добрый вечер",
        "уважаемый",
        "уважаемая",
        "дорогой",
        "дорогая",
    ),
}
SALUTATIONS = tuple(dict.fromkeys(s for group in SALUTATIONS_BY_LANGUAGE.values() for s in group))

SALUTATION_WORDS = frozenset(w for s in SALUTATIONS for w in s.split())

TITLES = (
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "prof",
    "sir",
    "madam",
    "herr",
    "frau",
    "herrn",
    "monsieur",
    "madame",
    "mademoiselle",
    "m",
    "mme",
    "mlle",
    "señor",
    "señora",
    "sr",
    "sra",
    "srta",
    "don",
    "doña",
    "dhr",
    "mevr",
    "meneer",
    "mevrouw",
    "heer",
    "господин",
    "госпожа",
)

# Words that address a group: a greeting with one of these names nobody in particular.
GROUP_WORDS = frozenset(
    (
        "all",
        "everyone",
        "everybody",
        "team",
        "folks",
        "guys",
        "colleagues",
        "people",
        "there",
        "both",
        "y'all",
        "friends",
        "gentlemen",
        "ladies",
        "sirs",
        "together",
        "zusammen",
        "alle",
        "allerseits",
        "leute",
        "kollegen",
        "kolleginnen",
        "team,",
        "ihr",
        "beide",
        "tous",
        "toutes",
        "à",
        "equipe",
        "équipe",
        "collègues",
        "todos",
        "todas",
        "equipo",
        "compañeros",
        "allemaal",
        "iedereen",
        "collega's",
        "collega",
        "все",
        "всем",
        "коллеги",
        "друзья",
        # a role, not a person ("Dear Amazon.com Customer", "Dear Sir or Madam", "Sehr geehrte Damen und Herren")
        "customer",
        "customers",
        "client",
        "clients",
        "subscriber",
        "subscribers",
        "member",
        "members",
        "user",
        "users",
        "reader",
        "readers",
        "viewer",
        "viewers",
        "investor",
        "investors",
        "participant",
        "participants",
        "employee",
        "employees",
        "colleague",
        "partner",
        "partners",
        "professional",
        "professionals",
        "sir",
        "madam",
        "herren",
        "damen",
        "kunde",
        "kunden",
        "kundin",
        "mitglied",
        "mitglieder",
        "abonnent",
        "abonnenten",
        "abonné",
        "abonnés",
        "cliente",
        "clientes",
        "klant",
        "klanten",
        "клиент",
    )
)

# Words that end an opening line but are no names ("Thanks," "Morning,").
NOT_NAMES = frozenset(
    (
        "thanks",
        "thank",
        "regards",
        "cheers",
        "ok",
        "okay",
        "yes",
        "no",
        "fyi",
        "please",
        "sorry",
        "danke",
        "gruss",
        "gruß",
        "grüße",
        "hallo",
        "hi",
        "hello",
        "merci",
        "gracias",
        "bedankt",
        "спасибо",
        "note",
        "update",
        "attached",
        "anbei",
        "re",
        "fw",
        "fwd",
        "and",
        "und",
        "et",
        "y",
        "en",
        "и",
        "the",
        "a",
        "dear",
        "morning",
        "all",
        "greetings",
        "im",
    )
)


CYRILLIC = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "",
            "y",
            "",
            "e",
            "yu",
            "ya",
        ],
    )
)


@lru_cache(maxsize=4096)
def fold(name: str) -> str:
    """A name for comparison: lower case, no diacritics, Cyrillic in Latin letters, only letters.

    Idempotent: ``fold(fold(x)) == fold(x)``.
    """
    text = name.lower().replace("ß", "ss")
    text = "".join(CYRILLIC.get(ch, ch) for ch in text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if "a" <= ch <= "z")


def name_keys(name: str) -> set[str]:
    """The folded forms a name may be written in: 'Köhler' -> {'kohler', 'koehler'}."""
    keys = {fold(name)}
    umlauts = name.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    if umlauts != name.lower():
        keys.add(fold(umlauts))
    keys.discard("")
    return keys


@dataclass(frozen=True)
class Greeting:
    """Who the author's opening line addresses."""

    names: tuple[str, ...]
    """Folded names, as written (first names, or last names when ``by_last_name``)."""
    by_last_name: bool
    line: str
    """The greeting line as written (for evidence)."""


# Openings of reply and forward markers (compared in lower case, without a regular expression:
# this runs on the send path, and one big alternation costs milliseconds to compile).
MARKER_WORDS = (
    "original",
    "forwarded",
    "ursprüngliche",
    "weitergeleitete",
    "d'origine",
    "mensaje original",
    "oorspronkelijk",
    "исходное",
    "пересылаемое",
)
ATTRIBUTION_ENDS = ("wrote:", "schrieb:", "schreef:", "a écrit :", "a écrit:", "escribió:", "пишет:")
ATTRIBUTION_WORDS = (" schrieb ", " schreef ", " wrote ")
HEADER_STARTS = ("from:", "von:", "de:", "de :", "van:", "от:")
_SALUTATIONS_LONGEST_FIRST = tuple(sorted(set(SALUTATIONS), key=len, reverse=True))
_TITLE_WORDS = frozenset(TITLES)


# A stripped line can be a quote marker only if it holds a colon or starts with one of these
# (is_quote_marker's first test): callers that look at that inline spare most lines a call.
MARKER_FIRST = ("-", "_", "b", "B")


def is_quote_marker(line: str) -> bool:
    """Does this (stripped) line start quoted or forwarded text?"""
    if ":" not in line and line[:1] not in MARKER_FIRST:  # most lines: every marker has one of these
        return False
    low = line.lower()
    if low.startswith(("--", "__")):
        return set(low) <= {"_", " "} and len(low) >= 10 or any(w in low for w in MARKER_WORDS)
    if low.startswith("begin forwarded message") or low.startswith(HEADER_STARTS):
        return True
    if low.endswith(ATTRIBUTION_ENDS):
        return True
    return low.endswith(":") and any(w in low for w in ATTRIBUTION_WORDS) and len(low) < 250


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    names = re.compile(r"^[^\W\d_][\w.,' -]{0,60}?\s*[,!:;.\-–—]?$")
    bare = re.compile(r"^[^\W\d_][^\W\d_'.-]{0,30}(?:\s+[^\W\d_][^\W\d_'.-]{0,30}){0,2}\s*[,:]$")
    words = re.compile(r"[^\W\d_]{3,}")
    return names, bare, words


def _after_salutation(line: str) -> str | None:
    """The rest of the line after a salutation word ("Hallo", "Dear", "Здравствуйте"), or None."""
    low = line.lower()
    if not low.startswith(_SALUTATIONS_LONGEST_FIRST):
        return None  # most lines: one test of them all
    for salutation in _SALUTATIONS_LONGEST_FIRST:
        if low.startswith(salutation):
            rest = line[len(salutation) :]
            if rest[:1].isalpha():
                continue  # "Hilde" is no "Hi"
            return rest.lstrip(" ,!")
    return None


def _names_part(text: str) -> str:
    """The comma-separated names at the start of a greeting's rest, up to where a sentence begins:
    "Mike, just wanted to show you" greets Mike, "Anna, Tim, Jana" all three. A sentence is a
    segment of more than MAX_NAME_WORDS words (titles and "and" not counted), or one starting
    lower-case after a capitalised name (a writer who writes names lower-case is read as before)."""
    segments = text.split(",")
    capitalised = segments[0].lstrip()[:1].isupper()
    kept: list[str] = []
    for segment in segments:
        words = [
            w for w in segment.split() if w.lower() not in _CONNECTORS and w.lower().rstrip(".") not in _TITLE_WORDS
        ]
        first = words[0] if words else ""
        if len(words) > MAX_NAME_WORDS or (
            kept and capitalised and first[:1].islower() and first.lower() not in SALUTATION_WORDS
        ):
            break
        kept.append(segment)
    return ",".join(kept)


def _split_title(text: str) -> tuple[bool, str]:
    """(whether a title leads, the text after it): "Mr. Smith" -> (True, "Smith")."""
    first, _, rest = text.partition(" ")
    if rest and first.lower().rstrip(".") in _TITLE_WORDS:
        return True, rest.strip()
    return False, text


def has_quote_marker(text: str) -> bool:
    """Does any line of ``text`` start quoted or forwarded text (is_quote_marker, stripped)?"""
    # every marker holds ":", starts with "--" or "__", or is "begin forwarded message": most
    # new mail has none of these, and is not read line by line (one character is found at
    # memchr speed, two take ~1 ns per character)
    if (
        ":" not in text
        and ("-" not in text or "--" not in text)
        and ("_" not in text or "__" not in text)
        and "begin forwarded message" not in text.lower()
    ):
        return False
    lines = dict.fromkeys(text.splitlines())  # a line repeated is looked at once
    return any(is_quote_marker(s) for s in map(str.strip, lines) if s[:1] in MARKER_FIRST or ":" in s)


def _own_lines(body: str, max_chars: int) -> Iterator[tuple[str, str]]:
    """(line, stripped) of the author's own part, read only as far as it is asked for."""
    for line in body[:max_chars].splitlines():
        stripped = line.strip()
        first = stripped[:1]
        if first == ">" or first == "|":
            continue
        if (first in MARKER_FIRST or ":" in stripped) and is_quote_marker(stripped):
            return
        yield line, stripped


FORWARD_MARKER_WORDS = (
    "forwarded",
    "weitergeleitete",
    "transféré",
    "reenviado",
    "doorgestuurd",
    "пересылаемое",
)


def forwards_in_body(body: str, max_chars: int = 20_000) -> bool:
    """Does the author's text end where a forwarded message begins ("---- Forwarded by ... ----",
    "Begin forwarded message:")? Lotus Notes forwards keep the subject as it was, so only the
    body says that the mail passes someone else's message on."""
    text = body[:max_chars]
    low = text.lower()
    if not any(word in low for word in FORWARD_MARKER_WORDS):
        return False  # most mail: no marker can name a forward ("begin forwarded message" too)
    for line in text.splitlines():
        stripped = line.strip()
        first = stripped[:1]
        if first == ">" or first == "|":
            return False  # quoted lines come first: a reply
        if (first in MARKER_FIRST or ":" in stripped) and is_quote_marker(stripped):
            low = stripped.lower()
            return low.startswith("begin forwarded message") or any(w in low for w in FORWARD_MARKER_WORDS)
    return False


def _opening_lines(body: str, max_chars: int, count: int) -> list[str]:
    """The first ``count`` non-empty lines of ``own_text(body, max_chars)``, stripped."""
    return list(islice((stripped for _, stripped in _own_lines(body, max_chars) if stripped), count))


def own_text(body: str, max_chars: int = 20_000) -> str:
    """The author's own part of a body: quoted lines and anything after a reply/forward marker removed."""
    return "\n".join(line for line, _ in _own_lines(body, max_chars))


def parse_greeting(body: str) -> Greeting | None:
    """The greeting of the author's own text, or None (no greeting, or one to a group)."""
    names_re, bare_re, _ = _patterns()
    for number, line in enumerate(_opening_lines(body, 4000, 2)):
        if len(line) > 80:
            return None
        rest = _after_salutation(line)
        bare = False
        if rest is None:
            # a bare "Name," counts only as the very first line ("Name - note" lists are no greeting)
            if number > 0:
                continue
            if not bare_re.match(line):
                opening = _name_then_sentence(line)
                if opening is not None:
                    return opening
                continue
            rest, bare = line, True
        elif not rest or not names_re.match(rest):
            continue
        by_last, rest = _split_title(_names_part(rest).rstrip(",!:;.-–— "))
        parts = [p for p in re.split(r"\s*(?:,|&|\band\b|\bund\b|\bet\b|\by\b|\ben\b|\bи\b)\s*|\s+", rest) if p]
        parts = [p.strip(".'-") for p in parts]
        parts = [p for p in parts if p.lower() not in SALUTATION_WORDS]  # "Liebe Jana, lieber Tim"
        if any(p.lower() in GROUP_WORDS for p in parts):
            return None
        names = tuple(fold(p) for p in parts if len(fold(p)) >= 2 and p.lower() not in NOT_NAMES)
        joined = bare and any(w.lower() in _CONNECTORS for w in rest.split())
        if not names or (bare and not by_last and not _bare_names(parts, joined, line)):
            continue
        if by_last:
            names = names[-1:]  # "Dear Mr John Smith": the last name
        elif len(names) > 1 and bare and not joined:
            names = names[:1]  # "Anna Schmidt," greets Anna; "Jay and Matt," both
        return Greeting(names=names[:4], by_last_name=by_last, line=line)
    return None


def _name_then_sentence(line: str) -> Greeting | None:
    """A first line that opens with a name and goes on: "Anne, can you check this deal?",
    "Karen- please file this", "Pete--". The name is one capitalised word that is no common
    opening ("Thanks, ...", "Yes - ...") nor a date ("Wednesday, May 2, 2001")."""
    m = _NAME_THEN_SENTENCE.match(line)
    if m is None:
        return None
    word, rest = m.group("name"), m.group("rest") or ""
    if not (word[:1].isupper() and word[1:].islower()) or (m.group("sep") == "," and not rest):
        return None
    low = word.lower()
    if low in NOT_NAMES or low in SALUTATION_WORDS or low in GROUP_WORDS or _DATE_START.match(rest):
        return None
    return Greeting(names=(fold(word),), by_last_name=False, line=line[: m.end("sep")])


_NAME_THEN_SENTENCE = re.compile(r"^(?P<name>[^\W\d_][^\W\d_'-]{1,30})(?P<sep>,|\s?-{1,2})(?:\s+(?P<rest>.*)|$)")
_DATE_START = re.compile(r"^(?:[^\W\d_]+\.?\s+)?\d")


def _bare_names(parts: list[str], joined: bool, line: str) -> bool:
    """Does a first line without a salutation name people? "Bill,", "Jay and Matt," and "Anna
    Schmidt," do; headings do not: names are capitalised ("Selection criteria:", "Mark Twomey
    joked:"), and a line of several words that ends in a colon names people only when they are
    joined ("Rick and Greg:", not "Executive Summary:" nor "Critical Migration Information:")."""
    if not parts[0][:1].isupper() or not parts[-1][:1].isupper():
        return False
    return len(parts) == 1 or joined or not line.endswith(":")


STOPWORDS = frozenset(
    """
the and for you that this with have are was not but from will your all can has our out any
what when which who would there their they them then than been were also just into about more
some could should other only over such these those here how its may very much please thanks
thank regards best hello dear fyi know need like get let see one two new now well want sent
original message subject forwarded cc bcc am pm com www http https html mail email
der die das und ist nicht ein eine einen einem einer mit von für fur auf den dem des sie wir
ich ihr euch uns bitte danke gruss grusse gruesse viele liebe hallo sich auch noch nur wie
les des une pour que qui dans pas sur avec vous nous est sont merci bonjour cordialement
los las del por con una para que como pero gracias hola saludos
het een van voor met niet zijn dat ook maar groet groeten bedankt
""".split()
)


_RUNS: dict[int, re.Pattern[str]] = {}
# Every ASCII byte that is not a letter, as a space: an ASCII text's runs of letters are then
# its words as str.split() sees them.
_NOT_LETTERS = bytes(c if chr(c).isascii() and chr(c).isalpha() else 32 for c in range(256))
_NOT_LETTERS_LOWER = bytes(ord(chr(c).lower()) if chr(c).isascii() and chr(c).isalpha() else 32 for c in range(256))


def letter_runs(text: str, minimum: int) -> list[str]:
    """The runs of ``minimum`` or more letters (``[^\\W\\d_]``) in ``text``, in order. An ASCII
    text has no letters but a-z and A-Z: its non-letters become spaces (bytes.translate) and
    split() yields the runs, at half the cost of the pattern (learning and every check read
    the whole body this way)."""
    if minimum >= 1 and text.isascii():
        runs = text.encode("ascii").translate(_NOT_LETTERS).decode("ascii").split()
        return runs if minimum == 1 else [run for run in runs if len(run) >= minimum]
    pattern = _RUNS.get(minimum)
    if pattern is None:
        pattern = _RUNS[minimum] = re.compile(rf"[^\W\d_]{{{minimum},}}")
    return pattern.findall(text)


def lowered_runs(text: str) -> list[str]:
    """``letter_runs(text.lower(), 1)``; an ASCII text's letters are lower-cased as they are
    found (one translate, no lower-cased copy of the text)."""
    if text.isascii():
        return text.encode("ascii").translate(_NOT_LETTERS_LOWER).decode("ascii").split()
    return letter_runs(text.lower(), 1)


def words(text: str, limit: int = 400) -> list[str]:
    """Distinct topical words (folded, 3+ letters, no stop words), in order of first use."""
    return distinct_words(letter_runs(text.lower(), 3), limit)


def distinct_words(runs: list[str], limit: int = 400) -> list[str]:
    """``words`` of a text's lower-cased runs of 3+ letters: each run folded and looked at once."""
    unique = dict.fromkeys(runs)
    if limit >= 1 and all(map(str.isascii, unique)) and min(map(len, unique), default=3) >= 3:
        # nothing to fold nor too short: the loop below would keep each word that is not a stop word
        return list(islice(filterfalse(STOPWORDS.__contains__, unique), limit))
    seen: dict[str, None] = {}
    for raw in unique:
        word = raw if raw.isascii() else fold(raw)  # ASCII letters are folded already
        if word in seen or word in STOPWORDS or len(word) < 3:
            continue
        seen[word] = None
        if len(seen) >= limit:
            break
    return list(seen)


# What distinct_words leaves out of runs of lower-case ASCII letters: stop words and every run
# shorter than three letters.
_ASCII_LEFT_OUT = STOPWORDS | {a + b for a in ascii_lowercase for b in ("", *ascii_lowercase)}


def ascii_words(first: list[str], runs: Iterable[str], limit: int) -> list[str]:
    """``distinct_words(first + list(runs), limit)`` for runs of lower-case ASCII letters, ``runs``
    distinct, ``limit`` >= 1: in one pass at C speed that stops at the limit (a subject's runs and
    a body's, read for ``tokens`` too)."""
    head = dict.fromkeys(first)
    rest = filterfalse(head.__contains__, runs) if head else runs
    return list(islice(filterfalse(_ASCII_LEFT_OUT.__contains__, chain(head, rest)), limit))


SUBJECT_PREFIX = re.compile(r"^\s*((re|aw|sv|fw|fwd|wg|tr|rv|antw|ответ|отв|доб)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def subject_key(subject: str) -> str:
    """A thread's subject without Re:/Fwd:/AW:/WG: prefixes, folded and single-spaced."""
    return " ".join(SUBJECT_PREFIX.sub("", subject).lower().split())


def names_one_thread(key: str) -> bool:
    """A subject key that names one thread ("personalplanung q3"), not any ("meeting", "update")."""
    return len(key.split()) >= 2 and len(key) >= 10


def is_reply(subject: str) -> bool:
    """Re:/Fwd:/AW:/WG: and the like: the message continues a thread."""
    return bool(SUBJECT_PREFIX.match(subject))


FORWARD_PREFIX = re.compile(r"^\s*(\[?(fw|fwd|wg|tr|rv|doorst|пересл)\s*:)", re.IGNORECASE)


def is_forward(subject: str) -> bool:
    """Fwd:/WG:/TR: — the message passes someone else's mail on to new people."""
    return bool(FORWARD_PREFIX.match(subject))
