"""Pilot tests: every key of the review app against a real queue, delivering through the real
msmtp to a real SMTP server (the ``world`` fixture)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from sendguard.act.queue import Queue
from sendguard.tui.rowlist import RowList
from sendguard.tui.screens.help import HelpScreen
from sendguard.tui.screens.incidents import IncidentsScreen
from sendguard.tui.screens.message import MessageScreen
from sendguard.tui.screens.modals import ChoiceModal, ConfirmModal, ErrorModal
from sendguard.tui.screens.queue_list import QueueScreen
from tests.support import tui_snapshot_app as data
from tests.support.tui_pilot import settle

pytestmark = pytest.mark.usefixtures("utc")  # times on screen are UTC


@pytest.fixture
def app(world):
    world.write_config("\n# keep this comment\n[allow]\ndomains = []  # and this one\n")
    return data.make_app(Path(os.environ["XDG_DATA_HOME"]), config_path=world.config_path)


async def select(pilot, entry_id: str) -> None:
    screen = pilot.app.screen
    screen.query_one(RowList).move_to(entry_id)
    await pilot.pause()


def queue_of(app) -> Queue:
    return app.queue


def static_text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_queue_list_order_and_preview(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        table = screen.query_one(RowList)
        assert table.keys == [
            data.HELD_ID,
            data.HOSTILE_ID,
            data.BLOCKED_ID,
            data.DELAYED_ID,
            data.DEFERRED_ID,
            data.DELIVERED_ID,
        ]
        assert str(table.cell(data.DELAYED_ID, "when")) == "in 0:42"
        assert "The greeting says Markus" in static_text(screen, "#preview")


async def test_filter(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"lunch", "enter")
        table = app.screen.query_one(RowList)
        assert table.row_count == 1 and screen_id(app) == data.DELAYED_ID
        assert app.focused is table  # Enter leaves the filter; keys act on the list again
        app.screen.query_one(Input).value = ""
        await pilot.pause()
        assert table.row_count == 6


def screen_id(app) -> str | None:
    return app.screen.current_entry_id()


async def test_release_asks_then_sends_through_msmtp(app, world):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select(pilot, data.HELD_ID)
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")  # no: nothing happens
        await settle(pilot)
        assert world.server.received == [] and queue_of(app).get(data.HELD_ID).state == "held"
        await pilot.press("r", "y")
        await settle(pilot)
        assert queue_of(app).get(data.HELD_ID).state == "delivered"
        (mail,) = world.server.received
        assert mail.rcpt_tos == ["anna@kundenfirma.example"]
        assert mail.data == queue_of(app).get(data.HELD_ID).raw().replace(b"\n", b"\r\n")
        table = app.screen.query_one(RowList)
        assert str(table.cell(data.HELD_ID, "state")) == "delivered"  # the list was read again


async def test_discard_asks_then_discards(app, world):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select(pilot, data.BLOCKED_ID)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        assert queue_of(app).get(data.BLOCKED_ID).state == "discarded"
        assert data.BLOCKED_ID not in app.screen.shown
        assert world.server.received == []


async def test_take_suggestion_shows_changes_then_checks_and_sends(app, world):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select(pilot, data.HELD_ID)
        await pilot.press("s")
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        shown = str(modal.body)
        assert "anna@kundenfirma.example" in shown and "m.berger@falkenbau.example" in shown
        await pilot.press("y")
        await settle(pilot)
        entry = queue_of(app).get(data.HELD_ID)
        assert entry.state == "delivered", entry.meta.get("findings")
        (mail,) = world.server.received
        assert mail.rcpt_tos == ["m.berger@falkenbau.example"]
        assert b"To: Markus Berger <m.berger@falkenbau.example>\r\n" in mail.data
        assert b"Hallo Markus," in mail.data
        assert any("took the suggested recipient" in e["event"] for e in entry.meta["events"])


async def test_suggestion_absent_is_not_offered(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select(pilot, data.DEFERRED_ID)
        assert app.screen.check_action("suggest", ()) is False  # not in the footer either
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)


async def test_edit_in_editor_then_checked_again(app, tmp_path, monkeypatch):
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/Hallo Markus/Hallo Anna/' \"$1\"\n")
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select(pilot, data.HELD_ID)
        await pilot.press("e")
        await settle(pilot)
        entry = queue_of(app).get(data.HELD_ID)
        assert b"Hallo Anna," in entry.raw() and entry.state == "held"
        assert b"Hallo Markus," in (entry.path / "original.eml").read_bytes()
        assert entry.meta["events"][-1]["event"].startswith("checked again")
        assert not list(entry.path.glob(".edit-*"))  # the private copy is gone


async def test_editor_failure_is_shown_not_raised(app, monkeypatch):
    monkeypatch.setenv("EDITOR", "/nonexistent/editor")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        assert isinstance(app.screen, ErrorModal)
        assert "cannot be run" in app.screen.lines[0]


async def test_allow_writes_config_keeping_comments(app, world):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select(pilot, data.HELD_ID)
        await pilot.press("a")
        assert isinstance(app.screen, ChoiceModal)
        await pilot.press("down", "enter")  # the domain
        await settle(pilot)
    text = world.config_path.read_text()
    assert 'domains = ["kundenfirma.example"]  # and this one' in text
    assert "# keep this comment" in text
    assert app.config.allow.domains == ["kundenfirma.example"]


async def test_false_alarm_is_recorded(app):
    from sendguard.decide import false_alarms

    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select(pilot, data.HELD_ID)
        await pilot.press("f")
        await settle(pilot)
    assert false_alarms.load(app.state_dir) == {("greeting-mismatch", "anna@kundenfirma.example"): 1}
    from sendguard.history import (
        trust,  # handed to the history's "don't ask again", for that rule only
    )

    assert trust.trusted(app.state_dir) == [("anna@kundenfirma.example", "greeting-mismatch")]


async def test_copy_id(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select(pilot, data.DEFERRED_ID)
        await pilot.press("y")
        assert app.clipboard == data.DEFERRED_ID


async def test_message_screen_and_actions_there(app, world):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select(pilot, data.HELD_ID)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen)
        shown = static_text(app.screen, "#detail")
        assert shown.index("anna@kundenfirma.example") < shown.index("Why") < shown.index("Hallo Markus")
        assert "outside" in shown and "client kundenfirma" in shown
        assert "Did you mean Markus Berger <m.berger@falkenbau.example>?" in shown
        await pilot.press("y")
        assert app.clipboard == data.HELD_ID
        await pilot.press("r", "y")
        await settle(pilot)
        assert "DELIVERED" in static_text(app.screen, "#detail")
        assert len(world.server.received) == 1
        await pilot.press("escape")
        assert isinstance(app.screen, QueueScreen)


async def test_release_failure_is_shown_with_details(app, world):
    world.server.refuse.add("anna@kundenfirma.example")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select(pilot, data.HELD_ID)
        await pilot.press("r", "y")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "the transport failed" in app.screen.lines[0]
        assert queue_of(app).get(data.HELD_ID).state in ("failed", "deferred")  # kept, not lost
        await pilot.press("escape")
        await pilot.press("r", "y")  # releasing again is allowed: it is still kept
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)


async def test_incidents_search_and_open(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, IncidentsScreen)
        assert screen.query_one(RowList).row_count == 7  # discarded ones too
        await pilot.press("slash", *"old news", "enter")
        await settle(pilot)  # every keystroke starts a search in a worker thread
        assert [r.id for r in screen.shown] == [data.DISCARDED_ID]
        await pilot.press("y")
        assert app.clipboard == data.DISCARDED_ID
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen) and "DISCARDED" in static_text(app.screen, "#detail")
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, QueueScreen)


async def test_help_lists_every_key(app):
    from sendguard.tui.keys import KEYS

    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        shown = static_text(app.screen, "#dialog-body Static")
        for key in KEYS:
            assert key.description in shown
        await pilot.press("escape")
        assert isinstance(app.screen, QueueScreen)


async def test_hostile_message_is_inert(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RowList)
        cell = table.cell(data.HOSTILE_ID, "subject")
        assert str(cell).startswith("[bold red]PWNED[/] [@click")  # literally, unstyled
        assert not cell.spans and cell.style == ""
        await select(pilot, data.HOSTILE_ID)
        await pilot.press("enter")
        await settle(pilot)
        shown = static_text(app.screen, "#detail")
        assert "[@click=app.quit]Click[/]" in shown and "\\x1b[31mred" in shown and "\x1b" not in shown
        # the would-be link is no link: clicking it leaves the app running
        await pilot.click("#detail", offset=(2, 15))
        await pilot.click("#detail", offset=(5, 1))
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, MessageScreen)
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\x07" not in svg
        await pilot.press("s")  # its "suggestion" is no address at all: refused, in the app
        assert isinstance(app.screen, ErrorModal)
        await pilot.press("escape")
        assert app.is_running


async def test_countdown_ticks(world, tmp_path):
    clock = [data.NOW]
    app = data.make_app(Path(os.environ["XDG_DATA_HOME"]), config_path=world.config_path)
    app.now = lambda: clock[0]
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        clock[0] += 2
        app.screen.tick()
        await pilot.pause()
        assert str(app.screen.query_one(RowList).cell(data.DELAYED_ID, "when")) == "in 0:40"


async def test_incidents_from_the_notmuch_log(app):
    import shutil

    from sendguard.incidents import record, store
    from sendguard.tui.screens.incidents import RecordScreen

    for entry in app.queue.entries():
        record.record(entry, entry.state, app.config, now=data.NOW)
    report = store.index_pending(app.state_dir)
    assert report.indexed == 7
    shutil.rmtree(app.queue.root / data.DISCARDED_ID)  # pruned from the queue; its record stays
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        screen = app.screen
        assert screen.source == "incident log" and len(screen.shown) == 7
        await pilot.press("slash", *"subject:Minutes")
        await settle(pilot)
        assert [r.id for r in screen.shown] == [data.DEFERRED_ID]
        await pilot.press("enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen)
        await pilot.press("escape", "slash", "ctrl+u", *"Old", "enter")
        await settle(pilot)  # the search runs in a worker: open a row of its result, not of the last list
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RecordScreen)
        assert "Old news" in str(app.screen.query_one(Static).render())


async def test_new_held_mail_appears_by_itself(app, world):
    from tests.conftest import make_message

    world.write_config('\n[rules.external-recipient]\naction = "hold"\n')
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.query_one(RowList).row_count == 6
        sent = world.send(make_message(to="zoe@outside.example", subject="Fresh"), "zoe@outside.example")
        assert sent.returncode == 75
        deadline = time.monotonic() + 20  # the once-a-second check notices the new entry
        while app.screen.query_one(RowList).row_count != 7 and time.monotonic() < deadline:
            await pilot.pause(0.1)
        await settle(pilot)
        table = app.screen.query_one(RowList)
        assert table.row_count == 7 and "Fresh" in str(table.cell(table.keys[0], "subject"))


async def test_mouse_selects_and_double_click_opens(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.click("#queue", offset=(5, 3))  # line 0 is the header: this is the third row
        assert app.screen.current_entry_id() == data.BLOCKED_ID
        await pilot.double_click("#queue", offset=(5, 3))
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen) and app.screen.entry_id == data.BLOCKED_ID


async def test_slow_transport_never_freezes_the_screen(app, world, tmp_path):
    # The transport says it started, then waits for the test's go (bounded, so a failing test
    # leaves nothing behind for long): "still at work" is a fact, not a race against a sleep.
    started, go = tmp_path / "transport-started", tmp_path / "transport-go"
    slow = tmp_path / "slow-msmtp"
    slow.write_text(
        f"#!/bin/sh\ntouch {started}\nn=0\n"
        f"while [ ! -e {go} ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done\n"
        f'exec msmtp -C {world.msmtprc} "$@"\n'
    )
    slow.chmod(0o755)
    app.config.transport.command = [str(slow)]
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select(pilot, data.HELD_ID)
        await pilot.press("r", "y")
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert started.exists(), "the release never started the transport"
        await pilot.press("question_mark")  # the app answers while msmtp is still at work
        assert isinstance(app.screen, HelpScreen)
        assert world.server.received == []
        go.touch()
        await pilot.press("escape", "down", "up")
        await settle(pilot)
        assert len(world.server.received) == 1
        assert queue_of(app).get(data.HELD_ID).state == "delivered"


async def test_notifications_carry_message_text_inertly(app):
    entry = app.queue.get(data.HOSTILE_ID)
    findings = entry.meta["findings"]
    findings[0]["recipient"] = "[b]x\x1b]0;owned\x07@evil.example"
    entry.save(findings=findings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await select(pilot, data.HOSTILE_ID)
        await pilot.press("f")
        await settle(pilot)
        (note,) = list(app._notifications)
        assert "[b]x\\x1b]0;owned\\x07@evil.example" in note.message and "\x1b" not in note.message
        assert not note.markup


async def test_review_shows_a_message_noticed_twice_once(app):
    from sendguard.act import notices

    notices.add(app.state_dir, "held", data.HELD_ID, "sendguard held a message to x@y.example", ["Why: because"])
    notices.add(app.state_dir, "held-again", data.HELD_ID, "sendguard still holds a message to x@y.example", ["Why"])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert [n.title for n in app._notifications] == ["sendguard still holds a message to x@y.example"]


async def test_a_dialog_is_not_covered_by_the_notices_shown_at_start(app):
    """The start's notices stay a minute and are drawn above every screen: in an 80x24 terminal
    they hid the dialog's diff and its buttons. Opening a dialog puts them away."""
    from sendguard.act import notices

    for n in range(3):
        notices.add(app.state_dir, "held", f"E{n}", f"sendguard held message {n}", ["Why: because"] * 4)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert len(app._notifications) == 3
        await select(pilot, data.HELD_ID)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert list(app._notifications) == []
        await pilot.press("n")
        await settle(pilot)
    assert queue_of(app).get(data.HELD_ID).state == "held"


