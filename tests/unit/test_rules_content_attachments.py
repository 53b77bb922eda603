"""attachment-type, forgotten-attachment and attachment text extraction, with real libmagic and
documents built in code (tests/support/content_fixtures.py)."""

from __future__ import annotations

import pytest

from sendguard.mail.extract import text_of
from sendguard.model import Severity, Verdict
from tests.support.content_fixtures import (
    ELF,
    INSIDE,
    PNG,
    docx,
    findings_of,
    mail,
    odt,
    pdf,
    run_check,
    xlsx,
    zip_of,
)

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- attachment-type ---------------------------------------------------------------------------


def test_spreadsheet_named_pdf_is_flagged_with_its_real_type(tmp_path):
    raw = mail(
        "Hallo Markus,\n\nanbei das Angebot.\n",
        attachments=[("Angebot.pdf", "application/pdf", xlsx([["Posten", "Preis"], ["Konzept", 1200]]))],
    )
    (finding,) = findings_of(run_check(raw, tmp_path), "attachment-type")
    assert finding.severity == Severity.WARN
    assert "Angebot.pdf" in finding.message and "spreadsheet" in finding.message
    assert XLSX_TYPE in (finding.evidence or "")


def test_same_mismatch_to_colleagues_is_only_info(tmp_path):
    raw = mail("anbei", to=INSIDE, attachments=[("Angebot.pdf", "application/pdf", xlsx([["a", 1]]))])
    (finding,) = findings_of(run_check(raw, tmp_path), "attachment-type")
    assert finding.severity == Severity.INFO


@pytest.mark.parametrize(
    "name, declared, data",
    [
        ("Angebot.pdf", "application/pdf", pdf(["Angebot Phase 2"])),  # a real PDF
        ("Bericht.docx", "application/octet-stream", docx(["Bericht"])),  # generic declared type
        ("Liste.xlsx", "application/pdf", xlsx([["a", 1]])),  # wrong declared type, right name
        ("notes.txt", "text/plain", b"#!/bin/sh\necho hello\n"),  # a script read as text
        ("export.csv", "text/csv", b"a;b;c\n1;2;3\n"),  # csv that libmagic calls text
        ("photo.png", "image/png", PNG),
        ("text.odt", "application/vnd.oasis.opendocument.text", odt(["Hallo"])),
    ],
)
def test_documents_that_are_what_they_say_are_not_findings(tmp_path, name, declared, data):
    raw = mail("Hallo,\n\nanbei die Datei.\n", attachments=[(name, declared, data)])
    result = run_check(raw, tmp_path)
    assert [f for f in findings_of(result, "attachment-type") if f.severity >= Severity.WARN] == []
    assert result.decision.verdict == Verdict.PASS


def test_executable_dressed_as_document_holds(tmp_path):
    raw = mail("anbei die Rechnung", attachments=[("Rechnung.pdf", "application/pdf", ELF)])
    result = run_check(raw, tmp_path)
    assert result.decision.verdict >= Verdict.HOLD
    assert any(f.severity == Severity.HOLD for f in findings_of(result, "attachment-type"))


def test_program_to_outside_warns(tmp_path):
    raw = mail("tool attached", attachments=[("setup.exe", "application/octet-stream", ELF)])
    (finding,) = findings_of(run_check(raw, tmp_path), "attachment-type")
    assert finding.severity == Severity.WARN and "program" in finding.message


def test_zip_contents_are_listed(tmp_path):
    raw = mail("anbei", attachments=[("bundle.zip", "application/zip", zip_of([("a.txt", b"x"), ("b.csv", b"y")]))])
    (finding,) = findings_of(run_check(raw, tmp_path), "attachment-type")
    assert finding.severity == Severity.INFO
    assert "a.txt" in finding.message and "b.csv" in finding.message


@pytest.mark.parametrize(
    "members, encrypted, words",
    [
        ([("secret.txt", b"x")], True, "encrypted"),
        ([("inner.zip", zip_of([("a", b"b")])), ("x.txt", b"y")], False, "further archives"),
        ([("run.exe", ELF)], False, "programs"),
    ],
)
def test_zip_problems_warn_to_outside(tmp_path, members, encrypted, words):
    raw = mail("anbei", attachments=[("bundle.zip", "application/zip", zip_of(members, encrypted))])
    messages = [
        f.message for f in findings_of(run_check(raw, tmp_path), "attachment-type") if f.severity == Severity.WARN
    ]
    assert any(words in m for m in messages), messages


