"""secrets: private keys, access tokens and passwords in the body or the attachments.

The detection is detect-secrets' plugins, imported lazily and handed only lines with a cue (a
keyword or a token prefix), at most MAX_SCAN_LINES of them, so plain mail never loads it; what it
has no plugin for (Google API keys and OAuth client secrets, "Passwort: ..." lines) stays here.
What holds and what warns: sendguard-rules(7); evidence is masked (ARCHITECTURE.md, "Content
rules").
"""

from __future__ import annotations

import bisect
import re
from typing import TYPE_CHECKING, Any

from sendguard.mail.content import LazyPattern, Reading, fold, mask, reading, shannon_entropy, texts_in_time
from sendguard.model import Finding, Severity
from sendguard.rules import Rule

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext

MAX_SCAN_LINES = 200
MAX_LINE_CHARS = 1_000
# A line goes to detect-secrets only if it holds one of these (folded, content.fold): the keywords
# its keyword plugin looks for and the prefixes of the tokens its other plugins know. Every string
# _CUE matches contains one (a test checks it), so only lines with a cue are searched with _CUE.
_CUES = (
    "secret",
    "token",
    "passw",
    "pwd",
    "key",
    "credential",
    "auth",
    "akia",
    "asia",
    "abia",
    "acca",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "eyj",  # a JSON web token
    "://",  # user:password@host
    "-----begin",
    "k_live_",
    "sk-",
    "npm_",
    "pypi-",
    "sg.",
)
# Where a cue is, the line around it goes to detect-secrets. Literal alternatives and bounded
# repeats only: linear on any input.
_CUE = LazyPattern(
    r"(?i)secret|token|passw|pwd|key|credential|auth|AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|glpat-|"
    r"xox[abposr]-|eyJ|://[^\s/@:]{1,100}:[^\s/@]{1,200}@|-----BEGIN|[sr]k_live_|sk-|npm_|pypi-|SG\."
)
# Not in detect-secrets: (what, cue, pattern).
_LITERAL_TOKENS: list[tuple[str, str, LazyPattern, bool]] = [
    ("a Google API key", "AIza", LazyPattern(r"AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])"), True),
    ("a Google OAuth client secret", "GOCSPX-", LazyPattern(r"GOCSPX-[A-Za-z0-9_-]{28}"), True),
]
# detect-secrets' secret types: what they are called here, and whether one alone holds.
_TYPES = {
    "AWS Access Key": ("an AWS secret access key", False),
    "Private Key": ("a private key", True),
    "JSON Web Token": ("a JSON web token", True),
    "Basic Auth Credentials": ("a password in a URL", True),
    "Secret Keyword": ("a secret assigned to a name", False),
}
_PLUGIN_NAMES = (
    ("aws", "AWSKeyDetector"),
    ("azure_storage_key", "AzureStorageKeyDetector"),
    ("basic_auth", "BasicAuthDetector"),
    ("discord", "DiscordBotTokenDetector"),
    ("github_token", "GitHubTokenDetector"),
    ("gitlab_token", "GitLabTokenDetector"),
    ("ibm_cloud_iam", "IbmCloudIamDetector"),
    ("jwt", "JwtTokenDetector"),
    ("mailchimp", "MailchimpDetector"),
    ("npm", "NpmDetector"),
    ("openai", "OpenAIDetector"),
    ("private_key", "PrivateKeyDetector"),
    ("pypi_token", "PypiTokenDetector"),
    ("sendgrid", "SendGridDetector"),
    ("slack", "SlackDetector"),
    ("square_oauth", "SquareOAuthDetector"),
    ("stripe", "StripeDetector"),
    ("telegram_token", "TelegramBotTokenDetector"),
    ("twilio", "TwilioKeyDetector"),
)
_plugins: list[Any] = []


def _detectors() -> tuple[list[Any], Any, Any, Any]:
    """detect-secrets' plugins, built once (the import costs ~0.2 s: only when a cue is seen)."""
    import importlib

    if not _plugins:
        from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString
        from detect_secrets.plugins.keyword import KeywordDetector

        tokens = [getattr(importlib.import_module(f"detect_secrets.plugins.{m}"), c)() for m, c in _PLUGIN_NAMES]
        _plugins.extend(
            [tokens, KeywordDetector(), Base64HighEntropyString(limit=4.5), HexHighEntropyString(limit=3.0)]
        )
    return _plugins[0], _plugins[1], _plugins[2], _plugins[3]


_PLACEHOLDER = LazyPattern(
    r"(?i)example|x{4,}|\*{3,}|\.{3}|<[^>]*>|\$\{|\$\(|%\(|\{\{|your[_-]|changeme|dummy|"
    r"fake|placeholder|redacted|sample|\bnone\b|\bnull\b|getenv|environ|secret_?here"
)
_PASSWORD_LINE = LazyPattern(
    r"(?im)^[ \t>*•-]*(?:password|passwd|pwd|passwort|kennwort|mot de passe|contraseña|clave|wachtwoord|"
    r"пароль|senha|hasło|salasana|lösenord)[ \t]*[:=][ \t]*(\S[^\n]{0,100}?)[ \t]*$"
)
# Looked for in the folded text (content.fold, not lower: (?i) also matches "ſ" for "s").
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
MIN_ENTROPY = 3.5
_AWS_KEY_ID = re.compile(r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}")
_NAME_BEFORE = re.compile(r"([A-Za-z_][\w.-]{0,60})[\"'\]]?[ \t]*(?::=|=>|=|:)?[ \t]*[\"'`]?$")


