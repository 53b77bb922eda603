"""A message delivered after its undo window whose delivery fails: the person, long gone from the
terminal, gets a desktop notification, and the failure is in `sendguard queue list` and in the
incident log.

A real notification daemon (a D-Bus session with a notification server) cannot run here, so
``notify-send`` is a fake on PATH that records its argv into a file; DISPLAY is set in the
worker's environment as a desktop session would set it. The transports fail for real: a script
that exits 69 (EX_UNAVAILABLE, as msmtp does for DSN flags a server lacks), and a command that
does not exist. The workers are real processes; the tests wait for them (bounded), never sleep.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.act import delay as undo
from sendguard.act import queue as q
from sendguard.config import schema as config_mod
from tests.conftest import make_message, sendguard_exe
from tests.support.wait import wait_until

SUBJECT = "Falke offer"


@pytest.fixture
def desktop(tmp_path, monkeypatch):
    """A fake notify-send on PATH (records argv, one file per call) and DISPLAY set."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "notifications"
    calls.mkdir()
    script = bindir / "notify-send"
    # It also notes whether each queue entry's lock is free while it runs: the worker must not
    # keep the message locked while the person is being told about it.
    script.write_text(
        f"#!{sys.executable}\n"
        "import fcntl, glob, json, os, sys\n"
        "free = []\n"
        "for lock in glob.glob(os.path.join(os.environ['XDG_DATA_HOME'], 'sendguard/queue/*/lock')):\n"
        "    fd = os.open(lock, os.O_RDWR)\n"
        "    try:\n"
        "        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "        free.append(True)\n"
        "    except OSError:\n"
        "        free.append(False)\n"
        "    os.close(fd)\n"
        f"path = os.path.join({str(calls)!r}, str(os.getpid()))\n"
        "with open(path + '.tmp', 'w') as f:\n"
        "    json.dump({'argv': sys.argv[1:], 'locks_free': free}, f)\n"
        "os.rename(path + '.tmp', path + '.json')\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":99")
    return calls


def notifications(calls: Path) -> list[list[str]]:
    return [json.loads(p.read_text())["argv"] for p in sorted(calls.glob("*.json"))]


def locks_free(calls: Path) -> list[bool]:
    return [free for p in sorted(calls.glob("*.json")) for free in json.loads(p.read_text())["locks_free"]]


def write_config(tmp_path: Path, transport: list[str]) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[identity]\naddresses = ["me@nordwerk.example"]\n\n'
        '[organization]\ndomains = ["nordwerk.example"]\n\n'
        f"[transport]\ncommand = {json.dumps(transport)}\n\n"
        "[delay]\nseconds = 30\n"
    )
    return path


def failing_transport(tmp_path: Path, code: int) -> list[str]:
    script = tmp_path / f"transport-{code}"
    script.write_text(f"#!/bin/sh\ncat >/dev/null\necho 'recipient address rejected by the server' >&2\nexit {code}\n")
    script.chmod(0o755)
    return [str(script)]


def keep_due(config_path: Path) -> q.Entry:
    """A message accepted into the 30-second undo window a minute ago: due now."""
    config = config_mod.load(config_path)
    undo.accept_delayed(
        q.Queue.default(),
        make_message(to="anna@kundenfirma.example", subject=SUBJECT),
        {
            "envelope": ["anna@kundenfirma.example"],
            "recipients": ["anna@kundenfirma.example"],
            "options": [],
            "subject": SUBJECT,
            "verdict": "pass",
            "findings": [],
        },
        config,
        "accepted",
        now=time.time() - 60,
        spawn=False,
    )
    (entry,) = q.Queue.default().entries()
    return entry


