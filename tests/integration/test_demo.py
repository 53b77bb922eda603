"""``sendguard demo``: the README's quick start, run as a new user would run it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import sendguard_exe

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("args", [[], ["--no-mutt"]], ids=["mutt", "sendmail"])
def test_demo_delivers_routine_mail_holds_the_wrong_markus_and_the_lookalike_and_leaves_nothing_behind(args):
    if not shutil.which("msmtp"):
        pytest.skip("msmtp is not installed")
    if not args and not shutil.which("mutt"):
        pytest.skip("mutt is not installed")
    proc = subprocess.run([sendguard_exe(), "demo", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert re.search(r"anna@kundenfirma\.example +'Falke: status' +delivered", out)
    assert re.search(r"kai@nordwerk\.example +'Lunch\?' +delivered", out)
    assert re.search(r"markus\.brandt@kundenfirma\.example +'Falke: data migration' +delivered", out)
    assert re.search(r"markus\.brandt@kundenfirma\.example +'Cost cuts: moving two developers' +NOT SENT", out)
    assert re.search(r"anna@kundenfirrna\.example +'Falke: invoice 2026-11' +NOT SENT", out)
    received = out.split("The server received:", 1)[1].split("\n\n", 1)[0]
    assert "Cost cuts" not in received and "invoice" not in received
    listing = out.split("$ sendguard queue list", 1)[1]
    lines = listing.strip("\n").split("\n")
    story = next(i for i, line in enumerate(lines) if re.search(r"held +markus\.brandt@kundenfirma\.example", line))
    assert "markus.weber@nordwerk.example" in lines[story + 1], "the reason names the boss under the held note"
    lookalike = next(i for i, line in enumerate(lines) if re.search(r"held +anna@kundenfirrna\.example", line))
    assert "kundenfirma" in lines[lookalike + 1], "the reason is shown under the held message"
    root = Path(re.search(r"A throwaway world in (\S+):", out).group(1))  # type: ignore[union-attr]
    assert not root.exists(), "the temp dir is removed"
    held_id = re.search(r"^(\d{8}-\d{6}-[0-9a-f]+) +held", listing, re.M).group(1)  # type: ignore[union-attr]
    assert f"The demo's world is removed now, {held_id} with it" in out, "no hint at an id nobody can release"
    assert not (Path(os.environ["XDG_DATA_HOME"]) / "sendguard").exists(), "the user's own state is untouched"


def test_demo_keep_names_a_command_that_shows_the_held_message(tmp_path):
    if not shutil.which("msmtp"):
        pytest.skip("msmtp is not installed")
    proc = subprocess.run([sendguard_exe(), "demo", "--no-mutt", "--keep"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = Path(re.search(r"A throwaway world in (\S+):", proc.stdout).group(1))  # type: ignore[union-attr]
    try:
        assert f"The demo's world stays in {root}" in proc.stdout
        command = re.search(r"^  (XDG_DATA_HOME=.*) queue list ", proc.stdout, re.M).group(1)  # type: ignore[union-attr]
        shown = subprocess.run(f"{command} queue list", shell=True, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert re.search(r"held +anna@kundenfirrna\.example", shown.stdout)
    finally:
        from sendguard.cli.demo_cmd import stop_helpers

        stop_helpers(root)
        shutil.rmtree(root, ignore_errors=True)
