"""The send path holds a big mail at most about three times over: check, delivery and the
history observer included, as the resident checker runs them. The history observer parsed a
20 MB mail with the stdlib's full parser: 10x the message size. (The incident log is off here:
its attachment tagger maps the message file, and mapped page cache counts in RSS without being
memory of ours; that the log stores no second copy is tested in test_incident_one_copy.py.)"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_20_mb_mail_peaks_below_three_times_its_size(tmp_path):
    pdf = b"%PDF-1.4\n" + os.urandom(15_000_000)
    message = tmp_path / "big.eml"
    message.write_bytes(
        b"From: me@nordwerk.example\nTo: m.berger@nordwerk.example\nSubject: report\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n\nsee attached\n--b\n'
        b"Content-Type: application/pdf; name=r.pdf\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(pdf)
        + b"--b--\n"
    )
    del pdf
    code, ratio = peak("sendpath_peak", message, tmp_path / "root")
    assert code == "0"
    assert float(ratio) <= 3.0, ratio


def peak(module: str, message: Path, state: Path) -> list[str]:
    """What ``tests.support.MODULE MESSAGE STATE`` prints (its outcome and peak memory over the
    message's size), run in a fresh interpreter so that nothing else counts."""
    proc = subprocess.run(
        [sys.executable, "-m", f"tests.support.{module}", str(message), str(state)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def check_peak(raw: bytes, tmp_path: Path) -> tuple[str, float]:
    message = tmp_path / "message.eml"
    message.write_bytes(raw)
    verdict, ratio = peak("check_peak", message, tmp_path)
    return verdict, float(ratio)


def test_a_2_mb_hostile_html_body_is_held_at_most_three_times_over(tmp_path):
    # the body was held four times: the message, its bytes copied (and cached), a slice of
    # that copy, and the text
    raw = (
        b"From: me@nordwerk.example\nTo: m.berger@nordwerk.example\nSubject: report\nMIME-Version: 1.0\n"
        b"Content-Type: text/html\n\n" + b"<script>" * 250_000 + b"\n"
    )
    verdict, ratio = check_peak(raw, tmp_path)
    assert verdict == "pass"
    assert ratio <= 3.0, ratio
