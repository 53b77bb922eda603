"""Shortcuts in reading a message's text (line prefilters, shared per-message analysis) must
give exactly what the plain reading gives: checked against the plain reading with hypothesis."""

from __future__ import annotations

import re
import sys

import pytest
from detect_secrets.plugins.keyword import DENYLIST as KEYWORD_DENYLIST
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sendguard.mail import quoted
from sendguard.mail.content import fold

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVERY_CHAR = "".join(map(chr, range(sys.maxunicode + 1)))


def assert_folding_finds(words) -> None:
    """Every character a case-insensitive pattern for these words matches folds as the word's own
    letter does, so a search of the folded text finds what the pattern would."""
    for letter in sorted(set("".join(words))):
        for matched in re.findall(re.escape(letter), EVERY_CHAR, re.IGNORECASE):
            assert fold(matched) == fold(letter), (letter, matched)


def quoted_people_everywhere(body: str) -> quoted.QuotedPeople:
    """quoted.quoted_people with every pattern tried on every line."""
    from sendguard.mail.greetings import has_quote_marker

    out = quoted.QuotedPeople()
    text = body[: quoted.MAX_SCAN_CHARS]
    if "@" not in text and ">" not in text and not has_quote_marker(text):
        return out
    pats = quoted._patterns()
    out.addresses = {a.lower().strip(".") for a in pats["addr"].findall(text)}
    block = 0
    in_header = False
    headed = False
    previous = ""
    for line in text.splitlines():
        if pats["marker"].match(line):
            if block == 0 or headed:
                block += 1
                headed = False
            in_header = True
            previous = ""
            continue
        m = pats["notes_on"].match(line) or pats["notes_date"].match(line)
        given = m.groupdict().get("v") if m else None
        if m and ((given is None and quoted._looks_like_name(previous)) or (given and (block or in_header))):
            value = given or previous
            found = pats["addr"].search(value)
            who = quoted.person(re.sub(r'<[^>]*>|"', " ", re.sub(r"^\s*from:\s*", "", value, flags=re.IGNORECASE)))
            block = block or 1
            if found and block <= 1 and not out.author_addr:
                out.author_addr = found.group(0).lower().strip(".")
            if who:
                quoted._add_author(out, who, block)
            headed = True
            in_header = True
            previous = ""
            continue
        m = pats["wrote"].match(line)
        if m is None and quoted._wrapped_attribution(line, previous):
            m = pats["wrote_tail"].match(line)
        if m:
            block += 1
            who = quoted.person(m.group("v"))
            if who:
                quoted._add_author(out, who, block)
            headed = True
            in_header = False
            continue
        m = pats["from"].match(line)
        if m and (block or in_header):
            value = pats["dated"].sub("", m.group("v"))  # Notes: "From:  Name      01/17/2001 08:11 AM"
            who = quoted.person(value)
            found = pats["addr"].search(value)
            if found and block <= 1 and not out.author_addr:
                out.author_addr = found.group(0).lower().strip(".")
            if block == 0:
                block = 1
            if who:
                quoted._add_author(out, who, block)
            headed = True
            in_header = True
            continue
        m = pats["to"].match(line)
        if m and in_header:
            for name in quoted.split_names(m.group("v")):
                who = quoted.person(name)
                if who:
                    (out.addressees if block <= 1 else out.others).append(who)
            headed = True
            continue
        m = pats["lotus"].match(line)
        if m and block:
            who = quoted.person(m.group("v"))
            if who:
                quoted._add_author(out, who, block)
            headed = True
            continue
        if not line.replace(">", "").strip() and in_header:
            in_header = False
        if line.strip():
            previous = line
    return out


def test_line_prefilters_know_every_character_the_patterns_accept():
    # ^\s* is str.isspace, as lstrip reads it; \w is str.isalnum or "_"
    assert re.findall(r"\s", EVERY_CHAR) == [c for c in EVERY_CHAR if c.isspace()]
    assert re.findall(r"[\w.+'@-]", EVERY_CHAR) == [c for c in EVERY_CHAR if quoted._in_address(c)]
    # the attribution's first words, case-insensitively, start with no other letters
    assert set(re.findall(r"[oale]", EVERY_CHAR, re.IGNORECASE)) <= quoted.WROTE_FIRST
    # and its verbs, folded, are found in the folded line
    assert_folding_finds(quoted.WROTE_WORDS)


