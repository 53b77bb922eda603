"""How the user writes to someone: the greeting line, the closing and du/Sie (tu/vous).

Read from the user's own sent mail when it is learned (one small dict per message in the
history's ledger) and used by ``sendguard oops`` to write drafts the way the user writes to that
very person: "Hallo Markus," and "Viele Grüße" to a colleague on first-name terms, "Sehr
geehrter Herr Brandt," and "Mit freundlichen Grüßen" where the history says so. Pure functions
over the body text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from itertools import repeat
from typing import Any

from sendguard.mail.greetings import own_text, parse_greeting

CLOSINGS_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "de": (
        "viele grüße",
        "beste grüße",
        "liebe grüße",
        "herzliche grüße",
        "freundliche grüße",
        "mit freundlichen grüßen",
        "mit besten grüßen",
        "schöne grüße",
        "grüße",
        "gruß",
        "lg",
        "vg",
        "bg",
        "mfg",
        "bis bald",
        "vielen dank",
        "danke",
    ),
    "en": (
        "best regards",
        "kind regards",
        "warm regards",
        "regards",
        "best wishes",
        "all the best",
        "best",
        "cheers",
        "many thanks",
        "thanks",
        "thank you",
        "yours sincerely",
        "sincerely",
    ),
    "fr": (
        "cordialement",
        "bien cordialement",
        "bien à vous",
        "bien à toi",
        "amicalement",
        "bonne journée",
        "à bientôt",
        "merci",
    ),
}
CLOSINGS = tuple(c for closings in CLOSINGS_BY_LANGUAGE.values() for c in closings)
# Openings that go with first names and du/tu ("Hallo Markus", "Salut Claire"), unlike "Sehr
# geehrter" or "Bonjour Madame". English has no such distinction.
FAMILIAR: dict[str, tuple[str, ...]] = {
    "de": ("hallo", "hi", "hey", "liebe", "lieber", "liebes", "moin", "servus", "grüß dich"),
    "fr": ("salut", "coucou", "cher", "chère"),
}

# Forms of address that say du or Sie (tu or vous). "Sie"/"Ihnen"/"Ihr" count only capitalised
# and not at the start of a sentence ("sie" is also "they"/"she").
INFORMAL = frozenset("du dich dir dein deine deinen deinem deiner euch euer eure gib tu te toi ton ta tes".split())
FORMAL_DE = frozenset("Sie Ihnen Ihr Ihre Ihren Ihrem Ihrer".split())
FORMAL_FR = frozenset("vous votre vos".split())
INFORMAL_FR = frozenset("tu te toi ton ta tes".split())
_FORMAL_DE_LOWERED = frozenset(w.lower() for w in FORMAL_DE)
_ASCII_TOKENS = re.compile(r"[a-zA-Z]+|[.!?:]")
_TOKENS = re.compile(r"[^\W\d_]+|[.!?:]")
# The form of address and the language are read from the opening of the user's own text: the
# greeting and the first paragraphs say them, and reading a long mail whole was a third of
# what learning it cost (bench/README.md, "the voice of a long mail").
VOICE_CHARS = 2000
TITLED = re.compile(r"\b(herr|frau|mr|mrs|ms|dr|prof|monsieur|madame)\b\.?", re.IGNORECASE)


def closing_of(text: str) -> str:
    """The closing line of the author's own text ("Viele Grüße"), or ""."""
    all_lines = text.splitlines()
    if "--" in text:
        cut = next((i for i, line in enumerate(all_lines) if line.rstrip() in ("--", "-- ")), len(all_lines))
        all_lines = all_lines[:cut]  # the signature
    lines: list[str] = []
    for line in reversed(all_lines):  # the last four lines with text, read from the end
        if line.strip():
            lines.insert(0, line.strip())
            if len(lines) == 4:
                break
    for line in lines:
        low = line.lower().rstrip(",.! ")
        if len(low) <= 40 and any(low == c or low.startswith(c + " ") or low.startswith(c + ",") for c in CLOSINGS):
            return line.rstrip(",")
    return ""


