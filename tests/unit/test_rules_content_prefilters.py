"""The content rules skip their expensive patterns when a text has none of their cues (cheap
substring searches): that must never change a finding. The invariant: every string a pattern
matches contains one of its cues. Checked per pattern with hypothesis generating matches."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sendguard.mail.content import fold
from sendguard.rules import forgotten_attachment as fa
from sendguard.rules import internal_to_outside as ito
from sendguard.rules import secrets
from sendguard.rules import sensitive_data as sd

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _cue_at_word_start(text: str) -> bool:
    """A cue with no letter, digit or "_" just before it (or at the start of the text)."""
    return any(re.search(r"(?<!\w)" + re.escape(cue), text) for cue in fa.CUES)


@pytest.mark.parametrize("phrase", fa._PHRASES)
def test_every_attachment_phrase_has_a_cue_where_a_word_starts(phrase):
    """PHRASE is \\b(?:...): a cue at the match's start is at a word start in any text it is found in."""

    @FAST
    @given(st.from_regex(re.compile(phrase), fullmatch=True))
    def check(text: str) -> None:
        # the rule searches lower-cased text
        assert _cue_at_word_start(text.lower()), text

    check()


_PHRASE_MATCHES = st.sampled_from(fa._PHRASES).flatmap(lambda p: st.from_regex(re.compile(p), fullmatch=True))
_AROUND = st.sampled_from(
    [
        "change",
        "exchange",
        "join",
        "joint",
        "Anhang",
        "x",
        "_",
        "1",
        "-",
        " ",
        "\n",
        "\r\n",
        "> ",
        "-- \n",
        "İ",
        "Σ",
        "ß",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(_AROUND, _PHRASE_MATCHES, st.text(max_size=6)), max_size=12).map("".join),
    st.sampled_from([str, str.upper, str.title]),
)
def test_the_attachment_prefilter_never_rejects_what_phrase_finds(text, case):
    from sendguard.mail.content import Reading, own_text

    body = case(text)
    if fa.PHRASE.search(own_text(body).lower()):
        assert Reading(body).any_word_start(fa.CUES), body


def test_change_exchange_and_join_are_no_attachment_cues():
    from sendguard.mail.content import Reading

    assert not Reading("Exchange rates change; she rejoined the adjoining room.").any_word_start(fa.CUES)
    assert Reading("Ich hänge dir das Angebot an").any_word_start(fa.CUES)
    assert Reading("ci-joint le devis").any_word_start(fa.CUES)


def test_fold_compares_letters_as_ignorecase_does():
    """Every code point re.IGNORECASE matches for a letter of a cue folds to that letter's fold."""
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    cues = [*secrets._CUES, *secrets._PASSWORD_CUES, *ito.MARKER_CUES]
    for letter in sorted(set("".join(cues))):
        for matched in re.findall(re.escape(letter), everything, re.IGNORECASE):
            assert fold(matched) == fold(letter), (letter, matched)


@FAST
@given(st.from_regex(secrets._CUE.compiled(), fullmatch=True))
def test_every_line_cue_contains_a_cue_once_folded(text):
    assert any(cue in fold(text) for cue in secrets._CUES), text


def _cue_lines_by_scanning(text: str) -> list[str]:
    """The plain scan that secrets._cue_lines must agree with: _CUE over the whole text."""
    lines: list[str] = []
    pos = 0
    while len(lines) < secrets.MAX_SCAN_LINES:
        match = secrets._CUE.search(text, pos)
        if match is None:
            break
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        end = len(text) if end < 0 else end
        half = secrets.MAX_LINE_CHARS // 2
        lines.append(text[max(start, match.start() - half) : min(end, match.end() + half)])
        pos = end + 1
    return lines


_PIECES = st.sampled_from(
    ["\n", " ", "Key", "TOKEN", "ghp_", "GH", "İ", "ı", "ß", "ſ", "://u:p@h", "sk-", "x" * 600, "AKIA", "-----BEGIN"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=30).map("".join))
def test_cue_lines_are_what_a_scan_of_the_whole_text_finds(text):
    assert secrets._cue_lines(text) == _cue_lines_by_scanning(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(_PIECES.filter(str.isascii), st.text(st.characters(max_codepoint=127), max_size=8)), max_size=30
    ).map("".join)
)
def test_cue_lines_of_an_ascii_text_are_what_a_scan_finds(text):
    from sendguard.mail.content import Reading

    class ByRuns(Reading):  # its cues answered from its runs, however short it is
        RUNS_AFTER = 0
        RUNS_MIN_CHARS = 0

    assert secrets._cue_lines(text, ByRuns(text)) == _cue_lines_by_scanning(text)


