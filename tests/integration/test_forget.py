"""A mistake never becomes history: a delivered misdirected message is forgotten (by `forget` or
`oops`), and re-learning the Sent folder the mail program filed it in does not bring it back.

The world: Petra Lang's synthetic sent history (tests/support/history_fixtures.py), where an
internal note about staff costs to the client contact Thomas Kern — namesake of her boss Thomas
Keller — is held. Real sendguard-sendmail, msmtp and an SMTP server on 127.0.0.1.
"""

from __future__ import annotations

import json

import pytest

from tests.support import history_fixtures as hf
from tests.support.oops_world import deliver, setup_world, verdict
from tests.support.oops_world import sent_to as sent_to_addr

INTERNAL_NOTE = (
    "Hallo Thomas,\n\nzur Umstrukturierung: die Personalkosten der Abteilung müssen sinken, "
    "zwei Stellen fallen weg. Budget und Gehälter besprechen wir morgen.\n\nGruß\nPetra"
)


@pytest.mark.parametrize("how", ["forget-id", "forget-message-id", "oops"])
def test_a_delivered_mistake_is_forgotten_and_relearning_sent_keeps_it_out(world, tmp_path, how):
    sent = setup_world(world, tmp_path)
    probe = hf.mail(
        [hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, cc=[hf.COLLEAGUE], msgid="probe@x.example", n=200
    )
    assert verdict(world, tmp_path, probe) == "hold"
    known = sent_to_addr(hf.CLIENT_THOMAS)

    mistake = hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, msgid="mistake@x.example", n=100)
    entry_id = deliver(world, mistake)
    (sent / "cur" / "1800000000.mistake.test:2,S").write_bytes(mistake)  # mutt's Fcc
    assert sent_to_addr(hf.CLIENT_THOMAS) == known + 1  # the delivery taught the history

    if how == "forget-id":
        out = world.cli("forget", entry_id)
    elif how == "forget-message-id":
        out = world.cli("forget", "<mistake@x.example>")
    else:
        out = world.cli("oops", entry_id, "--json")
    assert out.returncode == 0, out.stderr
    assert sent_to_addr(hf.CLIENT_THOMAS) == known

    out = world.cli("learn", str(sent))
    assert out.returncode == 0 and "learned 0 new messages" in out.stdout
    assert sent_to_addr(hf.CLIENT_THOMAS) == known
    assert verdict(world, tmp_path, probe) == "hold"


def test_a_held_then_discarded_message_is_never_learned(world, tmp_path):
    sent = setup_world(world, tmp_path)
    known = sent_to_addr(hf.CLIENT_THOMAS)
    mistake = hf.mail(
        [hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, cc=[hf.COLLEAGUE], msgid="held@x.example", n=100
    )
    assert world.send(mistake, "-t").returncode == 75  # held
    (entry,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert world.cli("discard", entry["id"]).returncode == 0
    (sent / "cur" / "1800000000.held.test:2,S").write_bytes(mistake)  # the mail program filed it anyway
    out = world.cli("learn", str(sent))
    assert "learned 0 new messages" in out.stdout
    assert sent_to_addr(hf.CLIENT_THOMAS) == known


def test_an_undone_message_is_never_learned_but_its_draft_sent_again_is(world, tmp_path):
    """Undo is for the mistake seen a second too late; mutt filed it in Sent when sendmail said 0."""
    from pathlib import Path

    from sendguard import paths
    from sendguard.act import events

    sent = setup_world(world, tmp_path, extra="\n[delay]\nseconds = 600\n")
    known = sent_to_addr(hf.COLLEAGUE)
    note = hf.mail(
        [hf.COLLEAGUE], "Kaffee", "Hallo Martin,\n\nKaffee um drei?\n\nGruß\nPetra", msgid="undone@x.example"
    )
    assert world.send(note, "-t").returncode == 0  # waiting in the undo window
    undo = world.cli("undo", "--json")
    assert undo.returncode == 0, undo.stderr
    draft = Path(json.loads(undo.stdout)["draft"])
    (sent / "cur" / "1800000000.undone.test:2,S").write_bytes(note)
    out = world.cli("learn", str(sent))
    assert "learned 0 new messages" in out.stdout
    assert sent_to_addr(hf.COLLEAGUE) == known

    world.config_path.write_text(world.config_path.read_text().replace("seconds = 600", "seconds = 0"))
    assert world.send(draft.read_bytes(), "-t").returncode == 0  # mutt -H keeps the Message-ID
    assert len(world.server.received) == 1
    assert events.settle(paths.state_dir(), 60)
    assert sent_to_addr(hf.COLLEAGUE) == known + 1, "it left this time: a real relationship"


def test_forget_says_what_it_did_in_one_line(world, tmp_path):
    setup_world(world, tmp_path)
    out = world.cli("forget", "never-seen@x.example")
    assert out.returncode == 0 and out.stdout.count("\n") == 1 and "never be learned" in out.stdout
    out = world.cli("forget", "20991231-000000-ffffff")
    assert out.returncode == 64 and "no such message" in out.stderr and "Traceback" not in out.stderr
    assert world.cli("forget").returncode == 64
