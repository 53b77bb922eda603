"""The send path for callers that show nothing: the resend that is no yes, and the notices.

The caller is passed in as the resident checker passes it (caller.detect's dict), so every
combination runs without the programs themselves (tests/programs/test_visible.py has those).
"""

from __future__ import annotations

import io

import pytest

from sendguard import paths
from sendguard.act import notices
from sendguard.act import queue as q
from sendguard.sendpath.path import SendPath
from tests.conftest import make_message

AERC = {"program": "aerc", "interactive": True, "stderr_tty": False}
MUTT = {"program": "mutt", "interactive": True, "stderr_tty": False}
WRONG = "anna@kundenfirrna.example"


def send(world, raw: bytes, caller: dict) -> tuple[int, str]:  # type: ignore[type-arg]
    stderr = io.StringIO()
    code = SendPath(world.config_path, stderr, caller=caller).run([WRONG], io.BytesIO(raw))
    return code, stderr.getvalue()


def kinds() -> list[str]:
    return [n["kind"] for n in notices.take(paths.state_dir())]


def test_a_resend_from_a_silent_caller_stays_held_once_and_is_noticed_each_time(world):
    raw = make_message(to=WRONG)
    first = send(world, raw, AERC)
    assert first[0] == 75 and "identical message again" not in first[1]
    again = send(world, raw, AERC)
    assert again[0] == 75 and "HELD again" in again[1]
    assert [e.state for e in q.Queue.default().entries()] == [q.HELD], "one copy, still held"
    assert world.server.received == []
    first_notice, again_notice = notices.take(paths.state_dir())
    assert first_notice["kind"] == "held" and again_notice["kind"] == "held-again"
    assert again_notice["title"] == f"sendguard still holds a message to {WRONG}: sending it again did not send it"
    assert "sending it again is not a yes" in " ".join(again_notice["body"])
    assert f"If it is right: sendguard release {first_notice['id']}" in again_notice["body"][-1]
    # the same resend from mutt, which showed the hold, is a yes
    assert send(world, raw, MUTT)[0] == 0
    assert len(world.server.received) == 1


@pytest.mark.parametrize(("caller", "noticed"), [(AERC, ["blocked", "blocked-again"]), (MUTT, [])])
def test_a_block_sent_again_unchanged_is_the_same_block_kept_once(world, caller, noticed):
    world.write_config('[rules.lookalike-domain]\naction = "block"\n')
    raw = make_message(to=WRONG)
    assert send(world, raw, caller)[0] == 77
    code, err = send(world, raw, caller)
    (entry,) = q.Queue.default().entries()
    assert code == 77 and entry.state == q.BLOCKED, "one copy, still blocked"
    assert f"BLOCKED again — not sent: the same message is already blocked as {entry.id}" in err
    assert f"sendguard discard {entry.id}" in err
    assert kinds() == noticed
    changed = send(world, make_message(to=WRONG, body="Other words.\n"), caller)
    assert changed[0] == 77 and len(q.Queue.default().entries()) == 2, "another message is blocked on its own"
    assert world.server.received == []


def test_a_mutt_hold_is_shown_so_no_notice_but_its_warning_is_not(world):
    assert send(world, make_message(to=WRONG, subject="held"), MUTT)[0] == 75
    assert kinds() == []
    world.write_config('[rules.lookalike-domain]\naction = "warn"\n')
    code, err = send(world, make_message(to=WRONG, subject="warned"), MUTT)
    assert code == 0 and "sent, with a warning" in err
    assert kinds() == ["warned"]


@pytest.mark.parametrize(("caller", "noticed"), [(MUTT, ["held"]), ({"program": "git"}, [])])
def test_with_hold_action_queue_a_hold_exits_0_and_only_what_the_caller_shows_then_counts(world, caller, noticed):
    world.config_path.write_text(
        world.config_path.read_text().replace("[sendmail]\n", '[sendmail]\nhold_action = "queue"\n')
    )
    code, err = send(world, make_message(to=WRONG), caller)
    assert code == 0 and "HELD" in err
    assert kinds() == noticed


def test_a_caller_that_reads_nothing_is_told_by_notice_and_its_resend_does_not_confirm(world):
    """Any caller that hands sendguard-sendmail /dev/null for stderr (as aerc does) reads nothing."""
    import subprocess

    raw = make_message(to=WRONG)
    for _ in range(2):
        proc = subprocess.run(
            [world.sendmail, WRONG], input=raw, stderr=subprocess.DEVNULL, env=world.env(), timeout=60, check=False
        )
        assert proc.returncode == 75
    assert [e.state for e in q.Queue.default().entries()] == [q.HELD]
    assert kinds() == ["held", "held-again"]
    assert world.send(raw, WRONG).returncode == 0, "a caller that reads stderr saw it: its resend is a yes"


def test_a_script_running_sendguard_does_not_use_up_the_notices(world):
    assert send(world, make_message(to=WRONG), AERC)[0] == 75
    listed = world.cli("queue", "list")  # stderr is a pipe here, not a person's terminal
    assert listed.returncode == 0 and "notice" not in listed.stderr
    assert notices.pending(paths.state_dir()), "kept for the person"
