"""secrets: private keys, access tokens and passwords in the body or the attachments.

Known token formats are conclusive on their own and HOLD: a private key block, GitHub
(``ghp_``, ``github_pat_``), GitLab (``glpat-``), Slack (``xox?-``, webhook URLs) and Google
(``AIza``, ``GOCSPX-``) tokens. Weaker signs are WARN: an AWS access key *ID* (it names a key
but is not the secret half), a ``password: …`` line, a high-entropy value assigned to a name
that says secret/token/key/password. Two different kinds together (an AWS key ID beside a
40-character secret) are a credential pair and HOLD.

In git patches only added lines count (content.patch_text): removing a leaked key from a
repository must not be held for containing it. Placeholders (``EXAMPLE``, ``xxxx``,
``<your-token>``, ``${VAR}``, environment lookups) are not secrets.

Evidence is always masked (content.mask: first and last character) — in the message, in the
evidence field, and therefore in stderr, ``check --json``, the queue and the incident log.
"""

from __future__ import annotations

import re

from sendguard.mail.content import LazyPattern, mask, scan_texts, shannon_entropy
from sendguard.model import Finding, Severity
from sendguard.rules import Rule

# (what, pattern, conclusive). The word-anchored ones share one pass over the text (_WORD_TOKENS):
# one alternation behind one \b is several times faster than five searches.
_TOKENS: list[tuple[str, str, bool]] = [
    ("an AWS access key ID", r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b", False),
    ("a GitHub token", r"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})", True),
    ("a GitLab token", r"gl(?:pat|ptt|rt|dt|soat|cbt)-[A-Za-z0-9_-]{20,}", True),
    ("a Slack token", r"xox[abposr]-(?:\d+-)?[A-Za-z0-9-]{10,}", True),
    ("a Google API key", r"AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])", True),
]
_WORD_TOKENS = LazyPattern(r"\b(?:" + "|".join(f"({pattern})" for _, pattern, _ in _TOKENS) + ")")
# Cues: every match of a pattern contains one of its cues (tests/test_rules_content_prefilters.py
# checks it). A text without them is done with in a few substring searches, and the pattern is
# not even compiled; most mail has none.
_TOKEN_CUES = (
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "glptt-",
    "glrt-",
    "gldt-",
    "glsoat-",
    "glcbt-",
    "xox",
    "AIza",
)
_LITERAL_TOKENS: list[tuple[str, str, LazyPattern, bool]] = [
    ("a private key", "-----BEGIN ", LazyPattern(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"), True),
    (
        "a Slack webhook URL",
        "https://hooks.slack.com/services/",
        LazyPattern(r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}"),
        True,
    ),
    ("a Google OAuth client secret", "GOCSPX-", LazyPattern(r"GOCSPX-[A-Za-z0-9_-]{28}"), True),
]
_PLACEHOLDER = LazyPattern(
    r"(?i)example|x{4,}|\*{3,}|\.{3}|<[^>]*>|\$\{|\$\(|%\(|\{\{|your[_-]|changeme|dummy|"
    r"fake|placeholder|redacted|sample|\bnone\b|\bnull\b|getenv|environ|secret_?here"
)
_PASSWORD_LINE = LazyPattern(
    r"(?im)^[ \t>*•-]*(?:password|passwd|pwd|passwort|kennwort|mot de passe|contraseña|clave|wachtwoord|"
    r"пароль|senha|hasło|salasana|lösenord)[ \t]*[:=][ \t]*(\S[^\n]{0,100}?)[ \t]*$"
)
# Looked for in the case-folded text (casefold, not lower: (?i) also matches "ſ" for "s").
_PASSWORD_CUES = (
    "password",
    "passwd",
    "pwd",
    "passwort",
    "kennwort",
    "mot de passe",
    "contraseña",
    "clave",
    "wachtwoord",
    "пароль",
    "senha",
    "hasło",
    "salasana",
    "lösenord",
)
# Run only on lines that contain one of these words (found first, on lower-cased text, fast).
_ASSIGNMENT_WORD = re.compile(r"secret|token|key|passw|credential")
MAX_ASSIGNMENT_LINES = 2_000
_ASSIGNMENT = LazyPattern(
    r"(?i)\b([A-Za-z_][\w.-]{0,60}?(?:secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"passw(?:or)?d|passwd|credential|auth[_-]?key|signing[_-]?key)[\w.-]{0,30})[\"']?[ \t]*(?::=|=>|=|:)[ \t]*"
    r"[\"']?([A-Za-z0-9+/_\-.=~]{16,200})[\"']?"
)
MIN_ENTROPY = 3.5


def _is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.search(value)) or len(set(value)) < 5


def find_secrets(text: str) -> list[tuple[str, str, bool]]:
    """(what, value, conclusive) for every secret-looking thing in ``text``."""
    out: list[tuple[str, str, bool]] = []
    seen: set[str] = set()
    tokens = _WORD_TOKENS.finditer(text) if any(cue in text for cue in _TOKEN_CUES) else ()
    for match in tokens:
        what, _, conclusive = _TOKENS[match.lastindex - 1]
        value = match.group(0)
        if not _is_placeholder(value):
            seen.add(value)
            out.append((what, value, conclusive))
    for what, cue, pattern, conclusive in _LITERAL_TOKENS:
        if cue not in text:
            continue
        for match in pattern.finditer(text):
            value = match.group(0)
            if what != "a private key" and _is_placeholder(value):
                continue
            seen.add(value)
            out.append((what, value, conclusive))
    folded = text.casefold()
    password_lines = _PASSWORD_LINE.finditer(text) if any(cue in folded for cue in _PASSWORD_CUES) else ()
    for match in password_lines:
        value = match.group(1).strip("\"'`;, ")
        if (
            len(value) >= 6
            and len(value.split()) == 1
            and not _is_placeholder(value)
            and not re.search(r"[()\[\]{}$%]", value)
        ):
            out.append(("a password", value, False))
            seen.add(value)
    for match in _assignments(text):
        name, value = match.group(1), match.group(2)
        if any(value in s or s in value for s in seen) or _is_placeholder(value):
            continue
        if not (re.search(r"\d", value) and re.search(r"[A-Za-z]", value)):
            continue
        if shannon_entropy(value) >= MIN_ENTROPY:
            out.append((f"a random-looking value assigned to {name}", value, False))
            seen.add(value)
    return out


def _assignments(text: str) -> list[re.Match[str]]:
    lowered = text.lower()
    starts: dict[int, None] = {}
    for word in _ASSIGNMENT_WORD.finditer(lowered):
        starts[text.rfind("\n", 0, word.start()) + 1] = None
        if len(starts) >= MAX_ASSIGNMENT_LINES:
            break
    out: list[re.Match[str]] = []
    for start in starts:
        end = text.find("\n", start)
        out.extend(_ASSIGNMENT.finditer(text[start : end if end >= 0 and end - start < 4000 else start + 4000]))
    return out


class Secrets(Rule):
    id = "secrets"
    description = "Private keys, access tokens and passwords in the message or its attachments."

    def check(self, message, context):  # type: ignore[no-untyped-def]
        found: list[tuple[str, str, str, bool]] = []
        for where, text in scan_texts(message, context):
            found += [(what, where, mask(value), conclusive) for what, value, conclusive in find_secrets(text)]
        if not found:
            return []
        kinds = {what.split(" assigned to ")[0] for what, _, _, _ in found}
        conclusive = any(c for *_, c in found) or len(kinds) >= 2
        described = list(dict.fromkeys(f"{what} ({value}) in {where}" for what, where, value, _ in found))
        return [
            Finding(
                self.id,
                Severity.HOLD if conclusive else Severity.WARN,
                "Secrets would leave with this message: " + "; ".join(described[:5]) + ".",
                evidence=", ".join(dict.fromkeys(value for _, _, value, _ in found[:5])),
            )
        ]


RULE = Secrets