def address_form(text: str, greeting: str = "") -> str:
    """'du', 'sie', 'tu', 'vous' or '' (the text does not say)."""
    # the same tokens: an ASCII text has no other letters (and [a-zA-Z] costs a third)
    tokens = (_ASCII_TOKENS if text.isascii() else _TOKENS).findall(text)
    # Counted in C over all tokens (learning reads every sent message); only "Sie" and its forms
    # need to know what stands before them, and only a text that has one is read again for it.
    lowered = Counter(map(str.lower, tokens))
    informal = sum(lowered[w] for w in INFORMAL if w in lowered)
    french = sum(lowered[w] for w in INFORMAL_FR if w in lowered)
    formal = sum(lowered[w] for w in FORMAL_FR if w in lowered)
    french += formal
    if any(w in lowered for w in _FORMAL_DE_LOWERED):
        formal += sum(
            1 for i, t in enumerate(tokens) if t in FORMAL_DE and i > 0 and tokens[i - 1] not in (".", "!", "?", ":")
        )
    if TITLED.search(greeting):
        formal += 2
    if informal == formal:
        return ""
    if french * 2 >= informal + formal:
        return "tu" if informal > formal else "vous"
    return "du" if informal > formal else "sie"


def voice_of(body: str) -> dict[str, str]:
    """{greeting, closing, form, language} of one message the user wrote ('' where unknown)."""
    text = own_text(body, 8000)
    greeting = parse_greeting(body)
    line = greeting.line if greeting else ""
    return {
        "greeting": line,
        "closing": closing_of(text),
        "form": address_form(text[:VOICE_CHARS], line),
        "language": language_of(text[:VOICE_CHARS]),
    }


def fits_language(text: str, language: str, table: dict[str, tuple[str, ...]]) -> bool:
    """Does a greeting or closing as written belong to ``language`` (per ``table``)?"""
    low = text.lower()
    return any(low == w or low.startswith((w + " ", w + ",")) for w in table.get(language, ()))


def usual(voices: Iterable[dict[str, Any]]) -> dict[str, str]:
    """What the user writes most often, over several messages to one person."""
    greetings: Counter[str] = Counter()
    closings: Counter[str] = Counter()
    forms: Counter[str] = Counter()
    for v in voices:
        for counter, key in ((greetings, "greeting"), (closings, "closing"), (forms, "form")):
            if v.get(key):
                counter[v[key]] += 1
    return {
        "greeting": greetings.most_common(1)[0][0] if greetings else "",
        "closing": closings.most_common(1)[0][0] if closings else "",
        "form": forms.most_common(1)[0][0] if forms else "",
    }


DRAFT_LANGUAGES = ("de", "en", "fr")
# Words frequent in one language and rare in the other: enough to tell a mail's language.
MARKERS: dict[str, frozenset[str]] = {
    "de": frozenset(
        "und der die das ist nicht mit für ich sie wir bitte sehr geehrte geehrter hallo "
        "grüße gruß vielen dank ein eine zu auf den dem im anbei ihnen ihre unsere freundlichen "
        "liebe lieber guten tag viele".split()
    ),
    "en": frozenset(
        "the and is not with for you we please dear regards hello hi thanks thank a an to on "
        "attached your our of best kind this that".split()
    ),
    "fr": frozenset(
        "le la les et est pas avec pour je vous nous tu merci bonjour cordialement une un des du de "
        "ce cette votre vos ci-joint dans sur que qui il elle au aux salut bien".split()
    ),
}


_AROUND_WORDS = ".,;:!?()\"'„“”«»"


def language_of(text: str, declared: str = "") -> str:
    """``de``, ``en`` or ``fr``: the Content-Language if it names one, else the words of the text;
    English when nothing tells."""
    declared = declared.strip().lower()[:2]
    if declared in DRAFT_LANGUAGES:
        return declared
    counts = Counter(map(str.strip, text.lower().split(), repeat(_AROUND_WORDS)))  # in C, word by word
    scores = {lang: sum(counts[w] for w in markers if w in counts) for lang, markers in MARKERS.items()}
    if any(ch in text for ch in "äöüß"):
        scores["de"] += 2
    if any(ch in text for ch in "éèêàçù"):
        scores["fr"] += 2
    best = max(scores.values())
    return next((lang for lang in ("en", "de", "fr") if scores[lang] == best), "en")
