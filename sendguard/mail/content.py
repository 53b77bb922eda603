"""The words a message carries, as the content rules read them.

Answers once what every content rule asks (ARCHITECTURE.md, "Reading a message"): the text the
user wrote (``own_text``), what a git patch adds (``patch_text``), how a secret is shown
(``mask``), and every (where, text) pair to scan (``scan_texts``, cached per message).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from sendguard.lazy import cached_property


class LazyPattern:
    """A regular expression compiled when first used, not when its module is imported.

    The content rules are imported for every mail, but most mail never reaches most of their
    patterns (a salary table's name pattern, the placeholder list of secrets): compiling them
    all at import cost ~6 ms per mail (bench/profile_sendpath.py). Behaves as the compiled
    pattern: ``search``, ``finditer``, ``pattern`` and the rest are the compiled pattern's."""

    __slots__ = ("_compiled", "_flags", "_source")

    def __init__(self, source: str, flags: int = 0) -> None:
        self._source = source
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self._source, self._flags)
        return self._compiled

    def __getattr__(self, name: str) -> Any:
        return getattr(self.compiled(), name)


_CACHE_KEY = "content.scan-texts"
# The body is read up to here (attachments have their own budget in sendguard.mail.extract): a
# secret or an IBAN sits in what a person wrote, not after a megabyte of pasted log.
SCAN_CHARS = 1_000_000

_DIFF_START = re.compile(r"^(?:diff --git |Index: |--- (?:a/|/dev/null)|\+\+\+ b/|@@ -\d)", re.MULTILINE)
# Each start of a diff holds one of these: without any, the search (which tries every position
# of a multi-line text) is skipped. ("--- " alone is in much mail: rules, separators.)
_DIFF_CUES = ("diff --git ", "Index: ", "--- a/", "--- /dev/null", "+++ b/", "@@ -")
_PATCH_SUBJECT = re.compile(r"\[(?:[^\]]*\s)?(?:PATCH|RFC)\b", re.IGNORECASE)

_ATTRIBUTION = LazyPattern(
    r"^(?:"
    r"-{2,}\s*(?:Original(?:\s+Message)?|Urspr[üu]ngliche Nachricht|Original-Nachricht|Message d'origine"
    r"|Mensaje original|Oorspronkelijk bericht|Исходное сообщение|Forwarded message|Weitergeleitete Nachricht"
    r"|Message transféré|Mensaje reenviado|Doorgestuurd bericht|Пересылаемое сообщение)\s*-{2,}"
    r"|.{0,40}-{3,}\s*(?:Forwarded by|Weitergeleitet von)\b.{0,200}"  # Lotus Notes
    r"|Begin forwarded message:|Anfang der weitergeleiteten (?:E-Mail|Nachricht):"
    r"|On .{0,200} wrote:|Am .{0,200} schrieb .{0,200}:|Le .{0,200} a écrit\s*:|El .{0,200} escribió:"
    r"|Op .{0,200} schreef .{0,200}:|.{0,200} (?:пишет|написал\(а\)|написал):"
    r")\s*$",
    re.MULTILINE | re.IGNORECASE,
)
# Outlook puts the replied-to message under a "From: / Sent:" block instead of quoting it;
# Lotus Notes under "To: / cc: / Subject:".
_OUTLOOK_BLOCK = LazyPattern(
    r"^\s*(?:From|Von|De|Van|От)\s*:.*\n(?:.*\n){0,3}?\s*(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Verzonden|Отправлено)\s*:"
    r"|^\s*(?:To|An|À|Para|Aan|Кому)\s*:.*\n(?:.*\n){0,4}?\s*(?:Subject|Betreff|Objet|Asunto|Onderwerp|Тема)\s*:",
    re.MULTILINE | re.IGNORECASE,
)


def fold(text: str) -> str:
    """``text`` folded as ``re.IGNORECASE`` compares letters, for substring cues in front of an
    IGNORECASE pattern: whatever the pattern matches, folded, contains its folded literals.
    casefold alone misses the Turkish i's, which re matches for "i" ("ı" stays, "İ" becomes
    "i" plus a combining dot); the test checks every code point."""
    folded = text.casefold()
    if not folded.isascii():
        folded = folded.replace("ı", "i").replace("i\u0307", "i")
    return folded


