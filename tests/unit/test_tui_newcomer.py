"""What a newcomer meets first in the review app, at 80x24 (the terminal mail users' default):
a footer that fits, only the actions a message's state allows, a suggestion with the person's
name, and notmuch's own words for a search it cannot run."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from sendguard.recover.review_data import ENTRY_ACTIONS, allowed_actions
from sendguard.tui.rowlist import RowList
from sendguard.tui.screens.message import MessageScreen
from sendguard.tui.screens.modals import ConfirmModal
from tests.support import tui_snapshot_app as data
from tests.support.tui_pilot import settle

pytestmark = pytest.mark.usefixtures("utc")  # times on screen are UTC

SIZE = (80, 24)


@pytest.fixture
def app(tmp_path):
    return data.make_app(tmp_path)


def footer(app) -> list[str]:
    """The footer's keys as shown, each asserted to be whole within the 80 columns."""
    keys = list(app.screen.query_one(Footer).query(FooterKey))
    for key in keys:
        assert key.region.right <= SIZE[0] and key.region.width > 0, f"{key.description!r} is cut"
    return [key.description for key in keys]


async def open_entry(pilot, entry_id: str) -> None:
    pilot.app.screen.query_one(RowList).move_to(entry_id)
    await pilot.press("enter")
    await settle(pilot)


def test_actions_follow_the_state():
    assert allowed_actions("held", suggestion=True, findings=True) == ENTRY_ACTIONS
    assert allowed_actions("delayed", suggestion=False, findings=False) == {"release", "discard"}
    for final in ("delivered", "confirmed", "discarded", "undone"):
        assert not allowed_actions(final, suggestion=True, findings=False), final
    assert allowed_actions("delivered", suggestion=True, findings=True) == {"false_alarm"}


async def test_the_footer_fits_80_columns_on_every_screen(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert footer(app) == ["send", "discard", "suggest", "edit", "allow", "false alarm", "incidents", "help"]
        await open_entry(pilot, data.HELD_ID)
        assert footer(app) == ["send", "discard", "suggest", "edit", "allow", "false alarm", "back", "help"]
        await pilot.press("escape", "i")
        await settle(pilot)
        assert footer(app) == ["back", "help"]


async def test_a_delivered_message_offers_no_send_and_r_asks_nothing(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        await open_entry(pilot, data.DELIVERED_ID)
        assert isinstance(app.screen, MessageScreen) and app.screen.view.state == "delivered"
        assert footer(app) == ["back", "help"]
        for key in ("r", "d", "s", "e", "a"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, MessageScreen), f"{key} opened {app.screen!r}"
        assert app.queue.get(data.DELIVERED_ID).state == "delivered"


async def test_the_queue_list_offers_what_the_highlighted_state_allows(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one(RowList).move_to(data.DELAYED_ID)
        await settle(pilot)
        assert footer(app) == ["send", "discard", "incidents", "help"]
        app.screen.query_one(RowList).move_to(data.DEFERRED_ID)
        await settle(pilot)
        assert "suggest" not in footer(app) and "edit" in footer(app)


async def test_the_suggestion_keeps_the_persons_name(tmp_path):
    from sendguard.history.learn import Learner
    from sendguard.history.store import open_for_write

    app = data.make_app(tmp_path)
    db = open_for_write(app.state_dir)  # the history knows the suggested contact by name
    with Learner(db, ["me@nordwerk.example"], ["nordwerk.example"]) as learner:
        learner.add(data.message("Markus Berger <m.berger@falkenbau.example>", "Falke", "Hallo Markus,\n"))
    db.close()
    meta_path = app.queue.root / data.HELD_ID / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["findings"][0]["suggestion"] = "m.berger@falkenbau.example"  # as the rules write it: the address
    meta_path.write_text(json.dumps(meta))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_entry(pilot, data.HELD_ID)
        assert "Did you mean Markus Berger <m.berger@falkenbau.example>?" in str(
            app.screen.query_one("#detail", Static).render()
        )
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert "+ Markus Berger <m.berger@falkenbau.example>" in str(app.screen.body)


def test_a_fixed_domain_typo_keeps_the_name_another_person_never_does():
    from sendguard.recover import fix

    raw = b"From: me@n.example\nTo: Bob Kern <bob@nordwerk.exmaple>, Eve <eve@k.example>\n\nHi\n"
    _, (change,) = fix.rewrite_recipients(
        raw, {"bob@nordwerk.exmaple": ("", "bob@nordwerk.example"), "eve@k.example": ("", "anna@k.example")}
    )
    assert change.after == "Bob Kern <bob@nordwerk.example>, anna@k.example"


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("date:(((", "has 3 '(' not closed"),
        ('subject:"Falke', 'a quote (") that is not closed'),
        ("date:yesterdayish", "Didn't understand date specification"),
    ],
)
async def test_a_search_notmuch_cannot_run_shows_why(app, query, says):
    pytest.importorskip("notmuch2")
    from sendguard.incidents import record, store

    for entry in app.queue.entries():
        record.record(entry, entry.state, app.config, now=data.NOW)
    store.index_pending(app.state_dir)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        await pilot.press("slash", *query)
        await settle(pilot)
        preview = str(app.screen.query_one("#preview", Static).render())
        assert says in preview and "notmuch" in preview, preview
        assert app.screen.shown == []
