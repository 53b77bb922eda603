"""The content rules skip their expensive patterns when a text has none of their cues (cheap
substring searches): that must never change a finding. The invariant: every string a pattern
matches contains one of its cues. Checked per pattern with hypothesis generating matches."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendguard.rules import forgotten_attachment as fa
from sendguard.rules import secrets

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("phrase", fa._PHRASES)
def test_every_attachment_phrase_contains_a_cue(phrase):
    @FAST
    @given(st.from_regex(re.compile(phrase), fullmatch=True))
    def check(text: str) -> None:
        # the rule searches lower-cased text, so what the phrase matches is already lower-cased
        assert any(cue in text for cue in fa.CUES), text

    check()


@FAST
@given(st.from_regex(secrets._CUE.compiled(), fullmatch=True))
def test_every_line_cue_contains_a_cue_once_case_folded(text):
    assert any(cue in text.casefold() for cue in secrets._CUES), text


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
def test_every_password_line_contains_a_cue_once_case_folded(text):
    assert any(cue in text.casefold() for cue in secrets._PASSWORD_CUES), text


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