# What a reading is asked: a cue in the text as it is, lower-cased, folded; a whole word; a word start.
_AS_IS, _LOWERED, _FOLDED, _WORD, _START = range(5)


class Reading:
    """One text as the rules read it, each reading done once, when first asked.

    Most of what the content rules ask of a text is whether it holds a cue (a substring
    search, ~5 us per cue over 10 kB, and they ask over a hundred). Here each cue is searched
    once per text however many rules ask, not at all when it is not ASCII and the text is (a
    test compares each answer with a search of the whole text). Every cue holds no line break.

    Once a long text has been asked a few cues, the rest are looked for in its distinct runs of
    word characters (``Runs``: a third of the text's length; a whole word is a set lookup, a
    word start the cue after a space, no scan of every occurrence): a cue of such characters is
    answered there, another is not in the text when one of its runs is not (``_cue``). A rule
    asks for its cues together (``which_lowered``, ``any_word_start``...): one loop.

    ``parts``: readings of texts that make up this one, joined by line breaks (the subject and
    the body of the text to scan). A cue holds no line break, so each answer is theirs.
    ``within``: readings of texts that hold each line of this one (a body, for the own text cut
    from it): when they answer by reading less than this text, a cue none of them holds is not
    in this text either (lower-cased: unless it holds a sigma, whose lower case depends on the
    letters around it).
    """

    # Building the runs costs about 20 searches of the text: done only for a long text asked
    # more than a few cues (the message body is asked ~150 by the content rules). Not for a very
    # long one: its set of runs would be held for the whole check (25 MB for a megabyte of
    # distinct words), where searching it costs about what building them would.
    RUNS_AFTER = 6
    RUNS_MIN_CHARS = 2_000
    RUNS_MAX_CHARS = 100_000

    def __init__(self, text: str, parts: tuple[Reading, ...] = (), within: tuple[Reading, ...] = ()) -> None:
        self.text = text
        self._parts = parts
        self._within = within
        self._ascii = text.isascii()
        self._known: tuple[dict[str, bool], ...] = ({}, {}, {}, {}, {})
        self._searches = 0
        # a short text of its own is searched each time it is asked: a search of it costs about
        # what keeping its answers would
        self._direct = not parts and not within and len(text) < self.RUNS_MIN_CHARS

    @cached_property
    def whole_folded(self) -> str:
        """The whole text folded, for the patterns that read it at every position (an ASCII
        text folds as it lower-cases: one copy for both)."""
        return self.whole_lowered if self._ascii else fold(self.text)

    @cached_property
    def whole_lowered(self) -> str:
        return self.text.lower()

    @cached_property
    def lowered_runs(self) -> Runs:
        """``Runs(whole_lowered)``."""
        return Runs(self.whole_lowered)

    @cached_property
    def folded_runs(self) -> Runs:
        """``Runs(whole_folded)`` (an ASCII text folds as it lower-cases)."""
        return self.lowered_runs if self._ascii else Runs(self.whole_folded)

    def _which(self, kind: int, cues: Iterable[str]) -> list[str]:
        """The cues the text holds (as ``kind`` asks), in their order; each answer kept (by the
        parts, for a text made of parts; not for a short text, searched again)."""
        cues = tuple(cues)
        if self._direct:
            return self._search(kind, cues)
        if self._parts:
            found = set()
            for part in self._parts:
                found.update(part._which(kind, cues))
            return [cue for cue in cues if cue in found]
        known = self._known[kind]
        new = [cue for cue in cues if cue not in known] if known else cues
        if new:
            found = self._find(kind, new)
            for cue in new:
                known[cue] = cue in found
        return [cue for cue in cues if known[cue]]

    def _search(self, kind: int, cues: tuple[str, ...]) -> list[str]:
        """The cues the text holds, each searched in the whole text."""
        if kind == _AS_IS:
            return [cue for cue in cues if cue in self.text]
        if kind == _FOLDED:
            folded = self.whole_folded
            return [cue for cue in cues if cue in folded]
        lowered = self.whole_lowered
        if kind == _LOWERED:
            return [cue for cue in cues if cue in lowered]
        whole = has_whole_word if kind == _WORD else _has_word_start
        return [cue for cue in cues if cue in lowered and whole(lowered, cue)]

    def _by_runs(self, count: int) -> bool:
        """Whether the runs answer (built, or worth building now that ``count`` more cues are asked)."""
        if "lowered_runs" in self.__dict__:
            return True
        self._searches += count
        return self._searches > self.RUNS_AFTER and self.RUNS_MIN_CHARS <= len(self.text) <= self.RUNS_MAX_CHARS

    def _cheaper_than(self, kind: int, size: int) -> bool:
        """Whether this reading answers ``kind`` by reading fewer than ``size`` characters (its
        text, or its runs when it has them), so asking it first is worth it."""
        if self._parts:
            return all(part._cheaper_than(kind, size) for part in self._parts)
        runs = self.__dict__.get("lowered_runs" if kind != _FOLDED or self._ascii else "folded_runs")
        return len(self.text) < size or (runs is not None and len(runs.joined) < size)

    def _find(self, kind: int, cues: list[str] | tuple[str, ...]) -> set[str]:
        if self._ascii:  # a non-ASCII cue is never in an ASCII text (lower-casing and folding keep it ASCII)
            cues = [cue for cue in cues if cue.isascii()]
        if kind == _WORD or kind == _START:
            return self._find_words(kind, cues)
        if self._within and all(outer._cheaper_than(kind, len(self.text)) for outer in self._within):
            sure = {cue for outer in self._within for cue in outer._which(kind, cues)}
            cues = [cue for cue in cues if cue in sure or (kind == _LOWERED and ("σ" in cue or "ς" in cue))]
        if not cues:
            return set()
        if not self._by_runs(len(cues)):
            text = self.text if kind == _AS_IS else self.whole_lowered if kind == _LOWERED else self.whole_folded
            return {cue for cue in cues if (_CUES.get(cue) or _cue(cue))[5] in text and cue in text}
        out = set()
        if kind == _AS_IS:
            # an ASCII cue in the text is its lower-cased self in the lower-cased text
            joined = self.lowered_runs.joined
            for cue in cues:  # its rarest character first: one memchr, against a search per run
                if _cue(cue)[5] in self.text and (not cue.isascii() or _in_runs(_cue(cue.lower()), joined)):
                    if cue in self.text:
                        out.add(cue)
            return out
        joined = (self.lowered_runs if kind == _LOWERED else self.folded_runs).joined
        text = self.whole_lowered if kind == _LOWERED else self.whole_folded
        for cue in cues:
            found = _CUES.get(cue) or _cue(cue)
            if found[3]:
                if found[4] in joined and found[0] in joined:
                    out.add(cue)
            elif found[5] in text and _in_runs(found, joined) and cue in text:
                out.add(cue)
        return out

    def _find_words(self, kind: int, cues: list[str] | tuple[str, ...]) -> set[str]:
        """Which of ``cues`` stand in the lower-cased text as a whole word or at a word start."""
        out = set()
        rest = cues
        if self._by_runs(len(cues)):
            # a run that is the cue is a whole word (that starts with it, a word start); in an
            # ASCII text the runs are the words, elsewhere a miss is read again
            runs = self.lowered_runs
            again = not self._ascii
            rest = []
            words, joined = runs.words, runs.joined
            starts = _word_starts(cues, joined) if kind == _START and len(cues) >= _STARTS_AT_ONCE else None
            for cue in cues:
                found = _CUES.get(cue) or _cue(cue)
                if not found[3]:
                    rest.append(cue)
                elif (
                    found[0] in words
                    if kind == _WORD
                    else cue in starts
                    if starts is not None
                    else found[4] in joined and found[1] in joined
                ):
                    out.add(cue)
                elif again:
                    rest.append(cue)
        for cue in self._which(_LOWERED, rest):
            if (has_whole_word if kind == _WORD else _has_word_start)(self.whole_lowered, cue):
                out.add(cue)
        return out

    def _has(self, kind: int, cue: str) -> bool:
        found = self._known[kind].get(cue)
        return bool(self._which(kind, (cue,))) if found is None else found

    def has(self, cue: str) -> bool:
        """``cue in text``."""
        return self._has(_AS_IS, cue)

    def has_folded(self, cue: str) -> bool:
        """``cue in fold(text)``."""
        return self._has(_FOLDED, cue)

    def has_lowered(self, cue: str) -> bool:
        """``cue in text.lower()``."""
        return self._has(_LOWERED, cue)

    def has_word(self, cue: str) -> bool:
        """``cue`` in ``text.lower()`` with no letter, digit or "_" on either side."""
        return self._has(_WORD, cue)

    def has_word_start(self, cue: str) -> bool:
        """``cue`` in ``text.lower()`` with no letter, digit or "_" just before it (a word starts there).

        What a pattern with ``\\b`` before its cue needs: "hange" in "change" is no German "hänge"."""
        return self._has(_START, cue)

    def which_folded(self, cues: Iterable[str]) -> list[str]:
        """The cues in ``fold(text)``, in their order."""
        return self._which(_FOLDED, cues)

    def which_lowered(self, cues: Iterable[str]) -> list[str]:
        """The cues in ``text.lower()``, in their order."""
        return self._which(_LOWERED, cues)

    def any(self, cues: Iterable[str]) -> bool:
        return bool(self._which(_AS_IS, cues))

    def any_folded(self, cues: Iterable[str]) -> bool:
        return bool(self._which(_FOLDED, cues))

    def any_lowered(self, cues: Iterable[str]) -> bool:
        return bool(self._which(_LOWERED, cues))

    def any_word(self, cues: Iterable[str]) -> bool:
        return bool(self._which(_WORD, cues))

    def any_word_start(self, cues: Iterable[str]) -> bool:
        return bool(self._which(_START, cues))

    @cached_property
    def diff_start(self) -> re.Match[str] | None:
        """Where the first diff of a git patch starts, if any (``diff_start``)."""
        return _DIFF_START.search(self.text) if self.any(_DIFF_CUES) else None


