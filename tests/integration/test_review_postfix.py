"""``sendguard review --postfix`` on a real Postfix's hold queue: what the milter quarantined is
listed with its sender and sendguard's reason; r and d act through postsuper, as the queue
commands do, and the relay (aiosmtpd) shows what left.

Postfix, the milter and the relay are real (tests/support/postfix.py); the app runs under
Textual's Pilot, built as ``sendguard review --postfix`` builds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sendguard.config import schema as config_mod
from sendguard.tui.rowlist import RowList
from sendguard.tui.screens.message import MessageScreen
from sendguard.tui.screens.modals import ConfirmModal
from sendguard.tui.screens.queue_list import QueueScreen
from tests.conftest import make_message
from tests.support.postfix import Team, wait_until
from tests.support.tui_pilot import settle

pytestmark = pytest.mark.slow

HOLD_EXTERNAL = '[rules.external-recipient]\naction = "hold"\n'


async def decide_confirmed(pilot, app, table, row_id, key: str) -> None:
    """On row ``row_id``, press ``key``; the review asks first, and the answer is yes."""
    table.move_to(row_id)
    await pilot.press(key)
    await pilot.pause()
    assert isinstance(app.screen, ConfirmModal)
    await pilot.press("y")
    await settle(pilot)


async def until(pilot, predicate, what: str, timeout: float = 60.0) -> None:
    """Let the app run (it reads the hold queue again by itself) until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.2)
        await settle(pilot)


def rows_of(app) -> dict[str, object]:
    screen = app.screen_stack[1]
    assert isinstance(screen, QueueScreen)
    return {row.subject: row for row in screen.rows}


@contextlib.asynccontextmanager
async def reviewing_two_held(tmp_path, smtp_server) -> AsyncIterator[tuple[Team, Any, Any]]:
    """(team, app, pilot): two messages quarantined, listed in ``review --postfix`` as it is built."""
    from sendguard.tui.app import postfix_app

    with Team(tmp_path, smtp_server, hold="quarantine", extra=HOLD_EXTERNAL) as team:
        quarantine_two(team)
        app = postfix_app(config_mod.load(team.config, required=True), team.config)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: len(rows_of(app)) == 2, "both held messages listed")
            yield team, app, pilot


def quarantine_two(team: Team) -> None:
    for n in (1, 2):
        message = make_message(subject=f"Falke offer {n}")
        with smtplib.SMTP("127.0.0.1", team.postfix.port, timeout=60) as client:
            client.sendmail("me@nordwerk.example", ["anna@kundenfirma.example"], message)  # 250: accepted, held
    wait_until(lambda: len(team.held()) == 2, 60, "2 messages in the hold queue")
    team.delivered(2)  # the two notices to the sender