QUOTED_LINES = st.sampled_from(
    [
        "",
        "  ",
        "\u3000",
        "Hi Anna,",
        "-----Original Message-----",
        " ___________________ ",
        "-- Weitergeleitete Nachricht --",
        "From: Berger, Markus [mailto:m.berger@nordwerk.example]",
        "Von: Jana Roth <j.roth@x.example>",
        "> From: Tim Kohl",
        ">  -----Original Message-----",
        "> ",
        ">",
        "--------- Inline attachment follows ---------",
        "From:  <a@b.example>",
        "From:  Anna Berger <a.berger@x.example>@ACME",
        "Sent: Monday",
        "To: Anna Schmidt; Tim Kohl",
        "Cc: a@b.example",
        "An: Jana Roth, Tim Kohl",
        "On Mon, 4 Dec 2026, Markus Berger <m@b.example> wrote:",
        "Am 4.12.2026 schrieb Jana Roth:",
        "  Le 4 déc. Pierre Martin a écrit :",
        "El lunes, Ana García escribió:",
        "op maandag schreef Jan de Vries",
        "John Smith/ACME/US@ACME",
        "and so on: the plan",
        "Let me know",
        "path/to@file",
        "the Falke rollout is on track",
        "mail m.berger@nordwerk.example, j.roth@x.example. or @@a@b.c-d.e",
        "ON Monday SCHRIEB JANA ROTH:",
        "on jan 3 tim wrote",
        "Op 3 jan schreef ıngrid:",
        "On Mon, 4 Dec 2026 at 10:00, ",
        "Suresh Jayaraman <sj@x.example> wrote:",
        "Anna Berger wrote:",
        "As Tim wrote:",
        "---------------------- Forwarded by Peter F Keavey/HOU/ECT on 05/14/2001 07:49 AM ---------------------------",
        "sandra delgado <s.delgado@y.example> on 05/11/2001 04:28:09 PM",
        "From:\tRichard Causey/ENRON@enronXgate on 08/23/2001 08:52 AM",
        "Michael Tribolet",
        "12/13/2000 09:51 AM",
        "From:  Rick Buy",
        "call me on 12/13/2000 10:00 AM",
    ]
)
QUOTED_TEXT = st.lists(st.one_of(QUOTED_LINES, st.text(max_size=12)), max_size=30).map("\n".join)


@FAST
@given(QUOTED_TEXT)
def test_quoted_people_are_those_of_trying_every_line(text):
    assert quoted.quoted_people(text) == quoted_people_everywhere(text)


@FAST
@given(
    st.lists(st.one_of(st.sampled_from(["@", ".", "a", "-", " ", "é", "x.y", "_"]), st.text(max_size=4)), max_size=40)
)
def test_addresses_are_those_of_a_scan_of_the_whole_text(pieces):
    text = "".join(pieces)
    assert quoted.find_addresses(text) == quoted._patterns()["addr"].findall(text)


def _all_cues() -> list[str]:
    from sendguard.mail import content
    from sendguard.rules import forgotten_attachment as fa
    from sendguard.rules import internal_to_outside as ito
    from sendguard.rules import secrets
    from sendguard.rules import sensitive_data as sd

    literal = [cue for _, cue, _, _ in secrets._LITERAL_TOKENS]
    return sorted(
        {
            *secrets._CUES,
            *secrets._PASSWORD_CUES,
            *literal,
            *sd.KEYWORD_CUES,
            *sd.SALARY_WORDS,
            *ito.MARKER_CUES,
            *ito.BOILERPLATE,
            *fa.CUES,
            *content._DIFF_CUES,
        }
    )


CUES = _all_cues()
LINES = st.sampled_from(
    [
        "the Falke rollout is on track",
        "PASSWORD: Hunter2",
        "ſecret İNTERN Gehälter",
        "Пароль и конфиденциально",
        "companies nie (nie) c.f. NHS",
        "diff --git a/x b/x",
        "@@ -1,2 +1,2 @@",
        "--- a/x",
        "anbei das Angebot, see attached",
        "exchange rates change; join us",
        "intended recipient",
        "ΣΟΦΟΣ",
        "ΟΣ ΣΟΦΟΣ σοφός",
        "x’anbei’ key\u00a0secret_ the_nhs",
        "—intern— «cpr» naïve·token ĸey",
        "",
    ]
)
BREAKS = st.sampled_from(["\n", "\n", "\r\n", "\r", "\x85", "\u2028", " ", "\n\n"])
CUE_TEXT = st.lists(st.tuples(st.one_of(LINES, st.text(max_size=10)), BREAKS), max_size=25).map(
    lambda pairs: "".join(line + brk for line, brk in pairs)
)


