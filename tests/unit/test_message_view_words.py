"""The recipient model reads a message's words and name tokens from one scan of its body: the
same words and tokens as reading each from the whole text."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.history.fit import MessageView
from sendguard.mail.greetings import MAX_BODY_CHARS, MAX_WORDS, STOPWORDS, fold, is_quote_marker, words


class Message:
    def __init__(self, subject: str, body: str) -> None:
        self.subject = subject
        self.body_text = body


def words_one_by_one(text: str, limit: int = 400) -> list[str]:
    """greetings.words as first written: a match at a time."""
    return words_of_runs([m.group() for m in re.finditer(r"[^\W\d_]{3,}", text.lower())], limit)


def words_of_runs(runs: list[str], limit: int) -> list[str]:
    """distinct_words as first written: each run looked at in turn."""
    seen: dict[str, None] = {}
    for raw in runs:
        word = raw if raw.isascii() else fold(raw)
        if word in seen or word in STOPWORDS or len(word) < 3:
            continue
        seen[word] = None
        if len(seen) >= limit:
            break
    return list(seen)


PIECES = st.sampled_from(
    [" ", "\n", "the", "Köhler", "koehler", "ΣΟΦΟΣ", "İstanbul", "straße", "Ольга", "and", "x1y", "_ab", "Falke"]
)
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=40).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(TEXT, st.integers(min_value=1, max_value=20))
def test_words_are_those_of_a_scan_a_match_at_a_time(text, limit):
    assert words(text, limit) == words_one_by_one(text, limit)


@settings(max_examples=300, deadline=None)
@given(TEXT, TEXT)
def test_view_words_and_tokens_are_those_of_the_whole_text(subject, body):
    view = MessageView(Message(subject, body), [])
    assert view.words == words_one_by_one(subject + "\n" + body[:MAX_BODY_CHARS], MAX_WORDS)
    assert view.tokens == set(re.findall(r"[^\W\d_]{2,}", body[:MAX_BODY_CHARS].lower()))


def is_quote_marker_in_full(line: str) -> bool:
    from sendguard.mail import greetings as g

    low = line.lower()
    if low.startswith(("--", "__")):
        return set(low) <= {"_", " "} and len(low) >= 10 or any(w in low for w in g.MARKER_WORDS)
    if low.startswith("begin forwarded message") or low.startswith(g.HEADER_STARTS):
        return True
    if low.endswith(g.ATTRIBUTION_ENDS):
        return True
    return low.endswith(":") and any(w in low for w in g.ATTRIBUTION_WORDS) and len(low) < 250


LINES = st.lists(
    st.sampled_from(
        ["--", "__", ":", "Begin", "BEGIN forwarded message", "From:", "wrote:", " schrieb ", "x", "İ", "Ⓑ"]
    ),
    max_size=8,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.one_of(LINES, st.text(max_size=30)))
def test_quote_marker_shortcut_changes_nothing(line):
    line = line.strip()
    assert is_quote_marker(line) == is_quote_marker_in_full(line)


def address_form_word_by_word(text: str, greeting: str = "") -> str:
    from sendguard.mail import voice as v

    tokens = re.findall(r"[^\W\d_]+|[.!?:]", text)
    informal = formal = french = 0
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if low in v.INFORMAL:
            informal += 1
            french += low in ("tu", "te", "toi", "ton", "ta", "tes")
        elif tok in v.FORMAL_DE and i > 0 and tokens[i - 1] not in (".", "!", "?", ":"):
            formal += 1
        elif low in v.FORMAL_FR:
            formal += 1
            french += 1
    if v.TITLED.search(greeting):
        formal += 2
    if informal == formal:
        return ""
    if french * 2 >= informal + formal:
        return "tu" if informal > formal else "vous"
    return "du" if informal > formal else "sie"


def language_word_by_word(text: str) -> str:
    from sendguard.mail import voice as v

    words = [w.strip(".,;:!?()\"'„“”«»") for w in text.lower().split()]
    scores = {lang: sum(w in markers for w in words) for lang, markers in v.MARKERS.items()}
    if any(ch in text for ch in "äöüß"):
        scores["de"] += 2
    if any(ch in text for ch in "éèêàçù"):
        scores["fr"] += 2
    best = max(scores.values())
    return next((lang for lang in ("en", "de", "fr") if scores[lang] == best), "en")


VOICE = st.lists(
    st.sampled_from(
        [
            "Sie",
            "Ihnen",
            "du",
            "Du",
            "tu",
            "vous",
            "Vous",
            ". ",
            "! ",
            ": ",
            "und",
            "the",
            "la",
            "merci,",
            "«vous»",
            "\n",
            "(the",
            "ci-joint",
            "für",
            "Ihr",
            "tes",
            "\x1c",
            "\u00a0",
        ]
    )
    | st.text(max_size=5),
    max_size=30,
).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(VOICE, st.sampled_from(["", "Sehr geehrter Herr Brandt,", "Hallo Markus,"]))
def test_voice_counts_per_distinct_word_change_nothing(text, greeting):
    from sendguard.mail.voice import address_form, language_of

    assert address_form(text, greeting) == address_form_word_by_word(text, greeting)
    assert language_of(text) == language_word_by_word(text)


def closing_reading_every_line(text: str) -> str:
    from sendguard.mail import voice as v

    lines = []
    for line in text.splitlines():
        if line.rstrip() in ("--", "-- "):
            break
        if line.strip():
            lines.append(line.strip())
    for line in lines[-4:]:
        low = line.lower().rstrip(",.! ")
        if len(low) <= 40 and any(low == c or low.startswith(c + " ") or low.startswith(c + ",") for c in v.CLOSINGS):
            return line.rstrip(",")
    return ""


CLOSING = st.lists(
    st.sampled_from(["Viele Grüße", "Best regards,", "--", "-- ", "--x", "", "  ", "Anna", "thanks", "\t", "Merci"])
    | st.text(max_size=6),
    max_size=12,
).map("\n".join)


@settings(max_examples=400, deadline=None)
@given(CLOSING)
def test_closing_read_from_the_end_is_the_same(text):
    from sendguard.mail.voice import closing_of

    assert closing_of(text) == closing_reading_every_line(text)


ASCII_TEXT = st.lists(
    st.one_of(PIECES.filter(str.isascii), st.text(st.characters(max_codepoint=127), max_size=8)), max_size=40
).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.one_of(ASCII_TEXT, TEXT), st.integers(min_value=1, max_value=4))
def test_letter_runs_are_the_patterns_matches_ascii_or_not(text, minimum):
    from sendguard.mail.greetings import letter_runs

    assert letter_runs(text, minimum) == re.findall(rf"[^\W\d_]{{{minimum},}}", text)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(["the", "and", "x", "ab", "Falke", "über", "straße"]), ASCII_TEXT), max_size=30),
    st.integers(min_value=-1, max_value=30),
)
def test_distinct_words_of_ascii_runs_are_those_of_a_run_at_a_time(pieces, limit):
    """An ASCII text's words come from one pass at C speed: the same as looking at each run."""
    from sendguard.mail.greetings import distinct_words

    for runs in (pieces, [p.lower() for p in pieces if len(p) >= 3]):
        assert distinct_words(runs, limit) == words_of_runs(runs, limit)


