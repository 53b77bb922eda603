#!/usr/bin/env python3
"""Hostile inputs through the whole check: time and peak memory of each, in a fresh process.

    .venv/bin/python bench/bench_hostile.py [NAME...]      # all inputs when none named

Each input is built in a child process, which then runs the check exactly as the send path
does (decide.check.check_message, every rule, the default [check] budget) and reports the
check's wall and CPU time, the process's peak RSS above what it held before it read the message (the
interpreter, the modules, and libmagic loaded; the message is built by the parent and read
from a file, once, as the send path reads stdin) and the verdict. "ratio" is that peak over the
message size: the target is at most 3 (plus a constant for small mail). The inputs are the ones
an audit found quadratic or worse (bench/README.md has the figures before and after).
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CT = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>'
)
RELS = '<?xml version="1.0" encoding="UTF-8"?><Relationships/>'


def small_zip(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def repeated_zip(first: list[tuple[str, bytes]], name_of, count: int, data: bytes) -> bytes:  # type: ignore[no-untyped-def]
    """A zip whose ``count`` members all hold ``data``, compressed once (so it builds in seconds)."""
    crc = zlib.crc32(data)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(data) + packer.flush()
    out = io.BytesIO()
    central = []
    entries = [(n, zlib.crc32(d), zlib.compress(d, 9)[2:-4], len(d)) for n, d in first]
    entries += [(name_of(i), crc, packed, len(data)) for i in range(count)]
    for name, checksum, body, size in entries:
        raw_name = name.encode()
        offset = out.tell()
        out.write(
            struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, checksum, len(body), size, len(raw_name), 0)
        )
        out.write(raw_name + body)
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0x21,
                checksum,
                len(body),
                size,
                len(raw_name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + raw_name
        )
    start = out.tell()
    for record in central:
        out.write(record)
    size = out.tell() - start
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), size, start, 0))
    return out.getvalue()


def build(name: str) -> tuple[bytes, list[str]]:
    """(message, envelope) of one hostile input."""
    from tests.support.content_fixtures import RAW_HEAD as HEAD
    from tests.support.content_fixtures import raw_with_attachment as with_attachment

    envelope = ["m.berger@nordwerk.example"]
    if name == "plain-10k":
        return (HEAD + "\n" + "The Falke rollout is on track.\n" * 330).encode(), envelope
    if name == "to-130k-without-at":
        return f"From: a@nordwerk.example\nTo: {'a' * 130_000}\nSubject: x\n\nhi\n".encode(), envelope
    if name.startswith("html-script-"):
        size = {"160k": 160_000, "2m": 2_000_000}[name.rpartition("-")[2]]
        body = "<script>" * (size // 8)
        return f"{HEAD}MIME-Version: 1.0\nContent-Type: text/html\n\n{body}\n".encode(), envelope
    if name.startswith("pdf-ltlt-"):
        size = {"1m": 1_000_000, "8m": 8_000_000}[name.rpartition("-")[2]]
        return with_attachment("r.pdf", "application/pdf", b"%PDF-1.4\n" + b"<<" * (size // 2)), envelope
    if name == "docx-lt-4m":
        data = small_zip(
            [
                ("[Content_Types].xml", CT.encode()),
                ("_rels/.rels", RELS.encode()),
                ("word/document.xml", b"<" * 4_000_000),
            ]
        )
        return with_attachment(
            "d.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", data
        ), envelope
    if name == "xlsx-2000-sheets":
        sheet = b"<worksheet><sheetData>" + b'<row><c t="s"><v>0</v></c></row>' * 120_000 + b"</sheetData></worksheet>"
        first = [
            ("[Content_Types].xml", CT.encode()),
            ("_rels/.rels", RELS.encode()),
            ("xl/workbook.xml", b"<workbook/>"),
            ("xl/sharedStrings.xml", b"<sst><si><t>x</t></si></sst>"),
        ]
        data = repeated_zip(first, lambda i: f"xl/worksheets/sheet{i + 1}.xml", 2000, sheet)
        return with_attachment(
            "s.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", data
        ), envelope
    if name == "argv-50k-recipients":
        return (HEAD + "\nhello\n").encode(), [f"r{i}@kundenfirma.example" for i in range(50_000)]
    raise SystemExit(f"unknown input {name}")


NAMES = [
    "plain-10k",
    "to-130k-without-at",
    "html-script-160k",
    "html-script-2m",
    "pdf-ltlt-1m",
    "pdf-ltlt-8m",
    "docx-lt-4m",
    "xlsx-2000-sheets",
    "argv-50k-recipients",
]


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def one(name: str, path: str) -> dict[str, object]:
    from sendguard.config.schema import Config
    from sendguard.decide.check import check_message
    from sendguard.mail import extract
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules import load_rules

    load_rules()  # every rule module imported, libmagic loaded: the baseline a resident checker has
    extract.real_type  # noqa: B018
    import magic

    magic.from_buffer(b"%PDF-1.4\n", mime=True)
    before = _rss_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
    raw = Path(path).read_bytes()  # as the send path reads stdin: one copy
    envelope = json.loads(Path(path + ".envelope").read_text())
    config = Config()
    state = Path(tempfile.mkdtemp())
    start, cpu = time.perf_counter(), time.process_time()
    result = check_message(OutgoingMessage(raw), config, envelope=envelope, state_dir=state)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _rss_kb("VmHWM")
    return {
        "input": name,
        "size": len(raw),
        "seconds": round(seconds, 3),
        "cpu": round(cpu, 3),
        "peak_mb": round((peak - before) / 1024, 1),
        "ratio": round((peak - before) * 1024 / len(raw), 2),
        "verdict": result.decision.verdict.label,
        "rules": sorted({f.rule for f in result.decision.findings if f.severity.label in ("warn", "hold", "block")}),
    }


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2], sys.argv[3])))
        return 0
    names = sys.argv[1:] or NAMES
    env = {**os.environ, "SENDGUARD_RESIDENT": "0"}
    folder = Path(tempfile.mkdtemp(prefix="sendguard-hostile-"))
    print(f"load average (1 min): {os.getloadavg()[0]:.2f}")
    print(f"{'input':<22} {'size':>10} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'ratio':>6}  verdict")
    for name in names:
        raw, envelope = build(name)
        path = folder / name
        path.write_bytes(raw)
        Path(f"{path}.envelope").write_text(json.dumps(envelope))
        del raw
        proc = subprocess.run(
            [sys.executable, __file__, "--one", name, str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
        path.unlink()
        if proc.returncode != 0:
            print(f"{name:<22} failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(proc.stdout)
        print(
            f"{row['input']:<22} {row['size']:>10} {row['seconds']:>8} {row['cpu']:>8} {row['peak_mb']:>8} {row['ratio']:>6}  "
            f"{row['verdict']} {','.join(row['rules'])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