# Word characters as re's \\w reads them in ASCII (letters, digits, "_") and every byte of a
# non-ASCII character (which may or may not be one) stay; every other byte becomes a space.
_RUN_BYTES = bytes(
    b if b >= 128 or b == 95 or 48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122 else 32 for b in range(256)
)
_CUES: dict[str, tuple[bytes, bytes, tuple[bytes, ...], bool, bytes, str]] = {}
# ASCII characters from the most to the least frequent in mail (roughly; anything else is rarer):
# a cue is looked for by its rarest character first, which memchr finds or misses in a fraction
# of the time a search for the whole cue takes.
_FREQUENT = " etaoinsrhldcumfpgwybv,.kx-'jq\nz0123456789ETAOINSRHLDCUMFPGWYBVKXJQZ:;()/!?\"_@+=*&%$#[]{}<>|\\^`~\t"
_RANK = {ord(c): i for i, c in enumerate(_FREQUENT)}


class Runs:
    """A text's distinct runs of word characters and non-ASCII characters (UTF-8), each once:
    as a set (``words``) and between spaces (``joined``, b" run run ... "). Translated, split and
    joined in C, ~20 searches of the text.

    A cue made of such characters is in the text exactly when it is in one run, so exactly when
    it is in ``joined``. In an ASCII text the runs are its words (maximal ``\\w+``): the cue is a
    whole word exactly when it is in ``words``, starts a word exactly when b" cue" is in
    ``joined``. In other text a run may hold a character that is no word character ("’", a
    non-breaking space), so there a hit says yes and a miss is read again."""

    __slots__ = ("joined", "words")

    def __init__(self, text: str) -> None:
        self.words = set(text.encode("utf-8", "surrogatepass").translate(_RUN_BYTES).split())
        self.joined = b" " + b" ".join(self.words) + b" "


