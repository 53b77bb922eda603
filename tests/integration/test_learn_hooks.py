"""What keeps the history hearing from people after the first learn: the notmuch post-new hook and
the systemd user timer in hooks/, run as their install lines say, and doctor when neither runs."""

from __future__ import annotations

import email.utils
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from sendguard import history, paths
from tests.conftest import make_message
from tests.support import history_fixtures as hf
from tests.support.hooks import HOOKS, verify_user_units

ANNA = "anna@kundenfirma.example"


def received(days_ago: float, subject: str = "Frage zum Angebot") -> bytes:
    dated = email.utils.formatdate(time.time() - days_ago * 86400)
    raw = make_message(to="me@nordwerk.example", sender=f"Anna <{ANNA}>", subject=subject)
    return raw.replace(b"Date: Fri, 27 Nov 2026 09:00:00 +0000", f"Date: {dated}".encode())


def heard_from_anna() -> int:
    store = history.open_for_check(paths.state_dir())
    contact = store.contact(ANNA) if store is not None else None
    return contact.received if contact is not None else 0


def install_lines(hook: str) -> str:
    """The install lines written in a hook's comment, as a user pastes them."""
    text = (HOOKS / hook).read_text().split("# Install", 1)[1].split("\n", 1)[1]
    return "\n".join(line[4:] for line in text.splitlines() if line.startswith("#   "))


def notmuch_world(world, tmp_path) -> dict[str, str]:
    """A notmuch config as a new user has it: no database yet, no hook."""
    if not shutil.which("notmuch"):
        pytest.skip("notmuch is not installed (apt-get install notmuch)")
    mail = tmp_path / "mail"
    hf.write_maildir(mail / "INBOX", [])
    config = tmp_path / "notmuch-config"
    config.write_text(f"[database]\npath={mail}\n[new]\ntags=inbox;unread\n")
    env = {**world.env(), "NOTMUCH_CONFIG": str(config)}
    # the hook's install lines, as a new user pastes them (-e: a line that fails stops them)
    proc = subprocess.run(
        ["sh", "-e", "-c", install_lines("notmuch-post-new")],
        cwd=HOOKS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    hook_dir = subprocess.run(
        ["notmuch", "config", "get", "database.hook_dir"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert hook_dir and os.access(Path(hook_dir) / "post-new", os.X_OK)
    return env


def notmuch_new_on_a_terminal(env: dict[str, str]) -> str:
    """What `notmuch new` shows on a terminal, through its end (EXIT=status)."""
    from tests.support.terminal import Terminal

    with Terminal(env, "notmuch-new") as term:
        term.start("notmuch new")
        return term.wait_for("EXIT=", timeout=120)


def test_the_notmuch_post_new_hook_learns_what_notmuch_just_found(world, tmp_path):
    env = notmuch_world(world, tmp_path)
    (tmp_path / "mail" / "INBOX" / "cur" / "1.anna:2,").write_bytes(received(days_ago=1))
    assert heard_from_anna() == 0
    shown = notmuch_new_on_a_terminal(env)
    assert "EXIT=0" in shown and "Added 1 new message" in shown, shown
    assert "learning" not in shown, shown  # no progress bar of the hook in notmuch's output
    assert heard_from_anna() == 1
    # the next `notmuch new` asks for the same week again: nothing is counted twice
    shown = notmuch_new_on_a_terminal(env)
    assert "EXIT=0" in shown and "learning" not in shown, shown
    assert heard_from_anna() == 1


def test_the_post_new_hooks_error_is_shown_and_fails_notmuch_new(world, tmp_path):
    env = notmuch_world(world, tmp_path)
    world.config_path.write_text("[identity\n")
    shown = notmuch_new_on_a_terminal(env)
    assert "sendguard: error:" in shown and "post-new hook failed with status 78" in shown, shown
    assert "EXIT=1" in shown, shown


def test_the_learn_timers_units_are_valid_and_their_command_learns_the_inbox(world, tmp_path):
    service = (HOOKS / "sendguard-learn.service").read_text()
    timer = (HOOKS / "sendguard-learn.timer").read_text()
    assert "OnUnitActiveSec=1h" in timer and "Persistent=true" in timer and "WantedBy=timers.target" in timer
    exec_start = next(line.split("=", 1)[1] for line in service.splitlines() if line.startswith("ExecStart="))
    assert exec_start == "%h/.local/bin/sendguard learn %h/Mail/INBOX"
    home = tmp_path / "unithome"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "sendguard").symlink_to(world.sendguard)
    hf.write_maildir(home / "Mail" / "INBOX", [received(days_ago=1)])
    verify_user_units(tmp_path, home, "sendguard-learn.service", "sendguard-learn.timer")
    command = exec_start.replace("%h", str(home)).split()
    for _ in range(2):  # the timer runs it every hour over the same inbox
        assert subprocess.run(command, env=world.env(), capture_output=True, timeout=120).returncode == 0
        assert heard_from_anna() == 1


def test_doctor_says_when_the_inbox_is_no_longer_learned(world, tmp_path):
    def history_line() -> str:
        out = world.cli("doctor").stdout
        return next(line for line in out.splitlines() if line.split()[1:2] == ["history"])

    sent = make_message(to=ANNA, subject="Angebot")  # dated 27 Nov 2026
    old = make_message(to="me@nordwerk.example", sender=f"Anna <{ANNA}>", subject="Frage").replace(
        b"27 Nov 2026", b"01 Oct 2026"
    )
    assert world.cli("learn", str(hf.write_maildir(tmp_path / "Sent", [sent]))).returncode == 0
    assert world.cli("learn", str(hf.write_maildir(tmp_path / "INBOX", [old]))).returncode == 0
    line = history_line()
    assert line.startswith("warn") and "2026-10-01" in line and "2026-11-27" in line, line
    fix = world.cli("doctor").stdout.split(line, 1)[1].split("\n")[1]
    for hook in ("notmuch-post-new", "sendguard-learn.timer"):  # by a path that works from anywhere
        (named,) = [word.rstrip(";") for word in fix.split() if word.endswith((hook, hook + ";"))]
        assert Path(named).is_absolute() and Path(named).is_file(), fix

    fresh = make_message(to="me@nordwerk.example", sender=f"Anna <{ANNA}>", subject="Re: Angebot")
    assert world.cli("learn", str(hf.write_maildir(tmp_path / "INBOX2", [fresh]))).returncode == 0
    assert history_line().startswith("ok")


def test_sent_mail_dated_in_the_future_does_not_make_the_inbox_look_unlearned(world, tmp_path):
    """A draft sent with the clock years ahead is the newest sent mail until then: doctor warned
    that the inbox was no longer learned, and learning it changed nothing."""
    sent = make_message(to=ANNA, subject="Angebot")
    ahead = make_message(to="bob@kundenfirma.example", subject="Termin").replace(b"27 Nov 2026", b"27 Nov 2031")
    assert world.cli("learn", str(hf.write_maildir(tmp_path / "Sent", [sent, ahead]))).returncode == 0
    assert world.cli("learn", str(hf.write_maildir(tmp_path / "INBOX", [received(days_ago=1)]))).returncode == 0
    line = next(line for line in world.cli("doctor").stdout.splitlines() if line.split()[1:2] == ["history"])
    assert line.startswith("ok"), line
