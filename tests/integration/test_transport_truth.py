"""What the transport's exit proves, what reaches the terminal, a full disk, a second copy.

Real msmtp to a real aiosmtpd on 127.0.0.1 (one that answers 451 when told to), the installed
sendguard-sendmail and sendguard CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from sendguard.act import events
from sendguard.act import queue as q
from sendguard.act.delivery import outcome
from tests.conftest import make_message
from tests.support.wait import wait_until

RCPT = "anna@kundenfirma.example"


def script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o700)
    return str(path)


def set_transport(world, *command: str) -> None:  # type: ignore[no-untyped-def]
    text = world.config_path.read_text()
    start = text.index("command = [")
    end = text.index("]", start) + 1
    world.config_path.write_text(text[:start] + "command = " + json.dumps(list(command)) + text[end:])


def rows(world) -> list[dict]:  # type: ignore[no-untyped-def]
    proc = world.cli("queue", "list", "--json", "--all")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


# ---- honest states ---------------------------------------------------------------------------


def test_what_an_exit_proves() -> None:
    assert outcome(0, "") == q.DELIVERED
    assert outcome(75, "") == q.DEFERRED
    assert outcome(69, "msmtp: server message: 451 4.3.0 try later\n") == q.DEFERRED
    assert outcome(69, "msmtp: server message: 550 5.1.1 no such user\n") == q.FAILED
    assert outcome(69, "no route to the smarthost") == q.FAILED
    assert outcome(-9, "") == q.INTERRUPTED  # killed by a signal: it may have sent it
    assert outcome(74, "") == q.INTERRUPTED  # an I/O error mid-transfer proves nothing
    assert outcome(1, "") == q.INTERRUPTED


def test_a_transport_killed_by_a_signal_is_interrupted_not_failed(world, tmp_path):
    set_transport(world, script(tmp_path / "dies", "cat >/dev/null\nkill -9 $$\n"))
    proc = world.send(make_message(subject="killed transport"), RCPT)
    assert proc.returncode == 75, proc.stderr
    assert b"may have left" in proc.stderr and b"release" in proc.stderr
    (row,) = rows(world)
    assert row["state"] == "interrupted"
    assert world.cli("queue", "run").returncode == 0
    assert world.server.received == [], "never resent on its own"


@pytest.fixture
def smtp451(world):
    """The world's aiosmtpd, answering 451 to RCPT while ``busy`` is set."""
    from aiosmtpd.controller import Controller

    from sendguard.cli.support.loopback import free_port

    state = {"busy": True, "received": 0}

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]  # noqa: N802
            if state["busy"]:
                return "451 4.3.0 mailbox busy, try again later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
            state["received"] += 1
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=60)
    controller.start()
    rc = tmp = world.root / "msmtprc451"
    tmp.write_text(
        f"defaults\nauth off\ntls off\n\naccount default\nhost 127.0.0.1\nport {port}\nfrom me@nordwerk.example\n"
    )
    rc.chmod(0o600)
    set_transport(world, "msmtp", "-C", str(rc))
    yield state
    controller.stop()


