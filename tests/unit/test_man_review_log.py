"""What sendguard(1) says about the review app's keys and about reading the incident log with
notmuch is true: every key of tui/keys.py is listed, and the page's commands, run as printed,
let the real notmuch read sendguard's log."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from sendguard import paths
from sendguard.act import events
from sendguard.tui.keys import KEYS, LABELS
from tests.conftest import make_message
from tests.unit.test_man import sections
from tests.unit.test_man_render import source


def _section(title_start: str) -> str:
    heads = sections(source("sendguard.1"))
    (title,) = [h for h in heads if h.startswith(title_start)]
    return heads[title]


def test_every_review_key_is_in_sendguard_1():
    review = _section("sendguard review")
    listed = {word.strip("*,") for line in review.splitlines() if line.startswith("*") for word in line.split()}
    missing = [k.key for k in KEYS if LABELS.get(k.key, k.key) not in listed]
    assert not missing, f"keys of tui/keys.py missing from man/sendguard.1.scd (sendguard review): {missing}"


def test_the_pages_notmuch_commands_read_the_incident_log(world, tmp_path):
    pytest.importorskip("notmuch2")
    if not shutil.which("notmuch"):
        pytest.skip("notmuch is not installed")
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    assert world.send(make_message(subject="Falke numbers"), "-t").returncode == 75
    assert events.settle(paths.state_dir(), timeout=60)  # sendmail's detached observers wrote the record
    indexed = world.cli("log", "--wait", "60", "tag:held")  # indexes it, waiting for a busy database
    assert indexed.returncode == 0 and "Falke numbers" in indexed.stdout, indexed.stderr
    block = _section("sendguard log").split("\tlog=", 1)[1].split("\n\n", 1)[0]
    commands = ("log=" + block).replace("++\n", "\n").replace("\\\\", "\\")
    # The page names the default place; the tests' state is under their own XDG_DATA_HOME.
    commands = commands.replace("~/.local/share", os.environ["XDG_DATA_HOME"])
    proc = subprocess.run(
        ["bash", "-euc", commands], capture_output=True, text=True, timeout=60, env=world.env(), check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "[held] Falke numbers" in proc.stdout and "rule:external-recipient" in proc.stdout