async def test_the_last_decisions_notice_is_not_left_beside_the_next_dialog(app):
    """Textual redraws only the top screen's toasts: "Sent to ..." stayed on the list beneath,
    drawn beside the next dialog as if it were about that message."""

    def shown(svg: str) -> str:
        return svg.replace("&#160;", " ")

    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await select(pilot, data.HELD_ID)
        await pilot.press("r", "y")
        await settle(pilot)
        assert "Sent to anna@kundenfirma.example." in shown(app.export_screenshot())
        await select(pilot, data.BLOCKED_ID)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        screen = shown(app.export_screenshot())
        assert "Discard this message?" in screen
        assert "Sent to" not in screen
        await pilot.press("y")
        await settle(pilot)
        screen = shown(app.export_screenshot())
        assert "Discarded " in screen and "Sent to" not in screen
    assert queue_of(app).get(data.BLOCKED_ID).state == "discarded"


async def test_notices_no_mail_program_showed_appear_at_review_start_once(app):
    from sendguard.act import notices

    notices.add(app.state_dir, "held", data.HELD_ID, "sendguard held a message to x@y.example", ["Why: because"])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        shown = list(app._notifications)
        assert [n.title for n in shown] == ["sendguard held a message to x@y.example"]
        assert "Why: because" in shown[0].message
    assert notices.take(app.state_dir) == [], "shown once"
