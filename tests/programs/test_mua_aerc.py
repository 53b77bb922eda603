"""aerc 0.14 under tmux → sendguard-sendmail → real msmtp → aiosmtpd.

aerc passes only the recipients (no ``--``, no ``-i``), leaves Bcc in the piped message (msmtp
strips it on the wire), reopens the composer on a non-zero exit and shows only ``exit status N``:
the reason must be found in ``sendguard queue list`` afterwards. (What reaches the person
instead, and why a resend from aerc does not confirm: test_visible.py.)
"""

from __future__ import annotations

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
