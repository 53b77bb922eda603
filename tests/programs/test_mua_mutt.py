"""mutt and neomutt in batch mode → sendguard-sendmail → real msmtp → aiosmtpd.

Batch mode is the harsh case (integration.md): on a non-zero exit mutt prints "Could not send
the message" and forgets it, so a held message must be reachable afterwards in the queue.
mutt passes Bcc only in argv (after ``--``) and removes the header from the message.
"""

from __future__ import annotations

import pytest

from tests.support.mua import HOLD_EXTERNAL, header_names, held_row, queue_rows, run_mutt, unix

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("program", ["mutt", "neomutt"])]

BODY = "Hello Anna,\n\nthe Falke rollout is on track.\n\nRegards\nMe\n"


def test_passing_message_is_delivered_and_bcc_is_only_in_the_envelope(program, world, tmp_path):
    proc = run_mutt(
        program, world, tmp_path / "home", "anna@kundenfirma.example", "Falke status", BODY, bcc="boss@nordwerk.example"
    )
    assert proc.returncode == 0, proc.stderr
    (got,) = world.server.received
    assert sorted(got.rcpt_tos) == ["anna@kundenfirma.example", "boss@nordwerk.example"]
    assert "bcc" not in header_names(got.data)
    assert b"Subject: Falke status" in got.data
    assert unix(got.data).endswith(BODY.encode())
    assert queue_rows(world) == [], "a delivered message does not linger in queue list"


def test_held_message_survives_mutt_forgetting_it_and_is_released_once(program, world, tmp_path):
    world.write_config(HOLD_EXTERNAL)
    proc = run_mutt(
        program, world, tmp_path / "home", "anna@kundenfirma.example", "Falke budget", BODY, bcc="boss@nordwerk.example"
    )
    assert proc.returncode != 0  # batch mode: mutt reports the failure and forgets the message
    assert world.server.received == []
    row = held_row(world)
    assert row["subject"] == "Falke budget"
    assert sorted(row["recipients"]) == ["anna@kundenfirma.example", "boss@nordwerk.example"]
    released = world.cli("release", row["id"])
    assert released.returncode == 0, released.stderr
    (got,) = world.server.received
    assert sorted(got.rcpt_tos) == ["anna@kundenfirma.example", "boss@nordwerk.example"]
    assert "bcc" not in header_names(got.data)
    assert world.cli("release", row["id"]).returncode != 0, "a second release never delivers twice"
    assert len(world.server.received) == 1


def test_sending_the_same_message_again_from_mutt_confirms_the_hold(program, world, tmp_path):
    world.write_config(HOLD_EXTERNAL)
    home = tmp_path / "home"
    first = run_mutt(program, world, home, "anna@kundenfirma.example", "Falke invoice", BODY)
    assert first.returncode != 0
    assert world.server.received == []
    # mutt writes a new Date and Message-ID on the second attempt; it is still the same message
    again = run_mutt(program, world, home, "anna@kundenfirma.example", "Falke invoice", BODY)
    assert again.returncode == 0, again.stderr
    (got,) = world.server.received
    assert got.rcpt_tos == ["anna@kundenfirma.example"]
    assert [r for r in queue_rows(world) if r["state"] == "held"] == [], "the confirmed hold is settled"


def test_blocked_address_never_leaves(program, world, tmp_path):
    world.write_config('[block]\naddresses = ["anna@kundenfirma.example"]\n')
    proc = run_mutt(program, world, tmp_path / "home", "anna@kundenfirma.example", "Falke", BODY)
    assert proc.returncode != 0
    assert world.server.received == []
    assert [r["state"] for r in queue_rows(world)] == ["blocked"]
