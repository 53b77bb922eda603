"""Sending a fixed message again supersedes the copy still held: it no longer waits for the
person (review does not count it as "needs you"), `queue list` shows it, and it stays releasable."""

from __future__ import annotations

import json

from sendguard.act import queue as q
from sendguard.act.supersede import supersede
from sendguard.config.schema import Config
from sendguard.recover.review_data import queue_rows
from tests.conftest import make_message

STRICT = '[rules.external-recipient]\naction = "hold"\n'
NOTE = "Hallo Markus,\n\nhier die Zahlen zur Kostensenkung 2027.\n\nGruss\nMe\n"


def rows(world, *flags: str) -> dict[str, dict]:
    out = world.cli("queue", "list", "--json", *flags).stdout.splitlines()
    return {r["id"]: r for r in map(json.loads, out)}


def test_the_same_text_to_the_right_recipient_supersedes_the_held_copy(world):
    world.write_config(STRICT)
    wrong = make_message(to="markus.brandt@kundenfirma.example", subject="Kosten", body=NOTE)
    assert world.send(wrong, "markus.brandt@kundenfirma.example").returncode == 75
    (held_id,) = rows(world)
    fixed = make_message(to="m.berger@nordwerk.example", subject="Kosten", body=NOTE)  # a new Message-ID
    assert world.send(fixed, "m.berger@nordwerk.example").returncode == 0
    listed = rows(world)
    assert listed[held_id]["state"] == "superseded", "listed by default, and not held any more"
    assert "superseded by" in world.cli("queue", "list").stdout
    row = next(r for r in queue_rows(q.Queue.default(), 0.0) if r.id == held_id)
    assert row.state == "superseded" and "superseded by" in row.reason  # review shows it, needing nobody
    assert len(world.server.received) == 1
    assert world.cli("release", held_id).returncode == 0, "still the person's to send"
    assert len(world.server.received) == 2


def test_the_same_message_id_supersedes_even_with_the_text_changed(world):
    world.write_config(STRICT)
    first = make_message(subject="Falke", body="Hello Anna,\n\ndraft one.\n", extra_headers="")
    first = first.replace(b"Message-ID: <test-", b"Message-ID: <same-1@x>\nX-Old: <")
    assert world.send(first, "anna@kundenfirma.example").returncode == 75
    (held_id,) = rows(world)
    second = first.replace(b"draft one.", b"draft two, fixed.")
    assert world.send(second, "anna@kundenfirma.example").returncode == 75, "held again: anna is still outside"
    listed = rows(world)
    assert listed[held_id]["state"] == "superseded"
    assert [r["state"] for i, r in listed.items() if i != held_id] == ["held"]


def test_other_text_or_the_identical_message_supersedes_nothing(world):
    world.write_config(STRICT)
    assert world.send(make_message(body="Hello Anna,\n\none.\n"), "anna@kundenfirma.example").returncode == 75
    other = make_message(to="bob@kundenfirma.example", body="Hello Bob,\n\nsomething else.\n")
    assert world.send(other, "bob@kundenfirma.example").returncode == 75
    assert sorted(r["state"] for r in rows(world).values()) == ["held", "held"]


def test_only_within_the_confirm_window(tmp_path):
    queue = q.Queue(tmp_path / "queue")
    raw = make_message(body="same text\n")
    old, lock = queue.create(raw, {"state": q.HELD, "envelope": ["a@x.example"]})
    lock.release()
    old.save(created="2026-01-01T00:00:00+00:00")
    new, lock = queue.create(raw.replace(b"Message-ID:", b"X-Id:"), {"state": q.ACCEPTED, "envelope": ["b@x.example"]})
    lock.release()
    config = Config()
    config.log.enabled = False
    assert supersede(queue, new, config) == [], "a day later it is a new message, not a fix"
    old.save(created=new.meta["created"])
    assert supersede(queue, new, config) == [old.id]
    assert queue.get(old.id).meta["superseded_by"] == new.id


def _learned_ids(state_dir) -> set[str]:
    import sqlite3

    from sendguard.history.store import path_in

    db = sqlite3.connect(path_in(state_dir))
    try:
        return {row[0] for row in db.execute("SELECT msgid FROM messages")}
    finally:
        db.close()


def test_a_superseded_copy_is_never_learned_but_a_fix_of_its_own_message_id_is(world, tmp_path):
    from sendguard import paths
    from tests.support.history_fixtures import write_maildir

    world.write_config(STRICT)
    wrong = make_message(to="markus.brandt@kundenfirma.example", subject="Kosten", body=NOTE)
    assert world.send(wrong, "markus.brandt@kundenfirma.example").returncode == 75
    fixed = make_message(to="m.berger@nordwerk.example", subject="Kosten", body=NOTE)
    assert world.send(fixed, "m.berger@nordwerk.example").returncode == 0
    first = make_message(subject="Falke", body="Hello Anna,\n\ndraft one.\n")
    first = first.replace(b"Message-ID: <test-", b"Message-ID: <same-2@x>\nX-Old: <")
    assert world.send(first, "anna@kundenfirma.example").returncode == 75
    second = first.replace(b"draft one.", b"draft two.").replace(b"anna@kundenfirma", b"anna@nordwerk")
    assert world.send(second, "anna@nordwerk.example").returncode == 0
    assert sorted(r["state"] for r in rows(world, "--all").values()) == [
        "delivered",
        "delivered",
        "superseded",
        "superseded",
    ]
    # the mail program filed all four in Sent (hold_action = "queue" says 0 to a hold): learn them
    sent = write_maildir(tmp_path / "Sent", [wrong, fixed, first, second])
    assert world.cli("learn", str(sent)).returncode == 0
    learned = _learned_ids(paths.state_dir())
    assert "same-2@x" in learned, "the fix shares the superseded copy's Message-ID and is learned"
    wrong_id = wrong.split(b"Message-ID: <")[1].split(b">")[0].decode()
    fixed_id = fixed.split(b"Message-ID: <")[1].split(b">")[0].decode()
    assert fixed_id in learned
    assert wrong_id not in learned, "the copy sent to the wrong person is never learned"