def test_a_temporary_smtp_refusal_is_deferred_and_retried_by_queue_run(world, smtp451):
    proc = world.send(make_message(subject="busy mailbox"), RCPT)
    assert proc.returncode == 75, proc.stderr  # msmtp exits 69; its 451 says "later"
    assert b"451" in proc.stderr
    (row,) = rows(world)
    assert row["state"] == "deferred"
    smtp451["busy"] = False
    run = world.cli("queue", "run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert smtp451["received"] == 1
    assert [r["state"] for r in rows(world)] == ["delivered"]


# ---- escapes ---------------------------------------------------------------------------------


def test_release_and_queue_run_print_recipients_and_transport_errors_escaped(world, tmp_path):
    set_transport(
        world, script(tmp_path / "loud", "cat >/dev/null\nprintf 'bad \\033]0;owned\\007 \\033[2J' >&2\nexit 75\n")
    )
    queue = q.Queue(Path(os.environ["XDG_DATA_HOME"]) / "sendguard" / "queue")
    entry, lock = queue.create(
        make_message(subject="escapes"),
        {"state": q.HELD, "verdict": "hold", "envelope": ["evil\x1b[31m@kundenfirma.example"], "recipients": [RCPT]},
    )
    lock.release()
    released = world.cli("release", entry.id)
    assert released.returncode == 75
    run = world.cli("queue", "run")
    for proc in (released, run):
        assert "\x1b" not in proc.stdout + proc.stderr and "\x07" not in proc.stdout + proc.stderr
    assert "\\x1b" in released.stderr and "\\x1b" in run.stdout
    set_transport(world, script(tmp_path / "quiet", "cat >/dev/null\nexit 0\n"))
    ok = world.cli("release", entry.id)
    assert ok.returncode == 0, ok.stderr
    assert "\x1b" not in ok.stdout and "evil\\x1b[31m@kundenfirma.example" in ok.stdout


def test_notify_send_reads_the_subject_as_text_never_as_an_option(tmp_path):
    from sendguard.act.notify import notify

    argv_file = tmp_path / "argv"
    fake = tmp_path / "notify-send"
    fake.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {argv_file}\n')
    fake.chmod(0o755)
    env = {"DISPLAY": ":0", "PATH": f"{tmp_path}:/usr/bin:/bin"}
    assert notify("--urgency=low", "-? body", env=env, wait=10)
    argv = argv_file.read_text().splitlines()
    assert argv[argv.index("--") + 1 :] == ["--urgency=low", "-? body"]


# ---- a second copy ---------------------------------------------------------------------------


def test_a_message_sent_again_after_it_left_is_held_not_sent_twice(world):
    message = make_message(subject="once only")
    first = world.send(message, "-t")
    assert first.returncode == 0, first.stderr
    again = world.send(message, "-t")
    assert again.returncode == 0, again.stderr
    assert b"not sent twice" in again.stderr
    assert len([m for m in world.server.received if b"once only" in m.data]) == 1
    states = sorted(r["state"] for r in rows(world))
    assert states == ["delivered", "held"]
    held = next(r for r in rows(world) if r["state"] == "held")
    assert world.cli("release", held["id"]).returncode == 0  # the person says so: it goes
    assert len([m for m in world.server.received if b"once only" in m.data]) == 2


def test_duplicate_window_0_compares_nothing(world):
    world.config_path.write_text(
        world.config_path.read_text().replace("[sendmail]\n", "[sendmail]\nduplicate_window = 0\n")
    )
    message = make_message(subject="twice on purpose")
    assert world.send(message, "-t").returncode == 0
    assert world.send(message, "-t").returncode == 0
    assert len([m for m in world.server.received if b"twice on purpose" in m.data]) == 2


def test_a_kept_copy_that_never_left_is_sent_once_when_the_mail_program_sends_it_again(world, tmp_path):
    message = make_message(subject="second try")
    set_transport(world, script(tmp_path / "busy", "cat >/dev/null\nexit 75\n"))
    assert world.send(message, "-t").returncode == 75  # deferred: kept, due for queue run
    set_transport(world, "msmtp", "-C", str(world.msmtprc))
    assert world.send(message, "-t").returncode == 0  # the mail program tries again
    assert world.cli("queue", "run").returncode == 0
    assert len([m for m in world.server.received if b"second try" in m.data]) == 1
    assert [r["state"] for r in rows(world)] == ["delivered"]


# ---- a full disk -----------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(path: Path, size: str):  # type: ignore[no-untyped-def]
    path.mkdir()
    if os.getuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small tmpfs")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_a_full_disk_keeps_the_message_or_leaves_nothing_that_could_be_sent(world, tmp_path, monkeypatch):
    from sendguard.act.ops import run_due
    from sendguard.config.schema import load

    """Free space swept over the range where keeping the message fails part-way (it used to
    say "not kept", exit 70, and leave an entry the next queue run delivered)."""
    # The free space is what each step sets, so nothing may write to the disk meanwhile: no
    # indexer (it lingers after a mail) and no learning (a refit follows it, outside the lock
    # settle() waits for); the rest of a mail's observers are waited for before each step.
    world.write_config("[history]\nlearn_delivered = false\n\n[log]\nnotmuch = false\n")
    with small_disk(tmp_path / "disk", "512k") as disk:
        monkeypatch.setenv("XDG_DATA_HOME", str(disk))
        body = "Hello Anna,\n\n" + "the rollout is on track.\n" * 400  # ~10 kB
        outcomes = []
        config = load(world.config_path, required=True)
        for step, free in enumerate(range(0, 36 * 1024, 3072)):
            subject = f"full disk {step}"
            assert events.settle(disk / "sendguard", 60), "the last mail's observers are still at work"
            filler = disk / "filler"
            filler.unlink(missing_ok=True)
            spare = free_bytes(disk) - free
            if spare > 0:
                with open(filler, "wb") as out:
                    out.write(b"\0" * spare)
            proc = world.send(
                make_message(subject=subject, body=body), "-t", env=dict(world.env(), XDG_DATA_HOME=str(disk))
            )
            filler.unlink(missing_ok=True)
            assert proc.returncode in (0, 73, 75), (free, proc.returncode, proc.stderr)
            run = run_due(q.Queue(disk / "sendguard" / "queue"), config)  # as `queue run` does
            sent = len([m for m in world.server.received if subject.encode() in m.data])
            assert sent <= 1, (free, proc.returncode, proc.stderr)
            if proc.returncode == 0:
                assert sent == 1, (free, proc.stderr)
            elif proc.returncode == 73:
                assert sent == 0 and b"your mail program still has it" in proc.stderr, (free, proc.stderr, run.lines)
            else:
                assert b"kept as" in proc.stderr, (free, proc.stderr)
            outcomes.append(proc.returncode)
        leftovers = [p.name for p in (disk / "sendguard" / "queue").iterdir() if p.name.startswith(".new-")]
        assert leftovers == []
        assert 73 in outcomes and 0 in outcomes, outcomes  # the sweep crossed the edge


def test_a_caller_stopped_mid_send_still_records_what_the_transport_did(world, tmp_path):
    """SIGTERM to sendguard-sendmail while msmtp runs: it waits for the transport, records
    "delivered", then ends by that signal (it used to die at once and leave "sending")."""
    import signal

    started = tmp_path / "started"
    go = tmp_path / "go"
    set_transport(
        world,
        script(
            tmp_path / "slow",
            f'touch {started}\nwhile [ ! -e {go} ]; do sleep 0.02; done\nexec msmtp -C {world.msmtprc} "$@"\n',
        ),
    )
    env = dict(world.env(), SENDGUARD_RESIDENT="0")
    proc = subprocess.Popen(
        [world.sendmail, "-t"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    proc.stdin.write(make_message(subject="stopped mid-send"))
    proc.stdin.close()
    assert wait_until(lambda: started.exists() or proc.poll() is not None, 60, 0.02), "the transport never started"
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    # The transport goes on only once sendmail has taken the signal (it is no longer pending).
    assert wait_until(lambda: not _pending(proc.pid, signal.SIGTERM), 60, 0.01), "SIGTERM was never delivered"
    go.touch()
    assert proc.wait(timeout=60) == -signal.SIGTERM
    assert [r["state"] for r in rows(world)] == ["delivered"]
    assert len([m for m in world.server.received if b"stopped mid-send" in m.data]) == 1


def _pending(pid: int, signum: int) -> bool:
    """Whether ``signum`` was sent to ``pid`` and not yet delivered (its handler has not run)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("ShdPnd:", "SigPnd:")) and int(line.split()[1], 16) >> (signum - 1) & 1:
            return True
    return False
