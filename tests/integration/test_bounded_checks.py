"""Bounded checks: hostile inputs that were quadratic or worse finish quickly, an archive is read
within one budget across all its members, and what the budgets leave unread holds the message
("too large or complex to read fully"), as [rules.unreadable-message] says."""

from __future__ import annotations

import base64
import io
import time
import zipfile

import pytest

from sendguard.config.schema import parse
from sendguard.decide.check import CheckResult, check_message
from sendguard.mail import extract
from sendguard.mail.message import OutgoingMessage, strip_html
from sendguard.model import Verdict
from tests.support.content_fixtures import RAW_HEAD as HEAD
from tests.support.content_fixtures import findings_of, run_check
from tests.support.content_fixtures import raw_with_attachment as with_attachment

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CT = '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"></Types>'


def office(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CT)
        archive.writestr("_rels/.rels", "<Relationships/>")
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def timed_check(raw: bytes, tmp_path, limit: float = 3.0):  # type: ignore[no-untyped-def]
    start = time.process_time()  # CPU time: what the check costs, not how loaded the machine is
    result = run_check(raw, tmp_path)
    elapsed = time.process_time() - start
    assert elapsed < limit, f"{elapsed:.1f} s CPU"
    return result


@pytest.mark.parametrize(
    "raw",
    [
        f"{HEAD}MIME-Version: 1.0\nContent-Type: text/html\n\n{'<script>' * 250_000}\n".encode(),  # 11.8 s at 160 kB
        with_attachment("r.pdf", "application/pdf", b"%PDF-1.4\n" + b"<<" * 500_000),  # 20 s
        with_attachment("d.docx", DOCX, office([("word/document.xml", b"<" * 4_000_000)])),  # 18.5 s
        with_attachment(
            "s.xlsx",
            XLSX,
            office([("xl/workbook.xml", b"<workbook/>"), ("xl/worksheets/sheet1.xml", b"<row><c>" * 500_000)]),
        ),
        f"From: a@nordwerk.example\nTo: {'a' * 130_000}\nSubject: x\n\nhi\n".encode(),  # 40 s
    ],
    ids=["html-script", "pdf-of-ltlt", "docx-of-lt", "xlsx-unclosed-rows", "to-without-at"],
)
def test_hostile_inputs_are_checked_in_linear_time(raw, tmp_path):
    timed_check(raw, tmp_path)


def test_linear_helpers_on_their_worst_inputs():
    for text in ("<script>" * 300_000, "<" * 3_000_000, "<a" * 1_000_000, "<style>x" * 200_000):
        start = time.process_time()
        strip_html(text)
        assert time.process_time() - start < 1.0
    start = time.process_time()
    assert list(extract.elements("<row>" * 500_000, "row")) == []
    assert list(extract._pdf_streams(b"<<" * 2_000_000)) == []
    assert time.process_time() - start < 1.0
    assert strip_html("<p>a</p><SCRIPT>x<y</Script>b<br>c &amp; d") == "a\n b\nc & d"


def test_an_archive_is_read_within_one_budget_across_its_members(tmp_path, monkeypatch):
    # the budget was per member: 2,000 sheets of 4 MB reached 6.1 GB
    monkeypatch.setattr(extract, "ARCHIVE_BUDGET", 300_000)
    sheet = (
        b"<worksheet><sheetData>"
        + b'<row><c t="inlineStr"><is><t>Tim Roth</t></is></c></row>' * 2_000
        + b"</sheetData></worksheet>"
    )
    members = [("xl/workbook.xml", b"<workbook/>")] + [(f"xl/worksheets/sheet{i}.xml", sheet) for i in range(1, 21)]
    result = timed_check(with_attachment("s.xlsx", XLSX, office(members)), tmp_path)
    (finding,) = findings_of(result, "unreadable-message")
    assert "too large or complex to read fully" in finding.message
    assert "of 20 parts" in finding.message
    assert result.decision.verdict == Verdict.HOLD


def test_the_time_budget_holds_what_it_did_not_read(tmp_path):
    config = parse('[organization]\ndomains = ["nordwerk.example"]\n[check]\nbudget = 0.0\n', "test")
    raw = with_attachment("d.docx", DOCX, office([("word/document.xml", b"<w:p>hello</w:p>")]))
    result = check_message(OutgoingMessage(raw), config, envelope=["m.berger@nordwerk.example"], state_dir=tmp_path)
    (finding,) = findings_of(result, "unreadable-message")
    assert "too large or complex to read fully" in finding.message and "time budget" in finding.message
    assert result.decision.verdict == Verdict.HOLD
    relaxed = parse(
        '[organization]\ndomains = ["nordwerk.example"]\n[check]\nbudget = 0.0\n'
        '[rules.unreadable-message]\naction = "warn"\n',
        "test",
    )
    result = check_message(OutgoingMessage(raw), relaxed, envelope=["m.berger@nordwerk.example"], state_dir=tmp_path)
    assert result.decision.verdict == Verdict.WARN