def _cue(cue: str) -> tuple[bytes, bytes, tuple[bytes, ...], bool, bytes, str]:
    """(the cue in UTF-8, after a space, its runs as ``joined`` shows them, whether it is one run,
    its rarest byte, its rarest character): each run of a cue is in the runs of a text that holds
    the cue, and one the cue has a separator before starts a run there (" run" is in ``joined``),
    one it has a separator after ends one ("run "); a cue that is one run is ``(data,)`` there; a
    text without one of the cue's characters has no cue."""
    found = _CUES.get(cue)
    if found is None:
        data = cue.encode("utf-8", "surrogatepass")
        spaced = data.translate(_RUN_BYTES)  # a separator is ASCII: where it is, a run starts or ends
        pieces = tuple(spaced.split())
        shown = tuple(
            b" " * (run.start() > 0) + run.group() + b" " * (run.end() < len(spaced))
            for run in re.finditer(rb"[^ ]+", spaced)
        )
        rare_byte = bytes([max(data, key=lambda b: _RANK.get(b, 1000))]) if data else b""
        rare_char = max(cue, key=lambda c: _RANK.get(ord(c), 1000)) if cue else ""
        found = _CUES[cue] = (data, b" " + data, shown, pieces == (data,), rare_byte, rare_char)
    return found


