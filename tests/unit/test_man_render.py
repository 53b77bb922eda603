"""The man pages render: scdoc without warnings, the committed roff current, man without warnings,
and ``sendguard man`` finds them (see tests/unit/test_man.py for what they must cover)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

MAN = Path(__file__).resolve().parents[2] / "man"
PAGES = ["sendguard.1", "sendguard.toml.5", "sendguard-rules.7"]


def source(page: str) -> str:
    return (MAN / f"{page}.scd").read_text(encoding="utf-8")


@pytest.mark.parametrize("page", PAGES)
def test_scdoc_renders_without_warnings_and_the_roff_is_current(page):
    scdoc = shutil.which("scdoc")
    if not scdoc:
        pytest.skip("scdoc is not installed (apt-get install scdoc)")
    epoch = re.search(r"^SOURCE_DATE_EPOCH = (\d+)$", (MAN / "Makefile").read_text(), re.M).group(1)  # type: ignore[union-attr]
    proc = subprocess.run(
        [scdoc],
        input=source(page).encode(),
        capture_output=True,
        timeout=30,
        env={"SOURCE_DATE_EPOCH": epoch, "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0 and not proc.stderr, proc.stderr.decode()
    roff = MAN / page
    assert roff.exists() and roff.read_bytes() == proc.stdout, f"man/{page} is stale: run  make -C man"


@pytest.mark.parametrize("page", PAGES)
def test_man_formats_the_page_without_warnings(page):
    man = shutil.which("man")
    if not man or not shutil.which("groff"):
        pytest.skip("man/groff are not installed")
    proc = subprocess.run(
        [man, "--warnings", "-l", str(MAN / page)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    assert "sendguard" in proc.stdout


def test_sendguard_man_shows_the_page_through_man():
    from tests.conftest import sendguard_exe

    if not shutil.which("man"):
        pytest.skip("man is not installed")
    env = {"PATH": "/usr/bin:/bin", "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80", "LANG": "C.UTF-8"}
    proc = subprocess.run([sendguard_exe(), "man", "rules"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "sendguard-rules - what sendguard looks for" in proc.stdout


def test_sendguard_man_piped_into_head_stops_quietly():
    """`sendguard man config | head` ends as `man | head` does: no "Broken pipe" from man's
    formatters (Python ignores SIGPIPE, and an exec'd man would inherit that)."""
    from tests.conftest import sendguard_exe

    if not shutil.which("man"):
        pytest.skip("man is not installed")
    env = {"PATH": "/usr/bin:/bin", "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80", "LANG": "C.UTF-8"}
    proc = subprocess.run(
        ["sh", "-c", f"'{sendguard_exe()}' man | head -1"], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.stdout.startswith("sendguard(1)")
    assert proc.stderr == ""


def test_sendguard_man_without_man_prints_the_source(tmp_path):
    from tests.conftest import sendguard_exe

    exe = Path(sendguard_exe())
    bindir = tmp_path / "bin"  # a PATH with sendguard's python but no man
    bindir.mkdir()
    proc = subprocess.run(
        [str(exe), "man", "config"], capture_output=True, text=True, timeout=60, env={"PATH": str(bindir)}
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("sendguard.toml(5)")
