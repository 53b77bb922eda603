"""[sent] maildir: what sendguard itself delivers from the queue is filed in the Sent folder
(seen, whole, once); what the mail program handed over and saw leave is not (it files that)."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

from sendguard.act import delay as undo
from sendguard.act import queue as q
from sendguard.act.ops import run_due
from sendguard.config import schema as config_mod
from sendguard.recover import fix
from sendguard.sendpath.path import SendPath
from tests.conftest import make_message

STRICT = '[rules.external-recipient]\naction = "hold"\n'


def sent_dir(world) -> Path:
    return world.root / "Mail" / "Sent"


def config_with(world, extra: str = "") -> None:
    world.write_config(f'[sent]\nmaildir = "{sent_dir(world)}"\n' + extra)


def filed(world) -> list[Path]:
    folder = sent_dir(world)
    return sorted(p for sub in ("cur", "new") if (folder / sub).is_dir() for p in (folder / sub).iterdir())


def only_id(world) -> str:
    (row,) = [json.loads(x) for x in world.cli("queue", "list", "--json").stdout.splitlines()]
    return str(row["id"])


def test_a_released_message_is_filed_seen_and_whole(world):
    config_with(world, STRICT)
    raw = make_message()
    assert world.send(raw, "anna@kundenfirma.example").returncode == 75
    assert filed(world) == []
    proc = world.cli("release", only_id(world))
    assert proc.returncode == 0, proc.stderr
    (copy,) = filed(world)
    assert copy.parent.name == "cur" and copy.name.endswith(":2,S")
    assert copy.read_bytes() == raw
    assert copy.stat().st_mode & 0o077 == 0
    assert list((sent_dir(world) / "tmp").iterdir()) == []


def test_what_the_mail_program_saw_leave_is_not_filed(world):
    config_with(world)
    assert world.send(make_message(), "anna@kundenfirma.example").returncode == 0
    assert len(world.server.received) == 1
    assert filed(world) == [], "the mail program files what it sent itself"


def test_a_fix_taken_in_review_is_filed(world):
    config_with(world, STRICT)
    assert world.send(make_message(to="anna@kundenfirma.example"), "anna@kundenfirma.example").returncode == 75
    entry_id = only_id(world)
    entry = q.Queue.default().get(entry_id)
    findings = entry.meta["findings"]
    findings[0]["suggestion"] = "anna@nordwerk.example"
    entry.save(findings=findings)
    config = config_mod.load(world.config_path)
    result = fix.take_suggestion(q.Queue.default(), entry_id, config, Path(os.environ["XDG_DATA_HOME"]) / "sendguard")
    assert result.delivered
    (copy,) = filed(world)
    assert b"To: anna@nordwerk.example" in copy.read_bytes()


def test_queue_run_files_what_it_delivers(world):
    world.write_config()
    text = world.config_path.read_text().replace('command = ["msmtp"', 'command = ["no-such-msmtp"')
    world.config_path.write_text(text)
    assert world.send(make_message(), "anna@kundenfirma.example").returncode == 75  # transport missing: deferred
    assert filed(world) == []
    config_with(world)
    proc = world.cli("queue", "run")
    assert proc.returncode == 0, proc.stdout
    assert len(world.server.received) == 1 and len(filed(world)) == 1


def test_the_undo_window_files_once_even_when_the_mail_program_filed_it(world):
    config_with(world, "[delay]\nseconds = 30\n")
    now = float(int(time.time()) + 86400)
    for n, pre_filed in enumerate((False, True)):
        raw = make_message(subject=f"undo {n}")
        stderr = io.StringIO()
        assert SendPath(world.config_path, stderr, now=now).run(["-t"], io.BytesIO(raw)) == 0
        entry = q.Queue.default().entries()[-1]
        if pre_filed:  # mutt's record / aerc's copy-to: filed when sendmail said 0
            from sendguard.act.sent import write_seen

            write_seen(sent_dir(world), raw)
        config = config_mod.load(world.config_path)
        assert undo.deliver_if_due(q.Queue.default(), entry.id, config, now=now + 60) == q.DELIVERED
    assert len(world.server.received) == 2
    copies = [p.read_bytes() for p in filed(world)]
    assert sorted(c.split(b"Subject: ")[1][:6] for c in copies) == [b"undo 0", b"undo 1"], "each exactly once"


def test_a_copy_that_cannot_be_written_does_not_undo_the_delivery(world):
    blocker = world.root / "Mail"
    blocker.write_text("a file where the folder should be")
    config_with(world, STRICT)
    assert world.send(make_message(), "anna@kundenfirma.example").returncode == 75
    entry_id = only_id(world)
    proc = world.cli("release", entry_id)
    assert proc.returncode == 0 and len(world.server.received) == 1
    assert "no copy could be filed" in proc.stderr
    assert q.Queue.default().get(entry_id).state == q.DELIVERED
    config = config_mod.load(world.config_path)
    assert run_due(q.Queue.default(), config).delivered == 0
