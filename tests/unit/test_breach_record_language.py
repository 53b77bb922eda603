"""The breach-register record follows the drafts' language choice (the message's language:
Content-Language, else its words): German mail gets a German record, English mail an English
one. The JSON keys, figures, times and addresses are the same in both."""

from __future__ import annotations

import pytest

from sendguard.act import queue as q
from sendguard.config import schema as config_mod
from sendguard.recover.breach_record import build_record, record_text
from sendguard.recover.breach_texts import RECORD_TEXTS
from sendguard.recover.oops import oops
from tests.conftest import make_message

NOW = 1795770000.0  # 2026-11-27 09:00 UTC

GERMAN = (
    "Sehr geehrte Frau Berg,\n\nanbei die Preise für das Projekt Falke. Bitte geben Sie mir "
    "Bescheid.\n\nMit freundlichen Grüßen\nDaniel Wolff\n"
)
ENGLISH = "Dear Anna,\n\nplease find the prices for the Falke project below.\n\nKind regards\nDaniel\n"


def delivered(body: str, subject: str, extra_headers: str = "") -> q.Entry:
    entry, lock = q.Queue.default().create(
        make_message(to="petra@falsch.example", subject=subject, body=body, extra_headers=extra_headers),
        {
            "state": q.DELIVERED,
            "envelope": ["petra@falsch.example"],
            "subject": subject,
            "verdict": "warn",
            "delivered": "2026-11-27T08:00:00+00:00",
            "findings": [
                {"rule": "sensitive-data", "severity": "warn", "message": "an IBAN", "recipient": None},
            ],
        },
    )
    lock.release()
    return entry


def config() -> config_mod.Config:
    return config_mod.parse('[organization]\ndomains = ["nordwerk.example"]\n[log]\nenabled = false\n')


@pytest.mark.parametrize(
    ("body", "subject", "language", "words", "absent"),
    [
        (
            GERMAN,
            "Preise Falke",
            "de",
            [
                "Eintrag für das Verzeichnis der Datenschutzverletzungen",
                "Betreff:",
                "Unbeabsichtigt:",
                "Frist:",
                "Art. 33 Abs. 3 DSGVO",
                "VON EINER PERSON ZU BEURTEILEN",
                "Darin gefunden: Die Nachricht enthält sensible Daten",
                "[Warnung] Die Nachricht enthält sensible Daten",
                "kann keine E-Mail zurückholen",
                "AUSZUFÜLLEN",
            ],
            # one language per document: not even the rules' English sentences
            ["TO BE ASSESSED", "Subject:", "cannot recall", "an IBAN", "sensitive-data"],
        ),
        (
            ENGLISH,
            "Falke prices",
            "en",
            [
                "record for the breach register",
                "Subject:",
                "Unintended:",
                "Deadline:",
                "Art. 33(3) facts",
                "TO BE ASSESSED by a person",
                "Found in it: an IBAN",
                "sendguard cannot recall mail",
                "TO FILL IN",
            ],
            ["ZU BEURTEILEN", "Betreff:", "zurückholen"],
        ),
    ],
)
def test_oops_writes_the_record_in_the_drafts_language(tmp_path, body, subject, language, words, absent):
    entry = delivered(body, subject)
    report = oops(q.Queue.default(), entry.id, config(), now=NOW, drafts_dir=tmp_path / "Drafts")
    assert report.language == language and report.record["language"] == language
    text = record_text(report.record)
    for word in words:
        assert word in text, word
    for word in absent:
        assert word not in text, word
    # The same facts in either language.
    assert report.record["unintended_recipients"] == ["petra@falsch.example"]
    assert report.record["deadline"] == "2026-11-30T09:00:00+00:00"
    assert report.record["sent"] == "2026-11-27T08:00:00+00:00"
    # What the log keeps (the entry's oops report) is the same text.
    assert q.Queue.default().get(entry.id).meta["oops"]["text"] == text


def test_a_declared_content_language_wins_over_the_words(tmp_path):
    entry = delivered(ENGLISH, "Falke prices", extra_headers="Content-Language: de-DE\n")
    report = oops(q.Queue.default(), entry.id, config(), now=NOW, drafts_dir=tmp_path / "Drafts")
    assert report.language == "de" and report.record["language"] == "de"
    assert "Fehlversand einer E-Mail" in record_text(report.record)


def test_only_the_words_differ_between_languages():
    entry = delivered(ENGLISH, "Falke prices")
    german = build_record(entry, config(), now=NOW, unintended=["petra@falsch.example"], intended=[], language="de")
    english = build_record(entry, config(), now=NOW, unintended=["petra@falsch.example"], intended=[], language="en")
    assert set(german) == set(english) and set(german["art_33_3"]) == set(english["art_33_3"])
    differing = {k for k in english if english[k] != german[k]}
    assert differing == {"language", "art_33_3", "regulation", "note"}  # the words, nothing else
    assert german["art_33_3"]["a_nature"].startswith("Verletzung der Vertraulichkeit: Die E-Mail „Falke prices“")


def test_an_unknown_language_falls_back_to_english():
    entry = delivered(ENGLISH, "Falke prices")
    record = build_record(entry, config(), now=NOW, unintended=["petra@falsch.example"], intended=[], language="nl")
    assert record["language"] == "en" and "TO BE ASSESSED" in record_text(record)


def test_every_language_has_every_word():
    keys = {lang: set(words) for lang, words in RECORD_TEXTS.items()}
    assert keys["de"] == keys["en"] == keys["fr"]
    for lang in ("de", "fr"):
        assert set(RECORD_TEXTS[lang]["labels"]) == set(RECORD_TEXTS["en"]["labels"])
        assert set(RECORD_TEXTS[lang]["drafted"]) == set(RECORD_TEXTS["en"]["drafted"])
    for lang, words in RECORD_TEXTS.items():
        for key in ("nature", "found", "subjects", "consequences", "measures", "title"):
            # the same placeholders, so one build fills either
            assert sorted(_fields(words[key])) == sorted(_fields(RECORD_TEXTS["en"][key])), (lang, key)


def _fields(template: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(template) if name]
