"""Pictures of the main screens at 80x24 (pytest-textual-snapshot), from the fixed queue in
tests/support/tui_snapshot_app.py: fixed ids, a fixed clock, UTC, no cursor blink.

Update after an intended change: ``pytest tests/unit/test_tui_snapshots.py --snapshot-update``,
then look at the report before committing the new SVGs.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from sendguard.tui.rowlist import RowList
from tests.support import tui_snapshot_app as data
from tests.support.tui_pilot import wait_for_workers

pytestmark = pytest.mark.usefixtures("utc")  # times on screen are UTC

SIZE = (80, 24)
# The pictures were made with these versions; another Textual or Rich draws other (equally
# right) pictures, so the comparison is skipped there rather than failing for nothing.
PINNED = {"textual": "8.2.8", "rich": "15.0.0"}


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in PINNED}


@pytest.fixture(autouse=True)
def pinned_versions(request):
    found = _versions()
    if found != PINNED:
        if request.config.getoption("--snapshot-update", default=False):
            pytest.fail(f"regenerate the snapshots only with {PINNED} (found {found}), or update PINNED too")
        pytest.skip(f"snapshots were drawn with {PINNED}; this is {found}")


@pytest.fixture
def app(tmp_path):
    return data.make_app(tmp_path)


async def _settled(pilot) -> None:
    for _ in range(3):
        await pilot.pause()
        await wait_for_workers(pilot.app)
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause()


def _open(entry_id: str):
    async def run_before(pilot) -> None:
        await _settled(pilot)
        pilot.app.screen.query_one(RowList).move_to(entry_id)
        await pilot.press("enter")
        await _settled(pilot)

    return run_before


def test_queue_list(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=_settled)


def test_held_message(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=_open(data.HELD_ID))


def test_hostile_message_shown_as_text(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=_open(data.HOSTILE_ID))


def test_attachment_with_its_real_type(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=_open(data.BLOCKED_ID))


def test_take_suggestion_confirmation(snap_compare, app):
    async def run_before(pilot) -> None:
        await _open(data.HELD_ID)(pilot)
        await pilot.press("s")
        await _settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help(snap_compare, app):
    async def run_before(pilot) -> None:
        await _settled(pilot)
        await pilot.press("question_mark")
        await _settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_incidents(snap_compare, app):
    async def run_before(pilot) -> None:
        await _settled(pilot)
        await pilot.press("i")
        await _settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_delivered_message_offers_no_action(snap_compare, app):
    async def run_before(pilot) -> None:
        await _settled(pilot)
        await pilot.press("i")
        await _open(data.DELIVERED_ID)(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_incident_search_notmuch_cannot_run(snap_compare, app):
    pytest.importorskip("notmuch2")
    from sendguard.incidents import record, store

    for entry in app.queue.entries():
        record.record(entry, entry.state, app.config, now=data.NOW)
    store.index_pending(app.state_dir)

    async def run_before(pilot) -> None:
        await _settled(pilot)
        await pilot.press("i")
        await _settled(pilot)
        await pilot.press("slash", *"date:(((")
        await _settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_postfix_hold_queue(snap_compare, tmp_path):
    """`review --postfix`: who sent each held message, sendguard's reason, release and delete only."""
    app = data.make_postfix_app(tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=_settled)


def test_postfix_release_confirmation(snap_compare, tmp_path):
    app = data.make_postfix_app(tmp_path)

    async def run_before(pilot) -> None:
        await _settled(pilot)
        await pilot.press("r")
        await _settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
