"""The history on the real send path: sendguard-sendmail → msmtp → a loopback SMTP server."""

from __future__ import annotations

import json
import math
import subprocess

from sendguard import paths
from sendguard.act import events
from sendguard.decide import train
from sendguard.history.store import open_read_only
from tests.support import history_fixtures as hf
from tests.support.wait import wait_until

INTERNAL_NOTE = (
    "Hallo Thomas,\n\nzur Umstrukturierung: die Personalkosten der Abteilung müssen sinken.\n"
    "Budget und Gehälter besprechen wir morgen.\n\nGruß\nPetra"
)


def learn_fixture_history(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The fixture user's config with the world's msmtp, and their mail learned by `sendguard learn`."""
    world.config_path.write_text(
        hf.CONFIG_TEXT + f'\n[transport]\ncommand = ["msmtp", "-C", "{world.msmtprc}"]\n\n[sendmail]\nnotify = false\n'
    )
    maildir = hf.write_maildir(tmp_path / "sent", hf.history_messages())
    learned = subprocess.run(
        [world.sendguard, "--config", str(world.config_path), "learn", str(maildir)],
        capture_output=True,
        text=True,
        env=world.env(),
    )
    assert learned.returncode == 0, learned.stderr


def test_namesake_is_held_and_delivered_mail_is_learned(world, tmp_path):
    learn_fixture_history(world, tmp_path)

    wrong = hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, cc=[hf.COLLEAGUE], n=200)
    held = world.send(wrong, "--", hf.CLIENT_THOMAS, hf.COLLEAGUE)
    assert held.returncode == 75 and not world.server.received
    assert hf.BOSS.encode() in held.stderr  # "did you mean" the boss

    right = hf.mail([hf.BOSS], "Personalkosten Abteilung", INTERNAL_NOTE, cc=[hf.COLLEAGUE], n=201)
    sent = world.send(right, "--", hf.BOSS, hf.COLLEAGUE)
    assert sent.returncode == 0, sent.stderr
    assert len(world.server.received) == 1
    assert events.settle(paths.state_dir())  # sendmail's detached observers have learned it
    store = open_read_only(paths.state_dir())
    assert store.contact(hf.BOSS).sent == 16  # 15 learned + the one just delivered


def fitted_on(state) -> int:
    """How many sent messages the stored judgement was fitted on."""
    raw = open_read_only(state).judgement()
    return int(json.loads(raw)["report"]["sent"]) if raw else -1


def test_delivered_mail_refits_the_judgement_without_a_learn(world, tmp_path):
    learn_fixture_history(world, tmp_path)
    state = paths.state_dir()
    before = fitted_on(state)
    assert before > 0
    grown = max(train.STALE_MIN, math.ceil(train.STALE_SHARE * before))
    for n in range(grown):
        note = hf.mail([hf.COLLEAGUE], f"Wochenplan {n}", "Hallo Mia,\n\nder Plan steht im Wiki.\n", n=300 + n)
        sent = world.send(note, "--", hf.COLLEAGUE)
        assert sent.returncode == 0, sent.stderr.decode()
        if n == grown - 2:  # not stale yet: nothing refitted
            assert events.settle(state) and fitted_on(state) == before
    assert len(world.server.received) == grown
    # The refit runs in the last mail's detached observer, after its lock: wait for it.
    assert wait_until(lambda: fitted_on(state) == before + grown), fitted_on(state)
