"""Who called sendmail and what it shows; confirm-by-resend's policy; notices shown once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading

import pytest

from sendguard.act import notices
from sendguard.decide import confirm
from sendguard.sendpath.render import caller_shows, held, notice

DETECT = "import json; from sendguard.sendpath import caller; print(json.dumps(caller.detect()))"


def detect_under(tmp_path, name: str, via_shell: bool = False) -> dict:  # type: ignore[type-arg]
    """Run caller.detect() in a child of a process whose kernel name is ``name`` (a copy of sh)."""
    program = tmp_path / name
    shutil.copy("/bin/sh", program)
    inner = f"{sys.executable} -c '{DETECT}'"
    if via_shell:  # git send-email: sh -c 'CMD "$@"' between the program and us
        inner = f'sh -c "{inner}"'
    proc = subprocess.run([str(program), "-c", inner], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("comm", "via_shell", "program"),
    [("aerc", False, "aerc"), ("mutt", False, "mutt"), ("git-send-email", True, "git"), ("bsd-mailx", False, "mailx")],
)
def test_the_caller_is_known_by_its_process_name(tmp_path, comm, via_shell, program):
    found = detect_under(tmp_path, comm, via_shell)
    assert found["program"] == program
    assert found["interactive"] is False  # stdin is a pipe here, as in mutt's batch mode


def test_an_unknown_caller_is_named_as_it_is(tmp_path):
    assert detect_under(tmp_path, "fetchmail-ish")["program"] == "fetchmail-ish"


def test_stderr_on_dev_null_is_noticed(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", DETECT],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(proc.stdout)["stderr_null"] is True
    assert detect_under(tmp_path, "sh-like")["stderr_null"] is False  # a pipe here


@pytest.mark.parametrize(
    ("caller", "success", "failure"),
    [
        ({"program": "aerc"}, False, False),
        ({"program": "mutt", "interactive": True}, False, True),  # a pager on failure only
        ({"program": "neomutt", "interactive": True}, False, True),
        ({"program": "mutt", "interactive": False}, True, True),  # batch: stderr is the terminal's
        ({"program": "git"}, True, True),
        ({"program": "mailx"}, True, True),
        ({"program": "bash"}, True, True),
        ({"program": "bash", "stderr_null": True}, False, False),  # 2>/dev/null: nobody reads it
        ({"program": "mutt", "interactive": False, "stderr_null": True}, False, False),
        ({}, True, True),
    ],
)
def test_what_each_program_shows(caller, success, failure):
    assert caller_shows(caller, ["aerc"]) == (success, failure)


def test_a_configured_silent_caller_shows_nothing():
    assert caller_shows({"program": "claws-mail"}, ["aerc", "claws-mail"]) == (False, False)


class FakeQueue:
    def __init__(self, held=None, series=None):  # type: ignore[no-untyped-def]
        self.held, self.series = held, series

    def find_confirmable(self, fingerprint, window, now=None):  # type: ignore[no-untyped-def]
        return self.held

    def find_confirmed_thread(self, envelope, thread_ids, rules, window, now=None):  # type: ignore[no-untyped-def]
        return self.series


def ask(queue, could_show_hold, thread=("<a@x>",)):  # type: ignore[no-untyped-def]
    return confirm.resend(
        queue,
        fingerprint="f",
        envelope=["a@x.example"],
        thread=list(thread),
        rules=["r"],
        window=600,
        now=0.0,
        could_show_hold=could_show_hold,
    )


def test_an_identical_resend_confirms_only_where_the_hold_could_be_seen():
    assert ask(FakeQueue(held="E1"), True) == ("confirm", "E1")
    assert ask(FakeQueue(held="E1"), False) == ("repeat", "E1")
    assert ask(FakeQueue(series="S1"), True) == ("series", "S1")
    assert ask(FakeQueue(series="S1"), True, thread=()) is None
    assert ask(FakeQueue(), True) is None


META = {
    "envelope": ["anna@kundenfirrna.example"],
    "subject": "Falke\x1b[2J status",
    "findings": [
        {"rule": "lookalike-domain", "severity": "hold", "message": "looks like kundenfirma.example",
         "suggestion": "anna@kundenfirma.example"},
        {"rule": "x", "severity": "info", "message": "never shown", "suggestion": None},
    ],
}  # fmt: skip


def test_the_hold_text_names_reason_suggestion_and_way_out_and_the_resend_only_where_it_confirms():
    seen = "\n".join(held("E1", META, blocked=False, escalated=False, confirm_window=600, resend_confirms=True))
    blind = "\n".join(held("E1", META, blocked=False, escalated=False, confirm_window=600, resend_confirms=False))
    for text in (seen, blind):
        assert "looks like kundenfirma.example" in text and "Did you mean anna@kundenfirma.example?" in text
        assert "sendguard release E1" in text and "never shown" not in text and "\x1b" not in text
    assert "identical message again" in seen and "identical message again" not in blind


def test_a_notice_carries_reason_suggestion_and_way_out():
    title, body = notice("held", "E1", META)
    assert title == "sendguard held a message to anna@kundenfirrna.example"
    assert "Did you mean anna@kundenfirma.example?" in body and "sendguard release E1  ·  sendguard review" in body


def test_notices_are_shown_once_and_concurrent_adds_all_arrive(tmp_path):
    assert notices.take(tmp_path) == []
    threads = [threading.Thread(target=notices.add, args=(tmp_path, "held", f"E{i}", "t", ["line"])) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert notices.pending(tmp_path)
    taken = notices.take(tmp_path)
    assert sorted(n["id"] for n in taken) == sorted(f"E{i}" for i in range(20))
    assert notices.take(tmp_path) == [] and not notices.pending(tmp_path)
    assert (tmp_path / notices.FILE).exists() is False
    assert "20 notices you have not seen" in notices.as_text(taken)[0]


def test_a_message_noticed_twice_is_shown_once_with_what_was_said_last(tmp_path):
    """Held, then sent again from aerc and still held: the second notice says all the first did."""
    title, body = notice("held", "E1", META)
    notices.add(tmp_path, "held", "E1", title, body)
    notices.add(tmp_path, "warned", "E2", "sendguard sent a message to kai@x.example, with a warning", ["Subject: s"])
    again_title, again_body = notice("held-again", "E1", META)
    notices.add(tmp_path, "held-again", "E1", again_title, again_body)
    notices.add(tmp_path, "waiting", "", "sendguard will send a message", ["a"])
    notices.add(tmp_path, "waiting", "", "sendguard will send a message", ["b"])
    taken = notices.take(tmp_path)
    assert [(n["kind"], n["id"]) for n in notices.latest_per_message(taken)] == [
        ("warned", "E2"),
        ("held-again", "E1"),
        ("waiting", ""),
        ("waiting", ""),
    ]
    text = "\n".join(notices.as_text(taken))
    assert text.startswith("sendguard: 4 notices you have not seen:")
    assert text.count("sendguard held a message to") == 0 and text.count("sendguard still holds") == 1
