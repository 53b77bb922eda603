"""Allow means what it says (Pilot tests against a queue the real send path filled): the dialog
offers the held message's outside recipients only, allowing one silences the recipient rules
for it but not what the message carries, and review shows the verdict under the config in force."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from sendguard import paths
from sendguard.act.queue import Queue
from sendguard.config.schema import load
from sendguard.tui.app import ReviewApp
from sendguard.tui.rowlist import RowList
from sendguard.tui.screens.modals import ChoiceModal, ConfirmModal, ErrorModal
from tests.conftest import make_message
from tests.support.tui_pilot import settle

pytestmark = pytest.mark.usefixtures("utc")  # times on screen are UTC

STRICT = '[rules.external-recipient]\naction = "hold"\n'
CONFIDENTIAL = "Hallo,\n\ndie Kostensenkung 2027: bitte streng vertraulich behandeln.\n\nGruss\n"


def review(world) -> ReviewApp:
    return ReviewApp(
        queue=Queue.default(),
        config=load(world.config_path, required=True),
        config_path=world.config_path,
        state_dir=paths.state_dir(),
    )


def held_id(world) -> str:
    (entry,) = [e for e in Queue.default().entries() if e.state == "held"]
    return entry.id


async def test_the_dialog_offers_outside_recipients_only_and_content_rules_still_apply(world):
    world.write_config(STRICT)
    raw = make_message(
        to="Markus <markus.brandt@kundenfirma.example>, Berger <m.berger@nordwerk.example>",
        subject="Kostensenkung 2027",
        body=CONFIDENTIAL,
    )
    assert world.send(raw, "-t").returncode == 75
    app = review(world)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.screen.query_one(RowList).move_to(held_id(world))
        await pilot.pause()
        await pilot.press("a")
        assert isinstance(app.screen, ChoiceModal)
        labels = [str(label) for label in app.screen.options]
        assert labels == [
            "always allow the address markus.brandt@kundenfirma.example",
            "always allow the domain kundenfirma.example",
        ], "never the own organization, never a client for a client's own address"
        await pilot.press("down", "enter")  # the domain
        await settle(pilot)
        (note,) = list(app._notifications)
        assert "Checked again: warn" in note.message, "internal-to-outside still applies to an allowed domain"
        preview = str(app.screen.query_one("#preview", Static).render())
        assert "Why (warn)" in preview and "looks internal" in preview
    assert load(world.config_path).allow.domains == ["kundenfirma.example"]


async def test_nothing_to_allow_when_every_recipient_is_inside(world):
    world.write_config(
        '[rules.internal-to-outside]\naction = "off"\n[block]\naddresses = ["m.berger@nordwerk.example"]\n'
    )
    assert world.send(make_message(to="m.berger@nordwerk.example"), "m.berger@nordwerk.example").returncode == 77
    app = review(world)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        assert isinstance(app.screen, ErrorModal)
        assert "in your organization" in app.screen.lines[0]


async def test_review_shows_the_verdict_under_the_config_in_force(world):
    world.write_config(STRICT)
    assert world.send(make_message(), "anna@kundenfirma.example").returncode == 75
    entry_id = held_id(world)
    world.write_config(STRICT + '[allow]\ndomains = ["kundenfirma.example"]\n')  # allowed since
    app = review(world)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        preview = str(app.screen.query_one("#preview", Static).render())
        assert "Why (pass): nothing holds it now (checked again under the config in force): r sends it" in preview
    world.write_config(STRICT)  # and the allow removed again: the next review start says so
    app = review(world)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        preview = str(app.screen.query_one("#preview", Static).render())
        assert "Why (hold): anna@kundenfirma.example is client kundenfirma" in preview
    assert Queue.default().get(entry_id).state == "held", "checking again never sends"


KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n"


def _kept_unchecked(world) -> str:
    world.write_config()
    good = world.config_path.read_text()
    world.config_path.write_text(good.replace("[organization]", "[organisation]"))
    raw = make_message(subject="the key", body=f"Hello Anna,\n\nthe server key:\n\n{KEY}\nRegards\n")
    assert world.send(raw, "anna@kundenfirma.example").returncode == 78
    world.config_path.write_text(good)
    return held_id(world)


async def test_review_judges_a_message_kept_unchecked_before_showing_it(world):
    entry_id = _kept_unchecked(world)
    app = review(world)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        preview = str(app.screen.query_one("#preview", Static).render())
        assert "Why (hold)" in preview and "private key" in preview, "the verdict, not the old config error"
    assert Queue.default().get(entry_id).state == "held"


async def test_a_read_of_the_queue_that_ends_after_a_newer_one_never_shows_the_older_state(world):
    """review starts with a read of the queue (handed over by the command) while the check of
    held mail under the config in force runs, which reads the queue again when done. However
    late the first read ends, what it read is the queue as it was: the config error, not the
    verdict. A thread cannot be stopped, so the replaced read's rows must not be shown."""
    import time
    from concurrent.futures import Future

    from sendguard.recover.review_data import queue_rows

    _kept_unchecked(world)
    as_it_was = queue_rows(Queue.default(), time.time())
    first: Future[object] = Future()
    app = ReviewApp(
        queue=Queue.default(),
        config=load(world.config_path, required=True),
        config_path=world.config_path,
        state_dir=paths.state_dir(),
        prefetch=first,
    )
    async with app.run_test(size=(100, 30)) as pilot:

        def preview() -> str:
            return str(app.screen.query_one("#preview", Static).render())

        try:
            for _ in range(1200):  # the check again, and the newer read it starts, while the first waits
                if app.jobs_done and "private key" in preview():
                    break
                await pilot.pause(0.05)
            assert "private key" in preview(), preview()
        finally:
            first.set_result(as_it_was)  # the first read ends last (and a failure above is no hang)
        await settle(pilot)
        assert "Why (hold)" in preview() and "private key" in preview(), preview()


async def test_reviews_send_checks_a_message_kept_unchecked(world, monkeypatch):
    entry_id = _kept_unchecked(world)
    app = review(world)
    monkeypatch.setattr(app, "_refresh_verdicts", lambda: [])  # pressed before the start-up check ran
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("r", "y")
        await settle(pilot)
        (note,) = list(app._notifications)
        assert "Not sent: checked now, it is held" in note.message and "private key" in note.message
    assert world.server.received == []
    assert Queue.default().get(entry_id).state == "held"


async def test_a_copy_of_mail_that_already_left_needs_nobody_and_r_says_it_sends_twice(world):
    """Released in review from mutt's compose menu, then y in the composer: the copy is kept,
    "held". It counted as needing the person, and r asked "Send this message now?", sending the
    mistake a second time."""
    world.write_config(STRICT)
    message = make_message(to="anna@kundenfirma.example")
    assert world.send(message, "-t").returncode == 75
    first = held_id(world)
    assert world.cli("release", first).returncode == 0
    world.write_config("")  # the check lets it pass now (as once the history has learned it)
    assert world.send(message, "-t").returncode == 0  # it left: the mail program may forget it
    copy = held_id(world)
    assert Queue.default().get(copy).meta["duplicate_of"] == first
    app = review(world)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        title = str(app.screen.query_one("#title").render())
        assert "0 need you" in title, title
        app.screen.query_one(RowList).move_to(copy)
        await pilot.pause()
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert app.screen.title_text == f"This message already left as {first}. Send it a second time?"
        await pilot.press("n")
        await settle(pilot)
    assert len(world.server.received) == 1