def test_no_cue_holds_a_line_break():
    assert not [cue for cue in CUES if "\n" in cue]


DIFF_LINES = st.sampled_from(
    ["--- a/x", "--- /dev/null", "---", "--- ", "-- -", "+++ b/x", "@@ -1 +1 @@", "@@ -x", "Index: a", "diff --git a"]
)


@FAST
@given(st.lists(st.tuples(st.one_of(DIFF_LINES, LINES, st.text("-+@/ab \nId:x", max_size=8)), BREAKS)))
def test_every_start_of_a_diff_holds_a_diff_cue(pairs):
    from sendguard.mail import content

    text = "".join(line + brk for line, brk in pairs)
    first = content._DIFF_START.search(text)
    assert (content.diff_start(text) and content.diff_start(text).span()) == (first and first.span())


def _readings(text):
    """A reading as the rules get it, one that answers every cue it can from the text's runs,
    one of the text's parts (split at its first line break) and one within the text and more."""
    from sendguard.mail.content import Reading

    class ByRuns(Reading):
        RUNS_AFTER = 0
        RUNS_MIN_CHARS = 0

    head, _, tail = text.partition("\n")
    parts = (ByRuns(head), Reading(tail)) if "\n" in text else (Reading(text),)
    return (
        Reading(text),
        ByRuns(text),
        Reading(text, parts=parts),
        Reading(text, within=(always_asked(text + "\nΣ x", runs=True),)),
        ByRuns(text, within=(always_asked("nie " + text),)),
    )


def always_asked(text, runs=False):
    """A reading that a reading within its text always asks first (however long it is)."""
    from sendguard.mail.content import Reading

    class Asked(Reading):
        RUNS_AFTER = 0 if runs else Reading.RUNS_AFTER
        RUNS_MIN_CHARS = 0 if runs else Reading.RUNS_MIN_CHARS

        def _cheaper_than(self, kind, size):
            return True

    return Asked(text)


@FAST
@given(CUE_TEXT, st.integers(0, 40), st.integers(0, 40))
def test_a_reading_within_a_text_answers_as_a_search_of_its_own(text, start, length):
    """A piece of each line (as own_text or a paragraph cut them) read within the whole text."""
    from sendguard.mail.content import Reading

    piece = "\n".join(line[start % (len(line) + 1) :][:length] for line in text.split("\n"))
    _answers_as_a_search(Reading(piece, within=(always_asked(text),)), piece)
    _answers_as_a_search(Reading(piece, within=(always_asked(text, runs=True),)), piece, together=True)
    _answers_as_a_search(Reading(piece, within=(Reading(text),)), piece)


def test_no_boilerplate_word_holds_a_sigma():
    from sendguard.rules import internal_to_outside as ito

    # a paragraph lower-cases as its part of the text does, but for the sigma
    assert not [w for w in ito.BOILERPLATE if "σ" in w or "ς" in w]


@FAST
@given(CUE_TEXT)
@example("x’anbei’ key\u00a0secret_ intern—confidential attach-\nmentions ß nhs")
@example("ΣΟΦΟΣ nie\tnif NHS\u2028nhs")
def test_a_reading_answers_as_a_search_of_the_whole_text(text):
    for read in _readings(text):
        _answers_as_a_search(read, text)
    for read in _readings(text):
        _answers_as_a_search(read, text, together=True)


# Cues glued to what may or may not be a word character, in and out of ASCII.
GLUED_TEXT = st.lists(
    st.one_of(
        st.sampled_from(CUES),
        st.sampled_from([" ", "\n", "_", "1", "a", "é", "’", "\u00a0", "—", "·", "ß", "İ", "K", "-", ".", "Σ"]),
        st.text(max_size=3),
    ),
    max_size=40,
).map("".join)


@FAST
@given(GLUED_TEXT)
def test_a_reading_answers_as_a_search_where_cues_touch_other_characters(text):
    for read in _readings(text):
        _answers_as_a_search(read, text)
    for read in _readings(text):
        _answers_as_a_search(read, text, together=True)