@pytest.mark.parametrize("marker", ito.MARKERS)
def test_every_confidentiality_marker_contains_a_cue_once_folded(marker):
    @FAST
    @given(st.from_regex(re.compile(marker, re.IGNORECASE), fullmatch=True))
    def check(text: str) -> None:
        assert any(cue in fold(text) for cue in ito.MARKER_CUES), text

    check()


@pytest.mark.parametrize("index", range(len(secrets._LITERAL_TOKENS)))
def test_every_literal_token_contains_its_cue(index):
    _, cue, pattern, _ = secrets._LITERAL_TOKENS[index]

    @FAST
    @given(st.from_regex(pattern.compiled(), fullmatch=True))
    def check(text: str) -> None:
        assert cue in text, text

    check()


@FAST
@given(st.from_regex(secrets._PASSWORD_LINE.compiled(), fullmatch=True))
def test_every_password_line_contains_a_cue_once_folded(text):
    assert any(cue in fold(text) for cue in secrets._PASSWORD_CUES), text


def test_a_plain_mail_compiles_none_of_the_skipped_patterns():
    """In a fresh interpreter (this one may have compiled them for other tests)."""
    code = (
        "from sendguard.rules import forgotten_attachment as fa, secrets\n"
        "secrets.find_secrets('Hello Anna,\\n\\nthe Falke rollout is on track.\\n\\nRegards\\nMe\\n')\n"
        "patterns = [secrets._CUE, secrets._PASSWORD_LINE, secrets._PLACEHOLDER, fa.PHRASE]\n"
        "patterns += [p for _, _, p, _ in secrets._LITERAL_TOKENS]\n"
        "import sys\n"
        "print(sum(p._compiled is not None for p in patterns), 'detect_secrets' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout.strip() == "0 False", proc.stderr


@pytest.mark.parametrize(
    "text, found",
    [
        ("key id AKIAIOSFODNN7ABCDEFG here", True),
        ("Passwort: Hunter2Geheim", True),
        ("PAſſWORD: Hunter2Geheim", True),  # (?i) matches the long s: casefold finds the cue as well
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", True),
        ("nothing secret in here, only a keyboard", False),
    ],
)
def test_cues_do_not_change_what_is_found(text, found):
    assert bool(secrets.find_secrets(text)) is found


SALARY_GLUE = st.sampled_from(["", " ", "\n", "_", "1", "a", "é", "’", "\u00a0", "-", "ß", "İ", "Σ", "x"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(sd.SALARY_WORDS), SALARY_GLUE, st.text(max_size=3)), max_size=20).map("".join)
)
@example("the base pay is")
@example("Gehälter’ salary_ salaries1 lohn")
def test_a_salary_word_is_one_standing_as_a_whole_word(text):
    """salary_lines asks for the salary words as whole words where it searched the pattern."""
    from sendguard.mail.content import Reading

    class ByRuns(Reading):
        RUNS_AFTER = 0
        RUNS_MIN_CHARS = 0

    found = bool(sd._SALARY_WORD.search(text.lower()))
    assert Reading(text).any_word(sd.SALARY_WORDS) is found
    assert ByRuns(text).any_word(sd.SALARY_WORDS) is found


@pytest.mark.parametrize("words", [words for *_, words in sd._IDENTIFIERS])
def test_every_identifier_keyword_contains_a_cue(words):
    @FAST
    @given(st.from_regex(re.compile(words), fullmatch=True))
    def check(text: str) -> None:
        assert any(cue in text for cue in sd.KEYWORD_CUES), text

    check()


@pytest.mark.parametrize("candidate", [candidate for _, _, candidate, _ in sd._IDENTIFIERS])
def test_every_identifier_has_enough_digits(candidate):
    @FAST
    @given(st.from_regex(re.compile(candidate), fullmatch=True))
    def check(text: str) -> None:
        assert len(re.findall(r"\d", text)) >= sd.MIN_IDENTIFIER_DIGITS, text

    check()


@FAST
@given(st.from_regex(sd._CARD.compiled(), fullmatch=True))
def test_every_card_candidate_has_13_digits(text):
    assert len(re.findall(r"\d", text)) >= 13, text


@FAST
@given(st.from_regex(sd._IBAN.compiled()))
def test_every_iban_candidate_has_the_shape_of_one(text):
    assert sd._may_hold_iban(sd._shape(text)), text


