"""aerc 0.14 under tmux → sendguard-sendmail → real msmtp → aiosmtpd.

aerc passes only the recipients (no ``--``, no ``-i``), leaves Bcc in the piped message (msmtp
strips it on the wire), reopens the composer on a non-zero exit and shows only ``exit status N``:
the reason must be found in ``sendguard queue list`` afterwards. (What reaches the person
instead, and why a resend from aerc does not confirm: test_visible.py.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sendguard.act import queue as q
from tests.support.mua import HOLD_EXTERNAL, Aerc, header_names, held_row, wait_until

pytestmark = pytest.mark.slow

MAILTO = "mailto:anna@kundenfirma.example?subject=Falke%20status&bcc=boss@nordwerk.example"
ENVELOPE = ["anna@kundenfirma.example", "boss@nordwerk.example"]


def test_passing_message_is_delivered_with_bcc_in_the_envelope_only(world, tmp_path):
    with Aerc(world, tmp_path / "aerc") as aerc:
        aerc.compose(MAILTO)
        aerc.send()
        assert wait_until(lambda: len(world.server.received) == 1), aerc.screen()
    (got,) = world.server.received
    assert sorted(got.rcpt_tos) == ENVELOPE
    assert "bcc" not in header_names(got.data), "msmtp strips the Bcc aerc leaves in"
    assert b"the Falke rollout is on track." in got.data


def test_held_message_keeps_aercs_bcc_and_is_released(world, tmp_path):
    world.write_config(HOLD_EXTERNAL)
    with Aerc(world, tmp_path / "aerc") as aerc:
        aerc.compose(MAILTO)
        aerc.send()
        aerc.wait_for("exit status 75")
    assert world.server.received == []
    row = held_row(world)
    assert sorted(row["recipients"]) == ENVELOPE and row["subject"] == "Falke status"
    kept = q.Queue.default().get(row["id"]).raw()
    assert "bcc" in header_names(kept), "the message is kept exactly as aerc piped it"
    assert world.cli("release", row["id"]).returncode == 0
    (got,) = world.server.received
    assert sorted(got.rcpt_tos) == ENVELOPE
    assert "bcc" not in header_names(got.data)


def test_oops_drafts_go_where_aerc_recalls_and_sends_them(world, tmp_path):
    """aerc opens no draft file: oops's lines copy its drafts into the account's Drafts folder,
    where :recall opens one and y sends it (the folder exists, as once aerc postponed a draft)."""
    root = tmp_path / "aerc"
    with Aerc(world, root) as aerc:
        for sub in ("cur", "new", "tmp"):
            (root / "mail" / "Drafts" / sub).mkdir(parents=True)
        aerc.compose(MAILTO)
        aerc.send()
        assert wait_until(lambda: len(world.server.received) == 1), aerc.screen()
        proc = subprocess.run(
            [world.sendguard, "oops"], env=aerc.env, capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, proc.stderr
        (copy,) = [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("mkdir -p ")]
        subprocess.run(["sh", "-c", copy], check=True, timeout=30)
        assert ":cf Drafts  then :recall" in proc.stdout
        aerc.command("cf Drafts")
        aerc.wait_for("Sent to you by mistake")
        aerc.command("recall")
        aerc.wait_for("Send this email?")
        aerc.send()
        assert wait_until(lambda: len(world.server.received) == 2), aerc.screen()
    subjects = sorted(m.data.split(b"\nSubject: ", 1)[1].split(b"\n", 1)[0] for m in world.server.received[1:])
    assert subjects[0].startswith((b"Sent to you by mistake", b"Fwd:")), subjects


def test_oops_run_from_aerc_stays_on_screen_until_enter(world, tmp_path):
    """aerc's :term closes its tab as the command ends: `:term sendguard oops` showed nothing,
    not the deadline, not how to open the drafts, though it had written them."""
    with Aerc(world, tmp_path / "aerc") as aerc:
        aerc.compose(MAILTO)
        aerc.send()
        assert wait_until(lambda: len(world.server.received) == 1), aerc.screen()
        aerc.command(f"term {world.sendguard} oops")
        screen = aerc.wait_for("[Enter: close this tab and go back to aerc]")
        assert "Drafts (English), not sent" in screen and "in aerc: :cf Drafts" in screen
        aerc.keys("Enter")
        assert wait_until(lambda: "Drafts (English)" not in aerc.screen()), aerc.screen()
    assert len(world.server.received) == 1  # oops sends nothing


def test_the_forward_drafts_attachment_is_named_after_the_original(world, tmp_path):
    """aerc lists a message/rfc822 part without a name as "message_rfc822_<digits>": nothing to
    tell the person which message the forward carries."""
    root = tmp_path / "aerc"
    with Aerc(world, root) as aerc:
        drafts = root / "mail" / "Drafts"
        for sub in ("cur", "new", "tmp"):
            (drafts / sub).mkdir(parents=True)
        aerc.compose(MAILTO)
        aerc.send()
        assert wait_until(lambda: len(world.server.received) == 1), aerc.screen()
        proc = subprocess.run(
            [world.sendguard, "oops", "--json", "--intended", "anna@nordwerk.example"],
            env=aerc.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        (forward,) = [Path(p) for p in json.loads(proc.stdout)["drafts"] if ".oops-intended-" in p]
        shutil.copy(forward, drafts / "cur" / forward.name)
        aerc.command("cf Drafts")
        aerc.wait_for("Fwd: Falke status")
        aerc.command("recall")
        screen = aerc.wait_for("Send this email?")
        assert "Falke status.eml" in screen and "message_rfc822" not in screen, screen