def test_plain_mail_is_untouched_by_the_budget(tmp_path):
    raw = (HEAD + "\nThe rollout is on track.\n").encode()
    assert findings_of(run_check(raw, tmp_path), "unreadable-message") == []


def zip_of_copies(first: list[tuple[str, bytes]], names: list[str], data: bytes) -> bytes:
    """A zip whose members ``names`` all hold ``data``, compressed once (builds in milliseconds)."""
    import struct
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(data) + packer.flush()
    entries = [(n, zlib.crc32(d), zlib.compress(d, 9)[2:-4], len(d)) for n, d in first]
    entries += [(n, zlib.crc32(data), packed, len(data)) for n in names]
    out = io.BytesIO()
    central = []
    for name, crc, body, size in entries:
        raw = name.encode()
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(body), size, len(raw), 0))
        out.write(raw + body)
        fields = (0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(body), size, len(raw), 0, 0, 0, 0, 0, offset)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", *fields) + raw)
    start = out.tell()
    out.write(b"".join(central))
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0)
    return out.getvalue() + end


def budget_config(seconds: float) -> str:
    return f'[organization]\ndomains = ["nordwerk.example"]\n[check]\nbudget = {seconds}\n'


def checked_within(budget: float, raw: bytes, state_dir) -> tuple[CheckResult, float]:
    """The check of ``raw`` under ``[check] budget``, and the CPU seconds it took (parsing is not
    the check's: the message is parsed before the clock starts)."""
    message = OutgoingMessage(raw)
    message.parts  # noqa: B018
    start = time.process_time()
    result = check_message(
        message, parse(budget_config(budget), "test"), envelope=["m.berger@nordwerk.example"], state_dir=state_dir
    )
    return result, time.process_time() - start


def test_an_archive_bomb_stops_at_the_deadline_and_says_how_much_it_read(tmp_path):
    # 2,000 sheets of 4 MB took 2.4-2.5 s against a budget of 2 s, and the finding counted
    # 1,996 parts (the members after the first 2,000 were left out of the count)
    sheet = b"<worksheet><sheetData>" + b'<row><c t="s"><v>0</v></c></row>' * 30_000 + b"</sheetData></worksheet>"
    first = [("[Content_Types].xml", CT.encode()), ("xl/workbook.xml", b"<workbook/>")]
    first.append(("xl/sharedStrings.xml", b"<sst><si><t>x</t></si></sst>"))
    names = [f"xl/worksheets/sheet{i}.xml" for i in range(1, 2001)]
    raw = with_attachment("s.xlsx", XLSX, zip_of_copies(first, names, sheet))
    result, elapsed = checked_within(0.3, raw, tmp_path)
    assert elapsed < 0.3 + 0.15, f"{elapsed:.2f} s CPU for a budget of 0.3 s"
    (finding,) = findings_of(result, "unreadable-message")
    assert "too large or complex to read fully: checked" in finding.message
    assert " of 2000 parts" in finding.message
    assert result.decision.verdict == Verdict.HOLD


def test_the_time_budget_holds_while_the_rules_scan_long_texts(tmp_path):
    # the deadline was looked at only before each rule: a rule that started in time then
    # scanned every text (~0.1 s of CPU a megabyte), far past the budget
    # every line different: the rules read a text's distinct lines, and a repeated one is read once
    lines = (
        f"Anna Berger\tFalke\t{i}.56\tinvoice {4711 + i} for the rollout of site {i % 97}\n" for i in range(14_000)
    )
    text = "".join(lines).encode()
    parts = "".join(
        f'--b\nContent-Type: text/plain; name="t{i}.txt"\nContent-Disposition: attachment; filename="t{i}.txt"\n'
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(text).decode()
        for i in range(6)
    )
    raw = (
        f'{HEAD}MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\n'
        f"Content-Type: text/plain\n\nsee attached\n{parts}--b--\n"
    ).encode()
    result, elapsed = checked_within(0.1, raw, tmp_path)
    assert elapsed < 0.1 + 0.15, f"{elapsed:.2f} s CPU for a budget of 0.1 s"
    (finding,) = findings_of(result, "unreadable-message")
    assert "within the time budget" in finding.message
    assert result.decision.verdict == Verdict.HOLD