def run_worker(entry: q.Entry, config_path: Path) -> int:
    """The worker exactly as the send path starts it, waited for."""
    proc = subprocess.run(
        [sys.executable, "-m", undo.WORKER_MODULE, str(entry.path), str(config_path)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return proc.returncode


def cli(config_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sendguard_exe(), "--config", str(config_path), *args], capture_output=True, text=True, timeout=120, check=False
    )


def log_records(state: str) -> list[str]:
    root = Path(os.environ["XDG_DATA_HOME"]) / "sendguard" / "incidents" / "cur"
    return [p.read_text() for p in sorted(root.glob(f"*.{state}.*"))]


def test_a_transport_exiting_69_after_the_window_notifies_and_shows_in_queue_list_and_log(tmp_path, desktop):
    config_path = write_config(tmp_path, failing_transport(tmp_path, 69))
    entry = keep_due(config_path)
    assert run_worker(entry, config_path) != 0
    assert q.Queue.default().get(entry.id).state == q.FAILED
    (argv,) = notifications(desktop)
    assert "--app-name=sendguard" in argv and "--urgency=critical" in argv
    title, body = argv[-2], argv[-1]
    assert SUBJECT in title and "could not send" in title
    assert "anna@kundenfirma.example" in body and "exit 69" in body and "recipient address rejected" in body
    assert f"sendguard release {entry.id}" in body  # what to do next
    assert locks_free(desktop) == [True]  # told with the entry unlocked: release can act at once
    listing = cli(config_path, "queue", "list")
    assert listing.returncode == 0, listing.stderr
    assert entry.id in listing.stdout and "failed" in listing.stdout
    assert "transport: recipient address rejected by the server" in listing.stdout
    (record,) = log_records("failed")
    assert (
        "the transport failed" in record and "Transport: recipient address rejected by the server (exit 69)" in record
    )
    # --wait: a loaded machine may take its time indexing; the bound is generous, not a timing.
    searched = cli(config_path, "log", "--wait", "60", "--json", "tag:failed")
    assert searched.returncode == 0, searched.stderr
    rows = [json.loads(line) for line in searched.stdout.splitlines()]
    assert [(r["event"], r["subject"], r["id"]) for r in rows] == [("failed", SUBJECT, entry.id)], (
        rows,
        searched.stderr,
    )


def test_a_missing_transport_defers_notifies_and_queue_run_or_undo_still_can_act(tmp_path, desktop):
    config_path = write_config(tmp_path, [str(tmp_path / "no-such-msmtp")])
    entry = keep_due(config_path)
    assert run_worker(entry, config_path) != 0
    assert q.Queue.default().get(entry.id).state == q.DEFERRED
    (argv,) = notifications(desktop)
    assert "was not found" in argv[-1] and "sendguard queue run" in argv[-1]
    listing = cli(config_path, "queue", "list")
    assert "deferred" in listing.stdout and "no-such-msmtp: not found" in listing.stdout
    (record,) = log_records("deferred")
    assert "queue run` retries" in record and "no-such-msmtp: not found" in record
    # Not gone and not sent: it can still be taken back.
    taken = cli(config_path, "undo", entry.id)
    assert taken.returncode == 0, taken.stderr
    assert q.Queue.default().get(entry.id).state == q.UNDONE


def test_the_worker_the_send_path_spawns_notifies_by_itself(tmp_path, desktop):
    """The detached worker (posix_spawn, own session, no stdio) inherits DISPLAY and PATH."""
    config_path = write_config(tmp_path, failing_transport(tmp_path, 69))
    entry = keep_due(config_path)
    undo.spawn_worker(entry, config_mod.load(config_path))  # detached.py reaps it on its next spawn
    wait_until(lambda: notifications(desktop), 30)
    assert len(notifications(desktop)) == 1
    assert q.Queue.default().get(entry.id).state == q.FAILED  # saved before the notification


def test_no_desktop_no_notification_but_the_failure_is_kept(tmp_path, desktop, monkeypatch):
    monkeypatch.delenv("DISPLAY")
    config_path = write_config(tmp_path, failing_transport(tmp_path, 69))
    entry = keep_due(config_path)
    assert run_worker(entry, config_path) != 0
    assert notifications(desktop) == []  # the worker waits for notify-send when it starts one
    assert q.Queue.default().get(entry.id).state == q.FAILED
    assert len(log_records("failed")) == 1


def test_a_delivery_that_works_notifies_nobody(tmp_path, desktop):
    sink = tmp_path / "sink.eml"
    script = tmp_path / "transport-ok"
    script.write_text(f"#!/bin/sh\ncat >{sink}\n")
    script.chmod(0o755)
    config_path = write_config(tmp_path, [str(script)])
    entry = keep_due(config_path)
    assert run_worker(entry, config_path) == 0
    assert q.Queue.default().get(entry.id).state == q.DELIVERED
    assert sink.read_bytes().startswith(b"From: ")
    assert notifications(desktop) == []


def test_notify_needs_a_desktop_x11_or_wayland_and_escapes_message_text(desktop, monkeypatch):
    from sendguard.act import notify

    monkeypatch.delenv("DISPLAY")
    assert notify.notify("t", "b", wait=10) is False
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert notify.notify("held: \x1b[31mred\x1b[0m", "line one\nline two\x07", wait=10) is True
    (argv,) = notifications(desktop)
    assert argv[-2] == "held: \\x1b[31mred\\x1b[0m"  # no terminal escape reaches the notifier
    assert argv[-1] == "line one\nline two\\x07"  # newlines kept in the body, bell shown


def test_notification_body_markup_from_a_message_is_shown_as_text(desktop):
    """notify-send hands the body to the daemon, which reads it as markup (GNOME Shell, KDE,
    dunst, mako: <a href>, <b>, <img>): a subject must not become a link in a notification."""
    from sendguard.act import notify

    subject = 'Subject: <a href="https://evil.example/">release it here</a> & <img src="file:///etc/passwd">'
    assert notify.notify("held", subject, wait=10) is True
    (argv,) = notifications(desktop)
    assert "<" not in argv[-1] and ">" not in argv[-1]
    assert html.unescape(argv[-1]) == subject


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_notification_body_reads_back_as_the_printable_text(body):
    from sendguard.act.notify import body_text
    from sendguard.printable import printable

    shown = body_text(body)
    assert "<" not in shown and ">" not in shown
    assert html.unescape(shown) == printable(body, keep_newlines=True)
