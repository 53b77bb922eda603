"""Nothing leaves without a verdict under the config in force: a message kept before it could be
checked (a broken config, a crash before the decision) is checked on release, on `queue run`
and on review's send, like a new one; only `release --unchecked` sends it as it is."""

from __future__ import annotations

import json

from sendguard.act import ops
from sendguard.act import queue as q
from sendguard.config.schema import load
from tests.conftest import make_message

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n"
HOLDS = make_message(subject="the key", body=f"Hello Anna,\n\nhere is the server key:\n\n{KEY}\nRegards\nMe\n")
PASSES = make_message(subject="Falke status", body="Hello Anna,\n\nthe rollout is on track.\n\nRegards\nMe\n")


def _typo(world) -> None:
    text = world.config_path.read_text()
    world.config_path.write_text(text.replace("[organization]", "[organisation]"))


def _kept_after_error(world, raw: bytes) -> str:
    _typo(world)
    proc = world.send(raw, "anna@kundenfirma.example")
    assert proc.returncode == 78, proc.stderr
    world.write_config()  # the person fixes the config
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert row["state"] == "held"
    return str(row["id"])


def test_release_checks_a_message_kept_by_a_config_error_and_holds_it(world):
    entry_id = _kept_after_error(world, HOLDS)
    proc = world.cli("release", entry_id)
    assert proc.returncode == 75, proc.stderr
    assert world.server.received == [], "checked under the fixed config: held, not delivered"
    assert "private key" in proc.stderr and "Not sent" in proc.stderr
    listed = world.cli("queue", "list").stdout
    assert entry_id in listed and "held" in listed and "private key" in listed
    # The person has now seen the reason: releasing it again is an informed decision.
    again = world.cli("release", entry_id)
    assert again.returncode == 0, again.stderr
    assert len(world.server.received) == 1


def test_release_of_a_kept_message_that_passes_now_delivers_it(world):
    entry_id = _kept_after_error(world, PASSES)
    proc = world.cli("release", entry_id)
    assert proc.returncode == 0, proc.stderr
    assert len(world.server.received) == 1
    meta = json.loads((q.Queue.default().resolve(entry_id) / "meta.json").read_text())
    assert meta["verdict"] == "pass" and meta["error"] == []
    assert any(e["event"].startswith("checked") for e in meta["events"])


def test_release_unchecked_is_the_explicit_way_round(world):
    entry_id = _kept_after_error(world, HOLDS)
    proc = world.cli("release", "--unchecked", entry_id)
    assert proc.returncode == 0, proc.stderr
    assert len(world.server.received) == 1
    meta = json.loads((q.Queue.default().resolve(entry_id) / "meta.json").read_text())
    assert meta["released_unchecked"] is True


def test_release_and_discard_take_several_ids(world):
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    for n in range(3):
        assert world.send(make_message(subject=f"n{n}"), "anna@kundenfirma.example").returncode == 75
    ids = [json.loads(line)["id"] for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert world.cli("release", ids[0], ids[1]).returncode == 0
    assert len(world.server.received) == 2
    assert world.cli("discard", ids[2], "nosuchid").returncode != 0
    states = {
        json.loads(x)["id"]: json.loads(x)["state"]
        for x in world.cli("queue", "list", "--json", "--all").stdout.splitlines()
    }
    assert states[ids[2]] == "discarded"


def test_queue_run_checks_what_was_never_decided(world):
    config = load(world.config_path)
    queue = q.Queue.default()
    for raw in (HOLDS, PASSES):  # kept, and the process died before the check decided
        entry, lock = queue.create(raw, {"state": q.RECEIVED, "argv": ["-t"], "options": [], "recipients": []})
        lock.release()
    report = ops.run_due(queue, config)
    assert report.delivered == 1, report.lines
    assert len(world.server.received) == 1 and b"rollout" in world.server.received[0].data
    states = sorted(e.state for e in queue.entries())
    assert states == [q.DELIVERED, q.HELD]
    assert any("checked now: hold" in line for line in report.lines)


def test_a_due_entry_kept_after_an_error_is_checked_before_queue_run_sends_it(world):
    config = load(world.config_path)
    queue = q.Queue.default()
    entry, lock = queue.create(
        HOLDS,
        {
            "state": q.RELEASED,
            "argv": ["anna@kundenfirma.example"],
            "error": ["configuration error"],
            "findings": [],
            "verdict": "hold",
        },
    )
    lock.release()
    report = ops.run_due(queue, config)
    assert report.delivered == 0 and world.server.received == []
    assert queue.get(entry.id).state == q.HELD
    assert queue.get(entry.id).meta["envelope"] == ["anna@kundenfirma.example"]


def test_the_story_kept_by_a_config_typo_is_held_on_release(world, tmp_path):
    """A learned history; the internal note addressed to the client namesake of the boss; the
    config has a typo when it is sent; the config is fixed; `release` checks it and holds it."""
    from tests.support import history_fixtures as hf

    transport = "[transport]" + world.config_path.read_text().split("[transport]", 1)[1]
    good = hf.CONFIG_TEXT + "\n" + transport  # Petra's world, msmtp to the test server
    world.config_path.write_text(good)
    learned = world.cli("learn", str(hf.write_maildir(tmp_path / "Sent", hf.history_messages())))
    assert learned.returncode == 0, learned.stderr
    story = hf.mail(
        [hf.CLIENT_THOMAS],
        "Personalkosten Abteilung",
        "Hallo Thomas,\n\nzur Umstrukturierung: die Personalkosten der Abteilung müssen sinken, "
        "zwei Stellen fallen weg. Budget und Gehälter besprechen wir morgen.\n\nGruß\nPetra",
        n=100,
    )
    world.config_path.write_text(good.replace("[organization]", "[organisation]"))
    assert world.send(story, "-t").returncode == 78
    world.config_path.write_text(good)
    (row,) = [json.loads(x) for x in world.cli("queue", "list", "--json").stdout.splitlines()]
    proc = world.cli("release", row["id"])
    assert proc.returncode == 75, proc.stderr
    assert world.server.received == [], "not delivered to the client"
    assert f"Did you mean {hf.BOSS}" in proc.stderr or hf.BOSS in proc.stderr