def own_text_line_by_line(body: str, max_chars: int = 20_000) -> str:
    """greetings.own_text as first written: every line through is_quote_marker."""
    out = []
    for line in body[:max_chars].splitlines():
        stripped = line.strip()
        if stripped.startswith(">") or stripped.startswith("|"):
            continue
        if stripped and is_quote_marker(stripped):
            break
        out.append(line)
    return "\n".join(out)


BODIES = st.lists(
    st.one_of(
        LINES,
        st.sampled_from(["> quoted", " | piped", "", "  ", "\r", "\x85", "\u2028", "Best,"]),
        st.text(max_size=12),
    ),
    max_size=12,
).map("\n".join)


@settings(max_examples=500, deadline=None)
@given(BODIES, st.integers(min_value=1, max_value=200))
def test_own_text_and_has_quote_marker_are_those_of_every_line_read(body, max_chars):
    from sendguard.mail.greetings import has_quote_marker, own_text

    assert own_text(body, max_chars) == own_text_line_by_line(body, max_chars)
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    assert has_quote_marker(body) == any(is_quote_marker(line) for line in lines)


@settings(max_examples=400, deadline=None)
@given(st.one_of(ASCII_TEXT, TEXT), st.one_of(ASCII_TEXT, TEXT, st.sampled_from(["A b C dd EE\nA b C dd EE\n" * 3])))
def test_view_words_and_tokens_of_ascii_bodies_are_those_of_the_whole_text(subject, body):
    """An ASCII body's runs come lower-cased from one translate: the same words and tokens."""
    from sendguard.mail.greetings import lowered_runs

    assert lowered_runs(body) == re.findall(r"[^\W\d_]+", body.lower())
    view = MessageView(Message(subject, body), [])
    assert view.words == words_one_by_one(subject + "\n" + body[:MAX_BODY_CHARS], MAX_WORDS)
    assert view.tokens == set(re.findall(r"[^\W\d_]{2,}", body[:MAX_BODY_CHARS].lower()))