def _in_runs(cue: tuple[bytes, bytes, tuple[bytes, ...], bool, bytes, str], joined: bytes) -> bool:
    """Whether each run of the cue (``_cue``) stands in ``joined`` as the cue shows it."""
    for piece in cue[2]:
        if piece not in joined:
            return False
    return True


# From this many cues on, word starts are looked for with one pattern of them all (_word_starts).
_STARTS_AT_ONCE = 8
_START_PATTERNS: dict[tuple[str, ...], re.Pattern[bytes]] = {}


def _word_starts(cues: Iterable[str], joined: bytes) -> set[str]:
    """Which of ``cues`` that are one run start a run of ``joined`` (b" " + cue is in it), in one
    pass: a pattern of them all after a space, the longest first, reports at each space the
    longest cue there, and every other cue there starts it. (A cue holds no space, so no match
    hides another.) The cues are grouped by their first byte (all cues found at one place share
    it), so each space tries a few groups, not every cue."""
    cues = tuple(cue for cue in cues if (_CUES.get(cue) or _cue(cue))[3])
    pattern = _START_PATTERNS.get(cues)
    if pattern is None:
        if len(_START_PATTERNS) >= 32:
            _START_PATTERNS.clear()
        groups: dict[bytes, list[bytes]] = {}
        for data in sorted({_cue(cue)[0] for cue in cues}, key=len, reverse=True):
            groups.setdefault(data[:1], []).append(re.escape(data[1:]))
        alternatives = b"|".join(re.escape(first) + b"(?:" + b"|".join(rest) + b")" for first, rest in groups.items())
        pattern = _START_PATTERNS[cues] = re.compile(b" (?:" + alternatives + b")")
    found = set(pattern.findall(joined))
    if not found:
        return set()
    return {cue for cue in cues if any(hit.startswith(_cue(cue)[1]) for hit in found)}


def has_whole_word(lowered: str, cue: str) -> bool:
    """``cue`` in the lower-cased text ``lowered`` with no letter, digit or "_" on either side."""
    at = lowered.find(cue)
    while at >= 0:
        before = lowered[at - 1 : at] if at else ""
        after = lowered[at + len(cue) : at + len(cue) + 1]
        if not (before and (before.isalnum() or before == "_")) and not (after and (after.isalnum() or after == "_")):
            return True
        at = lowered.find(cue, at + 1)
    return False


def _has_word_start(lowered: str, cue: str) -> bool:
    at = lowered.find(cue)
    while at >= 0:
        if not at:
            return True
        before = lowered[at - 1]
        if not (before.isalnum() or before == "_"):
            return True
        at = lowered.find(cue, at + 1)
    return False


_READINGS_KEY = "content.readings"


