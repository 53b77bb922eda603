"""Every kind of decision is an incident a person can find by its tag in ``sendguard log``.

test_incidents.py covers held, delivered, warned, released and the query language, test_oops.py
the oops report; here the remaining kinds, each made the way a person makes it (sendmail,
the CLI, taking the review app's suggestion) against the real msmtp → aiosmtpd world.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

pytest.importorskip("notmuch2")

from sendguard import paths
from sendguard.act import events
from sendguard.act import queue as q
from sendguard.config import schema as config_mod
from sendguard.recover import fix
from tests.conftest import make_message


def logged(world, query: str) -> list[dict]:
    # The observers a sendmail left detached have written their records (generous bound for a
    # loaded machine); `log` then indexes what is pending, waiting for a busy database.
    assert events.settle(paths.state_dir(), timeout=60)
    out = world.cli("log", "--wait", "60", "--json", query)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_blocked_confirmed_discarded_and_fixed_are_each_tagged(world):
    world.write_config('[rules.external-recipient]\naction = "hold"\n[block]\naddresses = ["leak@rival.example"]\n')
    assert world.send(make_message(to="leak@rival.example", subject="Prices"), "-t").returncode == 77
    confirm = make_message(to="anna@kundenfirma.example", subject="Falke offer")
    assert world.send(confirm, "-t").returncode == 75
    assert world.send(confirm, "-t").returncode == 0  # the identical message again: confirmed
    assert world.send(make_message(to="anna@kundenfirma.example", subject="Draft, not for her"), "-t").returncode == 75
    by_subject = {e.meta["subject"]: e for e in q.Queue.default().entries()}
    assert world.cli("discard", by_subject["Draft, not for her"].id).returncode == 0

    # A typo the rules suggested a fix for, taken as the review app's "s" key does.
    typo, lock = q.Queue.default().create(
        make_message(to="bob@nordwerk.exmaple", subject="Lunch"),
        {
            "state": q.HELD,
            "verdict": "hold",
            "envelope": ["bob@nordwerk.exmaple"],
            "subject": "Lunch",
            "options": ["-t"],
            "findings": [
                {
                    "rule": "lookalike-domain",
                    "severity": "hold",
                    "message": "a typo of nordwerk.example",
                    "recipient": "bob@nordwerk.exmaple",
                    "suggestion": "Bob <bob@nordwerk.example>",
                }
            ],
        },
    )
    lock.release()
    config = config_mod.load(world.config_path)
    result = fix.take_suggestion(q.Queue.default(), typo.id, config, paths.state_dir())
    assert result.delivered, result.reasons

    blocked = logged(world, "tag:blocked")
    assert [r["id"] for r in blocked] == [by_subject["Prices"].id]
    assert blocked[0]["recipients"] == ["leak@rival.example"]
    confirmed = logged(world, "tag:confirmed")
    assert confirmed and {r["subject"] for r in confirmed} == {"Falke offer"}
    assert "delivered" in {r["event"] for r in confirmed}
    discarded = logged(world, "tag:discarded")
    assert [(r["id"], r["event"]) for r in discarded] == [(by_subject["Draft, not for her"].id, "discarded")]
    fixed = logged(world, "tag:fixed")
    assert sorted(r["event"] for r in fixed) == ["delivered", "released"]
    assert {r["id"] for r in fixed} == {typo.id}
    assert all(r["recipients"] == ["bob@nordwerk.example"] for r in fixed)
    summary = Path(fixed[0]["path"]).read_text()  # the record a person opens from the log
    assert "Fixed:     took the suggested recipient: envelope: bob@nordwerk.exmaple -> bob@nordwerk.example" in summary
    assert [m.rcpt_tos for m in world.server.received] == [["anna@kundenfirma.example"], ["bob@nordwerk.example"]]


def test_an_undone_message_is_in_the_log_as_undone(world):
    world.write_config("[delay]\nseconds = 600\n")
    assert world.send(make_message(to="bob@nordwerk.example", subject="Too soon"), "-t").returncode == 0
    (entry,) = q.Queue.default().entries()
    out = world.cli("undo", "--json")
    assert out.returncode == 0, out.stderr
    try:
        os.kill(json.loads((entry.path / "worker.pid").read_text()), signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass  # it ended by itself, or is only now writing its pid: either way it finds it undone and ends
    rows = logged(world, "tag:undone")
    assert [(r["id"], r["event"], r["subject"]) for r in rows] == [(entry.id, "undone", "Too soon")]
    assert world.server.received == []