_NUMBERS = st.sampled_from(
    ["\n", " ", "-", "DE89 3704 0044 0532 0130 00", "4556 7375 8689 9855", "٤٥٥٦", "１２３", "Steuer-ID: ", "BSN ", "ä"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_NUMBERS, st.text(alphabet="0123456789 AZDE-x\n", max_size=12)), max_size=20).map("".join))
def test_number_prefilters_change_nothing(text):
    """A shape that passes every test (b"AA0" + 13 digits) makes each finder scan in full."""
    everything = b"AA0" + b"0" * 13
    assert sd.find_ibans(text) == sd.find_ibans(text, everything)
    assert sd.find_cards(text) == sd.find_cards(text, everything)
    assert sd.find_identifiers(text) == sd.find_identifiers(text, everything)


_CARD_TEXT = st.lists(
    st.sampled_from(["4556 7375 8689 9855", "4556-7375-8689-9855", "1234", " ", "-", "\n", "x", "٤٥٥٦", "0" * 7]),
    max_size=14,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_CARD_TEXT, st.text(alphabet="0123456789 -x\n", max_size=60)))
def test_card_candidates_are_what_a_scan_of_the_whole_text_finds(text):
    found = [(m.start(), m.end()) for m in sd._card_candidates(text)]
    assert found == [(m.start(), m.end()) for m in sd._CARD.finditer(text)]


@pytest.mark.parametrize("words", [words for *_, words in sd._IDENTIFIERS])
def test_every_identifier_keyword_in_its_context_has_a_cue(words):
    """Where _KEYWORDS matches a keyword (word boundaries around it), _has_cue finds a cue."""

    @FAST
    @given(st.from_regex(re.compile(words), fullmatch=True), st.sampled_from([" ", "\n", "(", ""]))
    def check(keyword: str, edge: str) -> None:
        after = " " if keyword[-1:].isalnum() or keyword[-1:] == "_" else "x"
        text = edge + keyword + after
        if sd._KEYWORDS.search(text) is None:
            return  # no \\b there ("c.f." before a space): nothing to find
        assert any(sd._has_cue(text, cue) for cue in sd.KEYWORD_CUES), text

    check()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["nie", "companies", "nif", "significant", "cf", "c.f.", "BSN ", "steuer-id", "_", " ", "\n"])
        | st.text(alphabet="abcnief_. -0123456789", max_size=6),
        max_size=15,
    ).map("".join)
)
def test_keyword_cues_skip_only_texts_without_a_keyword(text):
    lowered = text.lower()
    if sd._KEYWORDS.search(lowered):
        assert any(sd._has_cue(lowered, cue) for cue in sd.KEYWORD_CUES), text


def _token_patterns() -> list[tuple[str, re.Pattern[str]]]:
    import importlib

    patterns = []
    for module, name in secrets._PLUGIN_NAMES:
        plugin = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), name)
        patterns += [(f"{name} {i}", pattern) for i, pattern in enumerate(plugin.denylist)]
    return patterns


@pytest.mark.parametrize("name, pattern", _token_patterns(), ids=[name for name, _ in _token_patterns()])
def test_every_token_plugins_match_is_a_line_the_screen_lets_through(name, pattern):
    @FAST
    @given(st.from_regex(pattern, fullmatch=True))
    def check(text: str) -> None:
        assert secrets._may_hold_token(text), text

    check()


_LINE_PIECES = st.sampled_from(
    [
        " ",
        "key",
        "Key: ",
        "password = ",
        '"',
        "'",
        "token",
        "AKIA",
        "ghp_",
        "xoxb-1-",
        "eyJ",
        ".",
        "://",
        "@",
        "a1B2c3D4e5F6g7H8i9J0",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "Hunter2Geheim",
        "-----BEGIN RSA PRIVATE KEY-----",
        "ſ",
        "K",
        "İ",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_LINE_PIECES, st.text(max_size=6)), max_size=16).map("".join))
@example("the key point: we ship in May")
@example("key ghp_" + "a" * 36)
def test_the_screen_changes_no_finding_of_a_line(line):
    assert secrets._scan_line(line) == secrets._scan_line(line, screen=False)


def test_a_line_with_a_cue_word_in_prose_does_not_load_detect_secrets():
    """In a fresh interpreter: "key" in prose is a cue line, but nothing there can be a token."""
    code = (
        "from sendguard.rules import secrets\n"
        "found = secrets.find_secrets('Hello Anna,\\n\\nthe key point is the author of the risk-list.\\n')\n"
        "import sys\n"
        "print(found, 'detect_secrets' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout.strip() == "[] False", proc.stderr