def _is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.search(value)) or len(set(value)) < 5


def _random_looking(value: str) -> bool:
    return bool(re.search(r"\d", value) and re.search(r"[A-Za-z]", value)) and shannon_entropy(value) >= MIN_ENTROPY


def _line_starts(text: str) -> list[int]:
    starts = [0]
    at = text.find("\n")
    while at >= 0:
        starts.append(at + 1)
        at = text.find("\n", at + 1)
    return starts


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end < 0 else end


def _cue_lines(text: str, read: Reading | None = None) -> list[str]:
    """The lines (at most MAX_LINE_CHARS around the cue) that hold a cue; MAX_SCAN_LINES of them.

    _CUE is searched only in the lines whose folded text has a cue (str.find, in C): over a
    whole 10 kB body its case-insensitive alternation costs ~2 ms, and a match never spans a
    line break, so the first match of each such line is the one a scan of the text would find.
    Where each cue is, is looked for only if the text has it (``read``, shared by the rules)."""
    read = Reading(text) if read is None else read
    cues = read.which_folded(_CUES)
    if not cues:
        return []
    folded = read.whole_folded
    hits: list[int] = []
    for cue in cues:
        at = folded.find(cue)
        while at >= 0:
            hits.append(at)
            at = folded.find("\n", at)
            if at < 0:
                break
            at = folded.find(cue, at)
    if not hits:
        return []
    if text.isascii():  # folded letter for letter: each line is where it is in the folded text
        spans = [(start, _line_end(text, start)) for start in sorted({folded.rfind("\n", 0, at) + 1 for at in hits})]
    else:
        folded_starts = _line_starts(folded)
        numbers = sorted({bisect.bisect_right(folded_starts, at) - 1 for at in hits})
        starts = _line_starts(text)  # casefold keeps every line break, so line numbers agree
        spans = [(starts[n], starts[n + 1] - 1 if n + 1 < len(starts) else len(text)) for n in numbers]
    lines: list[str] = []
    half = MAX_LINE_CHARS // 2
    for start, end in spans:
        match = _CUE.search(text, start, end)
        if match is None:
            continue
        lines.append(text[max(start, match.start() - half) : min(end, match.end() + half)])
        if len(lines) >= MAX_SCAN_LINES:
            break
    return lines


_TOKEN_RUN = re.compile(r"[A-Za-z0-9_.+/=-]{1,300}")


def _full_token(line: str, value: str) -> str:
    """Some plugins report only a token's prefix ("ghp", "glpat"): the whole word it starts."""
    at = line.find(value)
    if at < 0:
        return value
    match = _TOKEN_RUN.match(line, at)
    return match.group(0) if match else value


def _analyze(plugin: Any, filename: str, line: str) -> list[Any]:
    try:
        return list(plugin.analyze_line(filename=filename, line=line, line_number=1))
    except Exception:  # noqa: BLE001 — a plugin's own bug must not stop the others
        return []


# Every pattern of detect-secrets' keyword plugin (for the two file types asked: .txt and .yaml)
# holds one of its denylist's words, as re.IGNORECASE compares letters, and ":", "=" or ";" (a
# test generates each word's matches and checks lines with and without): its ~10
# case-insensitive searches per line, and loading detect-secrets at all, are skipped for a line
# without both. "key" counts only as the plugin's names have it ("api_key", "privatekey"), not
# in "hockey" or "the key point:".
_KEY_NAMES = ("api", "auth", "service", "account", "db", "database", "priv", "private", "client")
KEYWORD_WORDS = (
    "pass",
    "pwd",
    "secret",
    "contraseña",
    "contrasena",
    *(name + sep + "key" for name in _KEY_NAMES for sep in ("", "_")),
)
KEYWORD_SIGNS = (":", "=", ";")


def _may_assign_keyword(line: str) -> bool:
    if not any(sign in line for sign in KEYWORD_SIGNS):
        return False
    folded = fold(line)
    return any(word in folded for word in KEYWORD_WORDS)


# Every pattern of detect-secrets' token plugins (_PLUGIN_NAMES) needs one of TOKEN_MARKS, or
# "xox" or "hooks.slack.com" (folded: two patterns ignore case), or "://" with an "@" after it,
# or a run of 20 characters of its classes (all within _TOKEN_RUN_20's, folded as re.IGNORECASE
# compares them); a test generates every pattern's matches. A cue line of prose ("the key
# point") has none: then detect-secrets is neither imported (~0.15 s, most of what a mail with
# such a line costs) nor asked.
_TOKEN_RUN_20 = LazyPattern(r"[\w+/=\\-]{20}")
TOKEN_MARKS = ("eyJ", "BEGIN ", "PuTTY-User-Key-File-2", "_authToken=")
FOLDED_TOKEN_MARKS = ("xox", "hooks.slack.com")