def _readings(context: Any) -> dict[str, Reading]:
    readings = context.cache.get(_READINGS_KEY)
    if readings is None:
        readings = context.cache[_READINGS_KEY] = {}
    return readings  # type: ignore[no-any-return]


def reading(context: Any, text: str) -> Reading:
    """The shared reading of one of the message's texts (its body, a text to scan), made once per
    check and text, kept in the check's scratch space (let go when the check ends)."""
    readings = _readings(context)
    found = readings.get(text)
    if found is None:
        found = readings[text] = Reading(text)
    return found


def mask(secret: str) -> str:
    """First and last character only; nothing of a short secret."""
    secret = secret.strip()
    if len(secret) < 6:
        return "…"
    return f"{secret[0]}…{secret[-1]}"


def diff_start(text: str) -> re.Match[str] | None:
    """Where the first diff of a git patch starts, if any."""
    if not any(cue in text for cue in _DIFF_CUES):
        return None
    return _DIFF_START.search(text)


def looks_like_patch(text: str, subject: str = "", read: Reading | None = None) -> bool:
    first = diff_start(text) if read is None else read.diff_start
    return bool(first) or bool(_PATCH_SUBJECT.search(subject))


def own_text(text: str) -> str:
    """The part of a body the sender wrote: no quotes, no signature, no forwarded message."""
    cut = len(text)
    for pattern in (_ATTRIBUTION, _OUTLOOK_BLOCK):
        match = pattern.search(text)
        if match:
            cut = min(cut, match.start())
    signature = re.search(r"^-- ?\r?$", text, re.MULTILINE)
    if signature:
        cut = min(cut, signature.start())
    lines = [line for line in text[:cut].splitlines() if not line.lstrip().startswith((">", "|"))]
    return "\n".join(lines)


def patch_text(text: str) -> str:
    """Prose before the first diff, plus the lines the diff adds."""
    first = diff_start(text)
    if not first:
        return text
    added = [
        line[1:] for line in text[first.start() :].splitlines() if line.startswith("+") and not line.startswith("+++ ")
    ]
    return text[: first.start()] + "\n" + "\n".join(added)


def scan_texts(message: Any, context: Any) -> list[tuple[str, str]]:
    """(where, text) for the body and each readable attachment; once per message."""
    cached = context.cache.get(_CACHE_KEY)
    if cached is not None:
        return list(cached)
    body = message.body_text[:SCAN_CHARS]
    if reading(context, body).diff_start:
        body = patch_text(body)
    # The subject travels too ("Erstattung auf DE89 3704 …", "new token ghp_…"), and it is the
    # heading of the text: "Gehälter 2026" above a bare table of names and amounts.
    text = f"{message.subject}\n\n{body}" if message.subject else body
    if text is not body:
        # its cues are answered by the body's reading, which the other rules share
        _readings(context).setdefault(
            text, Reading(text, parts=(reading(context, message.subject), reading(context, body)))
        )
    out = [("the message text", text)]
    if message.attachments:
        from sendguard.mail.extract import attachment_texts

        for item in attachment_texts(message, context):
            text = patch_text(item.text) if diff_start(item.text) else item.text
            out.append((f"the attachment {item.name}", text))
    context.cache[_CACHE_KEY] = tuple(out)
    return out


def texts_in_time(message: Any, context: Any, rule_id: str) -> Iterator[tuple[str, str]]:
    """``scan_texts``, stopped at the check's deadline: a rule scanning five megabytes of text
    takes ~0.5 s, so the deadline is looked at before each text, not only before each rule.
    What is left unscanned is a problem of the message (held as unreadable)."""
    import time

    texts = scan_texts(message, context)
    for index, item in enumerate(texts):
        if time.monotonic() > context.deadline:
            message.problem(
                f"too large or complex to read fully: {rule_id} checked {index} of {len(texts)} texts "
                "within the time budget"
            )
            return
        yield item


def shannon_entropy(value: str) -> float:
    """Bits per character: random tokens score high, words and repeated characters low."""
    import math
    from collections import Counter

    if not value:
        return 0.0
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())