def _answers_as_a_search(read, text, together=False):
    from sendguard.mail.content import diff_start, has_whole_word

    lowered, folded = text.lower(), fold(text)
    if together:  # all cues asked at once, as the rules ask them, before one by one
        assert read.which_lowered(CUES) == [cue for cue in CUES if cue in lowered]
        assert read.which_folded(CUES) == [cue for cue in CUES if cue in folded]
        assert read.any(CUES) == any(cue in text for cue in CUES)
        assert read.any_word(CUES) == any(has_whole_word(lowered, cue) for cue in CUES)
        assert read.any_word_start(CUES) == any(re.search(r"(?<!\w)" + re.escape(cue), lowered) for cue in CUES)
    assert read.whole_lowered == lowered
    assert read.whole_folded == folded
    for cue in CUES:
        assert read.has(cue) == (cue in text), cue
        assert read.has_lowered(cue) == (cue in lowered), cue
        assert read.has_folded(cue) == (cue in folded), cue
        assert read.has_word(cue) == has_whole_word(lowered, cue), cue
        assert read.has_word_start(cue) == bool(re.search(r"(?<!\w)" + re.escape(cue), lowered)), cue
    first = diff_start(text)
    assert (read.diff_start and read.diff_start.span()) == (first and first.span())


@FAST
@given(CUE_TEXT)
def test_boilerplate_is_left_out_as_paragraph_by_paragraph(text):
    from sendguard.rules import internal_to_outside as ito

    body = text.split("\n-- \n", 1)[0]
    plain = "\n\n".join(p for p in body.split("\n\n") if not any(w in p.lower() for w in ito.BOILERPLATE))
    assert ito.without_boilerplate(text) == plain


@FAST
@given(CUE_TEXT, CUE_TEXT)
def test_the_recipient_model_reads_the_words_of_the_whole_text(subject, body):
    from sendguard.history.fit import MessageView
    from sendguard.mail.greetings import MAX_BODY_CHARS, MAX_WORDS, distinct_words, letter_runs

    class Message:
        def __init__(self) -> None:
            self.subject, self.body_text = subject, body

    view = MessageView(Message(), [])
    runs = letter_runs(body[:MAX_BODY_CHARS].lower(), 2)
    assert view.tokens == set(runs)
    subject_runs = letter_runs(subject.lower(), 3)
    assert view.words == distinct_words(subject_runs + [r for r in runs if len(r) >= 3], MAX_WORDS)


GREETING_TEXT = st.lists(
    st.one_of(
        st.sampled_from(
            ["Hi Anna,", "", "  ", "> quoted", "| table", "On Mon, Tim wrote:", "-----Original Message-----"]
        ),
        LINES,
        st.text(max_size=10),
    ),
    max_size=12,
).map("\n".join)


@FAST
@given(GREETING_TEXT, st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=3))
def test_opening_lines_are_those_of_the_own_text(text, max_chars, count):
    from sendguard.mail import greetings

    plain = [line.strip() for line in greetings.own_text(text, max_chars).splitlines() if line.strip()]
    assert greetings._opening_lines(text, max_chars, count) == plain[:count]


@FAST
@given(GREETING_TEXT)
def test_quote_markers_are_found_line_by_line(text):
    from sendguard.mail import greetings

    plain = any(greetings.is_quote_marker(line.strip()) for line in text.splitlines())
    assert greetings.has_quote_marker(text) == plain


@pytest.mark.parametrize("atom", KEYWORD_DENYLIST)
def test_every_word_of_the_keyword_plugin_holds_one_of_the_screens_words(atom):
    from sendguard.mail.content import fold
    from sendguard.rules import secrets

    @FAST
    @given(st.from_regex(re.compile(atom, re.IGNORECASE), fullmatch=True))
    def check(text: str) -> None:
        assert any(word in fold(text) for word in secrets.KEYWORD_WORDS), text

    check()


def test_the_screens_keyword_words_are_found_however_they_are_written():
    from sendguard.rules import secrets

    assert_folding_finds(secrets.KEYWORD_WORDS)


ASSIGNMENTS = st.sampled_from(
    [
        "password",
        "PASSWORD",
        "api_key",
        "db_pass",
        "Contraseña",
        "secret",
        "pwd",
        "token",
        "auth",
        " = ",
        "=",
        "==",
        "!=",
        ":",
        " := ",
        "=>",
        ";",
        '"',
        "'",
        "`",
        "[]",
        "Xk9fQ2pL7vB3",
        "hunter2hunter2",
        "(",
        " ",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(ASSIGNMENTS, st.text(max_size=5)), max_size=12).map("".join))