def test_a_broken_zip_does_not_crash(tmp_path):
    data = zip_of([("a.txt", b"x" * 1000)])[:-30]
    raw = mail("anbei", attachments=[("bundle.zip", "application/zip", data)])
    result = run_check(raw, tmp_path)
    assert not findings_of(result, "internal-error")


# --- forgotten-attachment ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "Hallo Markus,\n\nanbei wie versprochen das Angebot.\n",
        "Hallo,\n\nim Anhang findest du die Schätzung.\n",
        "Hi,\n\nplease find attached the report.\n",
        "Hi,\n\nsee attachment.\n",
        "The invoice is attached.\n",
        "Bonjour,\n\nvous trouverez ci-joint le devis.\n",
        "Bonjour,\n\nle devis en pièce jointe.\n",
        "Hola,\n\nte adjunto el presupuesto.\n",
        "Hallo,\n\nbijgevoegd de offerte.\n",
        "Hallo,\n\nzie bijlage.\n",
        "Привет,\n\nдокумент во вложении.\n",
        "Ciao,\n\nin allegato il preventivo.\n",
    ],
)
def test_attachment_promised_but_missing_holds(tmp_path, body):
    result = run_check(mail(body), tmp_path)
    (finding,) = findings_of(result, "forgotten-attachment")
    assert finding.severity == Severity.HOLD
    assert result.decision.verdict >= Verdict.HOLD


@pytest.mark.parametrize(
    "body",
    [
        "Hallo,\n\nwie besprochen: Termin am Montag.\n",
        "The device is attached to the bus at boot.\n",
        # quoted lines are someone else's words
        "Danke, erledigt.\n\n> anbei die Unterlagen\n> Gruß\n",
        # a reply attribution and the message below it
        "Thanks!\n\nOn Mon, 2 Nov 2026, Anna wrote:\nplease find attached the report\n",
        "Danke!\n\n-----Original Message-----\nFrom: Anna\nSent: Monday\nSiehe Anhang.\n",
        # Lotus Notes forwards and header blocks
        "FYI\n\n---------------------- Forwarded by Rick Buy/HOU/ECT on 11/16/2001 ---------------------------\n"
        "attached is the list\n",
        "FYI\n\n\tMark Ruane\n\t11/16/2001 08:41 AM\nTo: Rick Buy/HOU/ECT@ECT\ncc:\nSubject: list\n\nattached is the list\n",
        # the signature
        "Bis morgen.\n\n-- \nDaniel Wolff\nAnhänge bitte nur als PDF\nsee attachment policy\n",
    ],
)
def test_no_finding_for_other_peoples_words_or_other_meanings(tmp_path, body):
    assert findings_of(run_check(mail(body), tmp_path), "forgotten-attachment") == []


def test_mail_with_attachment_is_fine(tmp_path):
    raw = mail("anbei das Angebot", attachments=[("Angebot.pdf", "application/pdf", pdf(["x"]))])
    assert findings_of(run_check(raw, tmp_path), "forgotten-attachment") == []


def test_git_patches_are_not_forgotten_attachments(tmp_path):
    body = (
        "The attached patch fixes the leak.\n\nSigned-off-by: D <d@x.example>\n---\n"
        "diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n"
    )
    assert findings_of(run_check(mail(body, subject="[PATCH] fix leak"), tmp_path), "forgotten-attachment") == []


# --- extraction ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, kind, expected",
    [
        (
            docx(["Projekt Falke", "zweiter Absatz"]),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "Projekt Falke\nzweiter Absatz",
        ),
        (xlsx([["Name", "Gehalt"], ["Tim Roth", 78000]]), XLSX_TYPE, "Tim Roth\t78000"),
        (odt(["Projekt Falke"]), "application/vnd.oasis.opendocument.text", "Projekt Falke"),
        (pdf(["Projekt (Falke) 2"]), "application/pdf", "Projekt (Falke) 2"),
        (pdf(["Projekt Falke"], compress=True), "application/pdf", "Projekt Falke"),
        ("Grüße aus Köln".encode("cp1252"), "text/plain", "Grüße aus Köln"),
    ],
)
def test_text_is_extracted_from_documents(data, kind, expected):
    text, truncated = text_of(data, kind)
    assert expected in text and not truncated


def test_extraction_stops_at_its_budget():
    text, truncated = text_of(b"x" * 5000, "text/plain", budget=1000)
    assert len(text) == 1000 and truncated


def test_zip_bomb_member_is_read_only_up_to_the_budget():
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:p>" + "a" * 50_000_000 + "</w:p>")
    text, _ = text_of(
        buffer.getvalue(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document", budget=10_000
    )
    assert len(text) <= 10_000
