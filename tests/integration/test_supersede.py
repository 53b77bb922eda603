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