@example('private_key "Xk9fQ2pL7vB3";')
@example("'hunter2hunter2' == password")
@example('PASSWORD: "hunter2hunter2"')
@example("db_pass=Xk9fQ2pL7vB3")
def test_keyword_lines_skipped_hold_nothing_the_plugin_finds(line):
    from unittest.mock import patch

    from sendguard.rules import secrets

    with patch.object(secrets, "_may_assign_keyword", lambda line: True):
        everything = secrets._scan_line(line)
    assert secrets._scan_line(line) == everything


def asked(found, words):
    """Each id's counts of ``words`` (a kept store's dicts hold what was asked before too)."""
    return {i: {w: n for w, n in counts.items() if w in words} for i, counts in found.items()}


def test_a_read_only_store_keeps_its_lookups_and_answers_as_sqlite(tmp_path):
    """The kept word, name and pair lookups answer as the queries do, in the same order."""
    import random

    from sendguard.history.store import HistoryStore, open_read_only
    from tests.support import history_fixtures as hf

    state = hf.learned_state(tmp_path)
    kept = open_read_only(state)
    plain = HistoryStore(kept.db)
    words = [r[0] for r in kept.db.execute("SELECT word FROM vocab")] + ["zzz", "anna", "falke"]
    ids = [r[0] for r in kept.db.execute("SELECT id FROM contacts")] + [10_000]
    assert kept._kept is not None and plain._kept is None
    rng = random.Random(7)
    for _ in range(40):
        some = rng.sample(words, min(len(words), rng.randint(1, 30)))
        some_ids = rng.sample(ids, min(len(ids), rng.randint(1, 6)))
        others = rng.sample(ids, min(len(ids), rng.randint(1, 4)))
        assert list(kept.vocab(some).items()) == list(plain.vocab(some).items())
        assert kept.known_first_names(some) == plain.known_first_names(some)
        assert asked(kept.contact_words(some_ids, some), some) == asked(plain.contact_words(some_ids, some), some)
        assert kept.pair_counts(some_ids, others) == plain.pair_counts(some_ids, others)


def test_a_changed_history_is_read_again_on_the_same_connection(tmp_path):
    """A store is replaced when its file changes; the new one reads the change through the old
    connection (no schema to read again), and through a new one once the file is another."""
    import shutil
    import sqlite3

    from sendguard.history.store import open_read_only, path_in
    from tests.support import history_fixtures as hf

    state = hf.learned_state(tmp_path)
    first = open_read_only(state)
    assert first is not None and first.contact("neu@kunde.example") is None
    hf.learn_into(state, [hf.mail(["neu@kunde.example"], "Angebot", "Hallo,\n\nanbei das Angebot.\n", n=99)])
    second = open_read_only(state)
    assert second is not first and second.db is first.db
    assert second.contact("neu@kunde.example").sent == 1
    assert open_read_only(state) is second  # unchanged since

    path = path_in(state)
    checkpoint = sqlite3.connect(path)
    checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    checkpoint.close()
    shutil.copy(path, tmp_path / "copy.sqlite")
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    (tmp_path / "copy.sqlite").replace(path)  # another file under the same name
    third = open_read_only(state)
    assert third is not None and third.db is not second.db
    assert third.contact("neu@kunde.example").sent == 1


def test_a_sigma_lower_cases_by_its_neighbours_so_within_does_not_answer_for_it():
    from sendguard.mail.content import Reading

    # "ΑΣ" lower-cases to "ας" (a final sigma), its piece "Σ" to "σ"
    assert Reading("Σ", within=(always_asked("ΑΣ"),)).has_lowered("σ")


def test_a_very_long_text_is_searched_without_runs():
    from sendguard.mail.content import Reading

    text = " ".join(f"w{i:x}" for i in range(Reading.RUNS_MAX_CHARS // 4)) + " the_nhs nie"
    read = Reading(text)
    assert read.any_lowered([f"q{i}" for i in range(20)]) is False
    assert read.has_word("nie") and not read.has_word("nhs") and read.has_lowered("nhs")
    assert "lowered_runs" not in read.__dict__  # no set of runs held for the whole check


@FAST
@given(
    st.lists(st.text(alphabet="ab\u00e9_1", min_size=1, max_size=4), max_size=12),
    st.lists(st.text(alphabet="ab\u00e9_1 .", max_size=4), max_size=14),
)
def test_word_starts_found_at_once_are_those_found_one_by_one(runs, cues):
    from sendguard.mail.content import Runs, _cue, _word_starts

    joined = Runs(" ".join(runs)).joined
    assert _word_starts(cues, joined) == {cue for cue in cues if _cue(cue)[3] and _cue(cue)[1] in joined}