LOWER_RUNS = st.lists(
    st.sampled_from(["the", "and", "ab", "x", "for", "ledger", "q", "zz"])
    | st.text("abcdefghij", min_size=1, max_size=5),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(LOWER_RUNS, LOWER_RUNS, st.integers(min_value=1, max_value=200))
def test_ascii_words_are_distinct_words_of_the_runs_one_after_another(first, runs, limit):
    from sendguard.mail.greetings import ascii_words

    distinct = list(dict.fromkeys(runs))
    first = [r for r in first if len(r) >= 3]
    assert ascii_words(first, dict.fromkeys(distinct), limit) == words_of_runs(first + distinct, limit)
    assert ascii_words(first, distinct, limit) == words_of_runs(first + distinct, limit)


POOL = [a + b + c for a in "bcdfg" for b in "aeiou" for c in "klmnprst"]  # 200 words, none a stop word
LONG_BODY = st.lists(st.sampled_from(POOL + ["the", "and", "a", "of", "Ünal", "x9", "_pm", "Falke"]), max_size=900).map(
    " ".join
)


@settings(max_examples=100, deadline=None)
@given(st.one_of(TEXT, st.sampled_from(["", "Re: status", "Grüße"])), LONG_BODY)
def test_view_words_of_long_bodies_stop_at_the_limit_as_the_whole_text(subject, body):
    """A body with more distinct words than the model keeps: the first ones, as from the whole text."""
    view = MessageView(Message(subject, body), [])
    assert view.words == words_one_by_one(subject + "\n" + body[:MAX_BODY_CHARS], MAX_WORDS)
    assert view.tokens == set(re.findall(r"[^\W\d_]{2,}", body[:MAX_BODY_CHARS].lower()))


MARKERLESS = st.lists(
    st.sampled_from(["-", "_", "- -", "b", "Begin", "BEGIN forwarded message", "begİn forwarded message", "wrote"])
    | st.sampled_from(["--", "__", "-- Original", "_ _", "__________", "-----Forwarded"])
    | st.sampled_from(["\n", " ", "\r\n", "\x85", "Σ", "K"])
    | st.text(st.characters(blacklist_characters=":"), max_size=6),
    max_size=30,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(MARKERLESS)
def test_a_text_without_the_markers_characters_is_read_as_line_by_line(text):
    """has_quote_marker says no at once for a text with no ":", "--", "__" or "begin forwarded
    message": the same answer as reading every line."""
    from sendguard.mail.greetings import has_quote_marker

    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert has_quote_marker(text) == any(is_quote_marker(line) for line in lines)
