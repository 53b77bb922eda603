"""How the voice of one sent message is read (mail.voice): counted in C, and from the opening of
a long text; the counting gives what reading token by token gives."""

from __future__ import annotations

import re
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from sendguard.mail import voice

WORDS = ["du", "Du", "DU", "dich", "tu", "Te", "toi", "vous", "Vous", "votre", "Sie", "sie", "Ihnen", "Ihr", "ihr"]
WORDS += ["the", "and", "und", "der", "le", "la", "merci", "ci-joint", "für", "Grüße", "tutu", "Sier", "x"]
GLUE = [" ", "  ", "\n", ". ", "! ", "? ", ": ", ", ", "(", ")", '"', "'", "„", "»", "2", "_", "\x1c", "\u00a0", "é"]


def address_form_by_token(text: str, greeting: str = "") -> str:
    """The form of address read token by token, for comparison."""
    tokens = re.findall(r"[^\W\d_]+|[.!?:]", text)
    informal = formal = french = 0
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if low in voice.INFORMAL:
            informal += 1
            french += low in ("tu", "te", "toi", "ton", "ta", "tes")
        elif tok in voice.FORMAL_DE:
            formal += i > 0 and tokens[i - 1] not in (".", "!", "?", ":")
        elif low in voice.FORMAL_FR:
            formal += 1
            french += 1
    formal += 2 * bool(voice.TITLED.search(greeting))
    if informal == formal:
        return ""
    if french * 2 >= informal + formal:
        return "tu" if informal > formal else "vous"
    return "du" if informal > formal else "sie"


def language_by_word(text: str) -> str:
    """The language read word by word, for comparison."""
    counts: Counter[str] = Counter(word.strip(".,;:!?()\"'„“”«»") for word in text.lower().split())
    scores = {lang: sum(counts[w] for w in markers) for lang, markers in voice.MARKERS.items()}
    scores["de"] += 2 * any(ch in text for ch in "äöüß")
    scores["fr"] += 2 * any(ch in text for ch in "éèêàçù")
    return max(("en", "de", "fr"), key=lambda lang: (scores[lang], -("en", "de", "fr").index(lang)))


texts = st.lists(st.sampled_from(WORDS) | st.sampled_from(GLUE) | st.text(max_size=3), max_size=60).map("".join)


@given(texts, st.sampled_from(["", "Sehr geehrter Herr Kern,", "Hallo Markus,"]))
def test_the_form_of_address_counts_what_each_token_says(text: str, greeting: str) -> None:
    assert voice.address_form(text, greeting) == address_form_by_token(text, greeting)


@given(texts)
def test_the_language_counts_what_each_word_says(text: str) -> None:
    assert voice.language_of(text) == language_by_word(text)


def test_a_long_mail_is_read_from_its_opening() -> None:
    paragraph = "Kannst du mir die Zahlen schicken? Ich brauche sie für die Sitzung und den Bericht.\n"
    opening = "Hallo Markus,\n\n" + paragraph * 20 + "\n"
    # a long English table pasted below the note ("du" here is no form of address)
    pasted = "The status of the project, and the numbers for the region: du 42, du 43.\n" * 60
    body = opening + pasted + "\nViele Grüße\nPetra"
    assert len(opening) < voice.VOICE_CHARS < len(body) / 2
    assert voice.voice_of(body) == {
        "greeting": "Hallo Markus,",
        "closing": "Viele Grüße",
        "form": "du",
        "language": "de",
    }
    # the whole text would have said English and counted the table's "du" too
    assert voice.language_of(body) == "en"
