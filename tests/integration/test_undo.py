"""The undo window: sendmail returns at once, the message waits, then leaves exactly once —
never before its time, never twice, never lost — unless `sendguard undo` takes it back.

Time is injected wherever a test judges "when" (``now`` for the send path and queue run, a
fake clock for the worker's loop); the few tests that let the real worker run only wait for
it, with generous bounds.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from sendguard.act import delay as undo
from sendguard.act import queue as q
from sendguard.act.ops import run_due
from sendguard.config import schema as config_mod
from sendguard.sendpath.path import SendPath
from tests.conftest import make_message
from tests.support.hooks import HOOKS, verify_user_units
from tests.support.mua import mutt_sends_draft
from tests.support.wait import pid_in, process_alive, wait_until

# A day ahead of the real clock: a real worker never fires by itself during a test, and queue
# run (which prunes by the real "updated" stamps the queue writes) still keeps recent entries.
NOW = float(int(time.time()) + 86400)


def _alive_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone (and reaped) meanwhile
        return False
    return b"sendguard.act.delay" in cmdline and process_alive(pid)


@pytest.fixture(autouse=True)
def stop_workers():
    """Workers left sleeping towards NOW are stopped after each test: only this test's (their
    argv names its queue), found in /proc, so one that has not written worker.pid yet is too."""
    yield
    queue_dir = os.fsencode(Path(os.environ["XDG_DATA_HOME"]) / "sendguard" / "queue") + b"/"
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if b"sendguard.act.delay" in cmdline and queue_dir in cmdline and _alive_worker(int(name)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(name), signal.SIGKILL)


def worker_pid(entry: q.Entry, timeout: float = 20) -> int:
    found = pid_in(entry.path / "worker.pid", timeout)
    assert found is not None, "the worker never started"
    return found


def send_at(world, message: bytes, now: float, *args: str) -> tuple[int, str]:
    """The real send path in this process, at an injected time."""
    stderr = io.StringIO()
    code = SendPath(world.config_path, stderr, now=now).run(list(args) or ["-t"], io.BytesIO(message))
    return code, stderr.getvalue()


def only_entry() -> q.Entry:
    entries = q.Queue.default().entries()
    assert len(entries) == 1, [e.meta.get("state") for e in entries]
    return entries[0]


def config_of(world) -> config_mod.Config:
    return config_mod.load(world.config_path)


# ---- how long ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "envelope", "rules", "expected"),
    [
        ("", ["bob@nordwerk.example"], [], 0),  # the default: no window
        ("seconds = 20", ["bob@nordwerk.example"], [], 20),
        ("outside_seconds = 60", ["bob@nordwerk.example"], [], 0),  # internal mail: not outside
        ("outside_seconds = 60", ["bob@nordwerk.example", "anna@kundenfirma.example"], [], 60),
        ("seconds = 20\noutside_seconds = 60", ["bob@nordwerk.example"], [], 20),
        (
            'seconds = 20\nrules = ["audience-size"]\nrule_seconds = 300',
            ["bob@nordwerk.example"],
            ["audience-size"],
            300,
        ),
        ('seconds = 20\nrules = ["audience-size"]\nrule_seconds = 300', ["bob@nordwerk.example"], ["other"], 20),
        (
            'seconds = 400\nrules = ["audience-size"]\nrule_seconds = 300',
            ["bob@nordwerk.example"],
            ["audience-size"],
            400,
        ),
    ],
)
def test_delay_is_seconds_outside_seconds_or_a_rules_delay_whichever_is_longest(toml, envelope, rules, expected):
    config = config_mod.parse(f'[organization]\ndomains = ["nordwerk.example"]\n[delay]\n{toml}\n')
    meta = {"envelope": envelope, "findings": [{"rule": r, "severity": "warn"} for r in rules]}
    assert undo.delay_seconds(meta, config) == expected


# ---- never early, never twice, never lost ------------------------------------------------------


def test_sendmail_returns_at_once_and_nothing_leaves_before_its_time(world):
    world.write_config("[delay]\nseconds = 30\n")
    code, err = send_at(world, make_message(to="bob@nordwerk.example"), NOW + 0.4)
    assert code == 0
    assert "sendguard undo" in err
    entry = only_entry()
    assert entry.state == q.DELAYED
    assert datetime.fromisoformat(entry.meta["not_before"]).timestamp() == NOW + 31  # rounded up, never down
    config = config_of(world)
    assert run_due(q.Queue.default(), config, now=NOW + 30).delivered == 0
    assert undo.deliver_if_due(q.Queue.default(), entry.id, config, now=NOW + 30) == "waiting"
    assert world.server.received == []
    assert run_due(q.Queue.default(), config, now=NOW + 31).delivered == 1
    assert run_due(q.Queue.default(), config, now=NOW + 99).delivered == 0
    assert undo.deliver_if_due(q.Queue.default(), entry.id, config, now=NOW + 99) == q.DELIVERED
    assert len(world.server.received) == 1
    assert only_entry().state == q.DELIVERED


def test_the_worker_loop_sleeps_until_due_then_delivers_once(world):
    """A fake clock: every sleep advances it; the message must not have left at any sleep."""
    world.write_config("[delay]\nseconds = 12\n")
    send_at(world, make_message(to="bob@nordwerk.example"), NOW)
    entry = only_entry()
    clock = [NOW + 1]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        assert world.server.received == [], "delivered before its time"
        slept.append(seconds)
        clock[0] += seconds

    result = undo.wait_and_deliver(q.Queue.default(), entry.id, config_of(world), clock=lambda: clock[0], sleep=sleep)
    assert result == q.DELIVERED
    assert clock[0] >= NOW + 12 and sum(slept) == pytest.approx(11)
    assert max(slept) <= 5  # it looks again now and then, so an undone entry's worker ends soon
    assert len(world.server.received) == 1


def test_the_real_worker_delivers_it_when_due_exactly_once(world):
    world.write_config("[delay]\nseconds = 2\n")
    proc = world.send(make_message(to="bob@nordwerk.example", subject="soon"), "-t")
    assert proc.returncode == 0 and proc.stdout == b""
    assert world.server.received == [], "sendmail returned before the window ended, not after it"
    wait_until(lambda: world.server.received, 30)
    assert len(world.server.received) == 1
    # The server has it a moment before the worker records "delivered": wait for the record.
    wait_until(lambda: only_entry().state == q.DELIVERED, 30)
    entry = only_entry()
    assert entry.state == q.DELIVERED
    assert datetime.fromisoformat(entry.meta["delivered"]) >= datetime.fromisoformat(entry.meta["not_before"])
    assert world.cli("queue", "run").returncode == 0
    assert len(world.server.received) == 1


def test_a_killed_worker_leaves_it_due_and_queue_run_delivers_it_once(world):
    world.write_config("[delay]\nseconds = 60\n")
    assert world.send(make_message(to="bob@nordwerk.example"), "-t").returncode == 0
    entry = only_entry()
    pid = worker_pid(entry)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _alive_worker(pid), 10, 0.02)
    assert not _alive_worker(pid)
    due = datetime.fromisoformat(entry.meta["not_before"]).timestamp()
    config = config_of(world)
    assert run_due(q.Queue.default(), config, now=due - 1).delivered == 0  # still not before its time
    assert only_entry().state == q.DELAYED
    report = run_due(q.Queue.default(), config, now=due)  # after the reboot, the timer's queue run
    assert report.delivered == 1, report.lines
    assert run_due(q.Queue.default(), config, now=due + 1).delivered == 0
    assert len(world.server.received) == 1


# ---- undo --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_undo_takes_it_back_as_a_draft_that_mutt_sends_again(world, tmp_path):
    world.write_config("[delay]\nseconds = 60\n")
    message = make_message(to="anna@kundenfirma.example", subject="Falke offer")
    assert (
        world.send(message, "--", "anna@kundenfirma.example", "boss@nordwerk.example").returncode == 0
    )  # Bcc as mutt does
    out = world.cli("undo", "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    assert row["state"] == "undone"
    draft = Path(row["draft"])
    assert draft.parent.name == "cur" and draft.name.endswith(":2,D")
    text = draft.read_bytes()
    assert b"Bcc: boss@nordwerk.example\n" in text and text.endswith(b"the Falke rollout is on track.\n\nRegards\nMe\n")
    config = config_of(world)
    assert run_due(q.Queue.default(), config, now=NOW).delivered == 0  # never, however late
    assert world.server.received == []
    again = world.cli("undo", row["id"])
    assert again.returncode != 0 and "undone" in again.stderr
    # The worker notices and ends by itself.
    pid = worker_pid(q.Queue.default().get(row["id"]))
    wait_until(lambda: not _alive_worker(pid), 15, 0.1)
    assert not _alive_worker(pid)
    # The person fixes nothing and sends the draft again with mutt: it goes out, Bcc included.
    world.write_config("")
    mutt_sends_draft(world, tmp_path / "mutthome", draft)
    assert len(world.server.received) == 1
    assert sorted(world.server.received[0].rcpt_tos) == ["anna@kundenfirma.example", "boss@nordwerk.example"]


def test_an_undone_message_without_a_date_is_dated_when_taken_back(world):
    """aerc lists a draft without a Date with "???????" for its date; one the program dated keeps its own."""
    world.write_config("[delay]\nseconds = 60\n")
    undated = make_message(subject="no date").replace(b"Date: Fri, 27 Nov 2026 09:00:00 +0000\n", b"")
    assert b"Date:" not in undated
    for message, expected in ((undated, NOW), (make_message(subject="dated"), 1795770000.0)):
        assert world.send(message, "-t").returncode == 0
        config = config_of(world)
        done = undo.undo(q.Queue.default(), None, config, drafts_dir=world.root / "Drafts", now=NOW)
        draft = email.message_from_bytes(done.draft.read_bytes(), policy=email.policy.default)
        assert len(draft.get_all("Date", [])) == 1
        assert draft["Date"].datetime.timestamp() == expected
        assert draft.get_content() == "Hello Anna,\n\nthe Falke rollout is on track.\n\nRegards\nMe\n"


def test_undo_without_a_writable_drafts_folder_still_takes_it_back(world, tmp_path):
    """It ended in a traceback and left the message waiting: the worker would send it when due."""
    not_a_folder = tmp_path / "drafts-is-a-file"
    not_a_folder.write_text("")
    world.write_config(f'[delay]\nseconds = 60\n[drafts]\nmaildir = "{not_a_folder}"\n')
    message = make_message(to="anna@kundenfirma.example")
    assert world.send(message, "anna@kundenfirma.example").returncode == 0
    entry = only_entry()
    out = world.cli("undo")
    assert out.returncode == 64 and "Traceback" not in out.stderr
    first, *hints = out.stderr.splitlines()
    assert first == (
        f"sendguard: error: {entry.id} is taken back and will not leave, but no draft could be written "
        f"in {not_a_folder}: Not a directory"
    )
    assert hints[0] == f"  the message is kept: {entry.message_path}"
    assert q.Queue.default().get(entry.id).state == q.UNDONE
    assert entry.message_path.read_bytes() == message
    assert run_due(q.Queue.default(), config_of(world), now=NOW).delivered == 0
    assert world.server.received == []


def test_undo_after_it_left_says_so_honestly_and_points_to_oops(world):
    assert world.send(make_message(to="bob@nordwerk.example"), "-t").returncode == 0
    entry = only_entry()
    out = world.cli("undo")
    assert out.returncode != 0
    assert "no message is waiting" in out.stderr and f"sendguard oops {entry.id}" in out.stderr
    out = world.cli("undo", entry.id)
    assert "already left" in out.stderr and "cannot recall" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_undo_racing_the_delivery_never_both_never_neither(world):
    """Worker and undo start together on a due message: exactly one of them wins."""
    world.write_config("[delay]\nseconds = 5\n")
    config = config_of(world)
    outcomes = []
    for n in range(6):
        subject = f"race {n}"
        undo.accept_delayed(
            q.Queue.default(),
            make_message(to="bob@nordwerk.example", subject=subject),
            {
                "envelope": ["bob@nordwerk.example"],
                "recipients": ["bob@nordwerk.example"],
                "options": [],
                "subject": subject,
                "verdict": "pass",
                "findings": [],
            },
            config,
            "accepted",
            now=time.time() - 10,
            spawn=False,
        )
        entry = [e for e in q.Queue.default().entries() if e.meta["subject"] == subject][0]
        worker = subprocess.Popen(
            [sys.executable, "-m", "sendguard.act.delay", str(entry.path), str(world.config_path)], env=world.env()
        )
        if n % 2:
            time.sleep(0.01 * n)
        taken = world.cli("undo", entry.id, "--json")
        worker.wait(timeout=60)
        state = q.Queue.default().get(entry.id).state
        arrived = [r for r in world.server.received if f"Subject: {subject}".encode() in r.data]
        if taken.returncode == 0:
            assert state == q.UNDONE and arrived == [], (n, taken.stdout)
        else:
            assert state == q.DELIVERED and len(arrived) == 1, (n, taken.stderr)
            assert "already left" in taken.stderr
        outcomes.append(state)
    print("race outcomes:", outcomes)
    assert set(outcomes) <= {q.UNDONE, q.DELIVERED}


# ---- what runs queue run after a reboot: the systemd user timer, or cron -----------------------


def test_the_systemd_user_units_are_valid_and_their_command_delivers_what_is_due(world, tmp_path):
    service = (HOOKS / "sendguard-queue.service").read_text()
    timer = (HOOKS / "sendguard-queue.timer").read_text()
    assert "OnUnitActiveSec=1min" in timer and "Persistent=true" in timer and "WantedBy=timers.target" in timer
    exec_start = next(line.split("=", 1)[1] for line in service.splitlines() if line.startswith("ExecStart="))
    assert exec_start == "%h/.local/bin/sendguard queue run"
    home = tmp_path / "unithome"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "sendguard").symlink_to(world.sendguard)
    verify_user_units(tmp_path, home, "sendguard-queue.service", "sendguard-queue.timer")
    # The unit's command, as systemd would run it, delivers a message whose worker was killed.
    # A long window, so the worker cannot have delivered it before the kill however late this
    # test gets to it; then its time is made to have come (the unit's command reads the real clock).
    world.write_config("[delay]\nseconds = 60\n")
    assert world.send(make_message(to="bob@nordwerk.example"), "-t").returncode == 0
    pid = worker_pid(only_entry())
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _alive_worker(pid), 20, 0.02)
    assert not _alive_worker(pid)
    with q.Queue.default().locked(only_entry().id) as entry:
        entry.save(not_before=q.now_iso(time.time() - 1))  # as after a night switched off
    assert only_entry().state == q.DELAYED and world.server.received == []
    argv = exec_start.replace("%h", str(home)).split()
    proc = subprocess.run(
        [argv[0], "--config", str(world.config_path), *argv[1:]],
        capture_output=True,
        text=True,
        env=world.env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(world.server.received) == 1


def test_the_cron_line_runs_queue_run_every_minute():
    lines = [
        line
        for line in (HOOKS / "sendguard-queue.cron").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(lines) == 1
    fields = lines[0].split()
    assert fields[:5] == ["*"] * 5 and fields[5].endswith("/sendguard") and fields[6:8] == ["queue", "run"]


def test_a_worker_that_cannot_start_costs_nothing_queue_run_delivers_it(world, monkeypatch):
    world.write_config("[delay]\nseconds = 30\n")
    with monkeypatch.context() as patched:
        patched.setattr(sys, "executable", "/nonexistent/python3")  # no worker, no indexer can start
        code, err = send_at(world, make_message(to="bob@nordwerk.example"), NOW)
    assert code == 0
    assert "could not start" in err and "sendguard queue run" in err
    assert "could not record" not in err  # the record is written; only its indexing waits
    entry = only_entry()  # kept once, not a second time as an error
    assert entry.state == q.DELAYED
    assert run_due(q.Queue.default(), config_of(world), now=NOW + 30).delivered == 1
    assert len(world.server.received) == 1