def _may_hold_token(line: str) -> bool:
    if any(mark in line for mark in TOKEN_MARKS):
        return True
    at = line.find("://")
    if at >= 0 and "@" in line[at:]:
        return True
    folded = fold(line)
    return any(mark in folded for mark in FOLDED_TOKEN_MARKS) or _TOKEN_RUN_20.search(folded) is not None


def _scan_line(line: str, screen: bool = True) -> list[tuple[str, str, bool]]:
    """(what, value, conclusive) that detect-secrets finds in one line. ``screen``: ask a plugin
    only where its patterns could match (False: ask them all, for the tests' comparison)."""
    may_token = not screen or _may_hold_token(line)
    may_assign = not screen or _may_assign_keyword(line)
    if not (may_token or may_assign):
        return []
    tokens, keyword, base64, hexa = _detectors()
    out: list[tuple[str, str, bool]] = []
    for plugin in tokens if may_token else ():
        for found in _analyze(plugin, "mail.txt", line):
            value = str(found.secret_value or "")
            if len(value) < 12:
                value = _full_token(line, value)
            if found.type == "AWS Access Key":
                if _is_placeholder(value):
                    continue
                if _AWS_KEY_ID.fullmatch(value):
                    out.append(("an AWS access key ID", value, False))
                elif _random_looking(value):
                    out.append(("an AWS secret access key", value, False))
                continue
            if found.type == "Basic Auth Credentials" and (_is_placeholder(value) or len(value) < 6):
                continue
            what, conclusive = _TYPES.get(found.type, (f"a {found.type.replace(' Token', ' token')}", True))
            if found.type == "Private Key" or not _is_placeholder(value):
                out.append((what, value, conclusive))
    # Keyword assignments: quoted values as any file has them; unquoted ones (.env, YAML) only
    # when the value looks random, since prose has "key: value" everywhere.
    values: dict[str, bool] = {}
    if may_assign:
        values = {str(f.secret_value or ""): True for f in _analyze(keyword, "mail.txt", line)}
        values.update({str(f.secret_value or ""): False for f in _analyze(keyword, "settings.yaml", line) if f})
    for value, quoted in values.items():
        if not value or _is_placeholder(value) or re.search(r"[()\[\]{}$%]", value):
            continue
        entropic = any(
            str(f.secret_value) == value for f in _analyze(base64, "mail.txt", line) + _analyze(hexa, "mail.txt", line)
        )
        random_looking = entropic or _random_looking(value)
        if not quoted and not random_looking:
            continue
        if len(value) < 6:
            continue
        name = _NAME_BEFORE.search(line[: line.find(value)]) if value in line else None
        label = name.group(1) if name else "a name"
        what = f"a random-looking value assigned to {label}" if random_looking else f"a password assigned to {label}"
        out.append((what, value, False))
    return out


def find_secrets(text: str, read: Reading | None = None) -> list[tuple[str, str, bool]]:
    """(what, value, conclusive) for every secret-looking thing in ``text``, one per value."""
    read = Reading(text) if read is None else read
    found: list[tuple[str, str, bool]] = []
    for what, cue, pattern, conclusive in _LITERAL_TOKENS:
        if read.has(cue):
            found += [(what, m.group(0), conclusive) for m in pattern.finditer(text) if not _is_placeholder(m.group(0))]
    scanned: dict[str, list[tuple[str, str, bool]]] = {}  # a line repeated is scanned once
    for line in _cue_lines(text, read):
        if line not in scanned:
            scanned[line] = _scan_line(line)
        found += scanned[line]
    password_lines = _PASSWORD_LINE.finditer(text) if read.any_folded(_PASSWORD_CUES) else ()
    for match in password_lines:
        value = match.group(1).strip("\"'`;, ")
        if (
            len(value) >= 6
            and len(value.split()) == 1
            and not _is_placeholder(value)
            and not re.search(r"[()\[\]{}$%]", value)
        ):
            found.append(("a password", value, False))
    # One finding per value: the conclusive or most specific description wins.
    out: dict[str, tuple[str, str, bool]] = {}
    for what, value, conclusive in found:
        value = value.strip()
        earlier = out.get(value)
        if (
            earlier is None
            or (conclusive and not earlier[2])
            or (
                earlier[0].startswith(("a password", "a secret assigned", "a random-looking"))
                and not earlier[2]
                and not what.startswith(("a password", "a secret assigned", "a random-looking"))
            )
        ):
            out[value] = (what, value, conclusive)
    # a value found inside a longer one (a token's prefix, say) is the same secret
    values = sorted(out, key=len, reverse=True)
    kept = [v for i, v in enumerate(values) if not any(v in longer for longer in values[:i])]
    return [out[v] for v in kept]


class Secrets(Rule):
    id = "secrets"
    description = "Private keys, access tokens and passwords in the message or its attachments."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        found: list[tuple[str, str, str, bool]] = []
        for where, text in texts_in_time(message, context, self.id):
            found += [
                (what, where, mask(value), conclusive)
                for what, value, conclusive in find_secrets(text, reading(context, text))
            ]
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