async def test_review_lists_postfixs_hold_queue_and_releases_and_deletes_through_postsuper(tmp_path, smtp_server):
    async with reviewing_two_held(tmp_path, smtp_server) as (team, app, pilot):
        screen = app.screen
        rows = rows_of(app)
        held_ids = {str(m["queue_id"]) for m in team.held()}
        assert {row.id for row in rows.values()} == held_ids  # Postfix's own queue ids
        first, second = rows["Falke offer 1"], rows["Falke offer 2"]
        assert first.sender == "me@nordwerk.example"
        assert first.recipients == ("anna@kundenfirma.example",)
        assert "anna@kundenfirma.example" in first.reason  # sendguard's reason, from the milter's copy
        assert "Postfix's hold queue: 2 held" in str(screen.query_one("#title").render())
        table = screen.query_one(RowList)
        assert str(table.cell(first.id, "from")) == "me@nordwerk.example"
        # only what can be done to a message in Postfix's queue is offered
        table.move_to(first.id)
        await pilot.pause()
        assert screen.check_action("release", ()) and screen.check_action("discard", ())
        assert not screen.check_action("suggest", ()) and not screen.check_action("edit", ())

        # ? lists only the keys that work here
        await pilot.press("question_mark")
        await settle(pilot)
        shown = str(app.screen.query_one("#dialog-body Static").render())
        assert "release it from Postfix's hold queue" in shown and "delete it from Postfix's hold queue" in shown
        assert "suggested recipient" not in shown and "$EDITOR" not in shown
        await pilot.press("escape")
        await settle(pilot)

        # Enter: the milter's copy, with the findings
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen)
        detail = str(app.screen.query_one("#detail").render())
        assert "Falke offer 1" in detail and "anna@kundenfirma.example" in detail
        await pilot.press("escape")
        await settle(pilot)

        # r: asks, then postsuper -H and delivery now
        await decide_confirmed(pilot, app, table, first.id, "r")
        (got,) = [m for m in team.delivered(3) if m.rcpt_tos == ["anna@kundenfirma.example"]]
        assert b"Subject: Falke offer 1" in got.data
        await until(pilot, lambda: set(rows_of(app)) == {"Falke offer 2"}, "the released one gone from the list")

        # d: asks, then postsuper -d; nothing is sent
        await decide_confirmed(pilot, app, table, second.id, "d")
        await until(pilot, lambda: rows_of(app) == {}, "an empty list")
        wait_until(lambda: team.postfix.queue() == [], 60, "an empty Postfix queue")
        assert len(smtp_server.received) == 3  # two notices and the released message
        # each decision is noted on the milter's copy (and in its incident log)
        decided = {e.id: e.meta.get("postfix_decision") for e in app.queue.entries()}
        assert decided == {first.copy_id: "released", second.copy_id: "discarded"}


async def test_a_message_gone_meanwhile_is_an_error_in_the_app_not_a_crash(tmp_path, smtp_server):
    """Another administrator (or `sendguard discard --postfix`) acted first."""
    from sendguard.tui.screens.modals import ErrorModal

    async with reviewing_two_held(tmp_path, smtp_server) as (team, app, pilot):
        target = rows_of(app)["Falke offer 1"]
        gone = team.cli("discard", "--postfix", target.id)
        assert gone.returncode == 0, gone.stderr
        app.screen.query_one(RowList).move_to(target.id)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ErrorModal) and modal.title_text == "Release failed"
        assert f"no message {target.id} in Postfix's hold queue" in modal.lines[0]
        assert [m for m in team.delivered(2) if m.rcpt_tos == ["anna@kundenfirma.example"]] == []


def test_the_real_command_in_a_terminal_opens_on_postfixs_hold_queue(tmp_path, smtp_server):
    """`sendguard review` where [milter] hold = "quarantine": Postfix's hold queue, no flag needed."""
    import os

    from tests.conftest import sendguard_exe
    from tests.support.terminal import Terminal

    with Team(tmp_path, smtp_server, hold="quarantine", extra=HOLD_EXTERNAL) as team:
        with smtplib.SMTP("127.0.0.1", team.postfix.port, timeout=60) as client:
            client.sendmail("me@nordwerk.example", ["anna@kundenfirma.example"], make_message(subject="Falke offer"))
        wait_until(lambda: len(team.held()) == 1, 60, "the message in the hold queue")
        env = {**os.environ, "TERM": "xterm-256color", "XDG_DATA_HOME": str(tmp_path / "data")}
        with Terminal(env, "review-postfix", width=100, height=30) as term:
            term.start(f"{sendguard_exe()} --config {team.config} review")
            screen = term.wait_for("Postfix's hold queue: 1 held", 60)
            assert "me@nordwerk.example" in screen and "Falke offer" in screen
            term.keys("r")
            term.wait_for("Release this message?")
            term.keys("y")
            wait_until(lambda: any(m.rcpt_tos == ["anna@kundenfirma.example"] for m in smtp_server.received), 60, "it")
            term.wait_for("Postfix's hold queue: 0 held", 30)
            term.keys("q")
            assert "EXIT=0" in term.wait_for("EXIT=", 30)
        (got,) = [m for m in smtp_server.received if m.rcpt_tos == ["anna@kundenfirma.example"]]
        assert b"Subject: Falke offer" in got.data
