"""Crash injection: kill each process of the send path at each step; no mail is lost or doubled.

Every trial sends one message through the installed ``sendguard-sendmail`` to msmtp and a real
aiosmtpd on 127.0.0.1, with one process killed (SIGKILL) at one named point
(sendguard/faults.py): the caller in-process, the caller as the resident checker's client, the
resident checker, the undo window's worker, or msmtp itself (killed by the SMTP server when the
recipient is given, or after it has the message but before it answers). Then what a person
would do: a mail program that was not told "sent" sends the message again, and a timer runs
`queue run`. Afterwards the SMTP server must have the message at most once, and if not at all,
the queue must still keep it for a person — never lost, never doubled.

Trials per point: ``SENDGUARD_CRASH_TRIALS`` (a multiplier, default 1: 204 trials in all).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sendguard.sendpath import client as resident
from tests.conftest import sendguard_exe
from tests.support.wait import pid_in, process_alive, wait_until

SCALE = float(os.environ.get("SENDGUARD_CRASH_TRIALS", "1"))

# (role, kill point, trials at scale 1). Roles: "inproc" (the caller, no resident checker),
# "client" / "server" (the resident checker's two sides), "worker" (the undo window's), and
# "transport-*" (msmtp killed by the SMTP server), each under "inproc" or "server".
SCENARIOS = [
    ("inproc", "", 12),  # no kill: the control
    ("inproc", "after-kept", 20),
    ("inproc", "before-sending", 12),
    ("inproc", "after-sending", 20),
    ("inproc", "after-transport", 20),
    ("inproc", "transport-rcpt", 16),
    ("inproc", "transport-data", 20),
    ("client", "client-after-request", 8),
    ("server", "server-after-receive", 8),
    ("server", "after-kept", 10),
    ("server", "after-sending", 8),
    ("server", "after-transport", 10),
    ("server", "server-before-answer", 10),
    ("server", "transport-data", 8),
    ("server", "transport-rcpt", 6),
    ("worker", "before-sending", 4),
    ("worker", "after-sending", 4),
    ("worker", "after-transport", 4),
]
assert sum(n for *_, n in SCENARIOS) >= 200

KEPT_FOR_A_PERSON = {"held", "blocked", "interrupted", "failed", "deferred", "sending"}


class Smtp:
    """aiosmtpd on 127.0.0.1 that counts messages by Message-ID and, once per trial, kills the
    msmtp talking to it: at RCPT (nothing delivered) or after DATA (delivered, no answer)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.kill_at = ""  # "rcpt" or "data": the next transport to get there is killed
        self.pid_file: Path | None = None
        self.lock = threading.Lock()

    def _kill_transport(self, where: str) -> bool:
        with self.lock:
            if self.kill_at != where or self.pid_file is None:
                return False
            self.kill_at = ""
            pid = int(self.pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        return True

    def start(self) -> Smtp:
        from aiosmtpd.controller import Controller

        from sendguard.cli.support.loopback import free_port

        smtp = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]  # noqa: N802
                if smtp._kill_transport("rcpt"):
                    return "451 4.3.0 gone"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
                for line in envelope.original_content.splitlines():
                    if line.lower().startswith(b"message-id:"):
                        key = line.split(b":", 1)[1].strip().decode()
                        with smtp.lock:
                            smtp.counts[key] = smtp.counts.get(key, 0) + 1
                        break
                smtp._kill_transport("data")  # it has the message; msmtp never hears so
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, ready_timeout=60)
        self.controller.start()
        return self


@pytest.fixture(scope="module")
def smtp():
    pytest.importorskip("aiosmtpd.controller")
    server = Smtp().start()
    yield server
    server.controller.stop()


@pytest.fixture
def setup(tmp_path, smtp, monkeypatch):
    import shutil

    if not shutil.which("msmtp"):
        pytest.skip("msmtp is not installed")
    from sendguard.cli.support.loopback import world_config, write_msmtprc

    msmtprc = write_msmtprc(tmp_path / "msmtprc", smtp.port, "me@nordwerk.example")
    wrapper = tmp_path / "transport"
    # exec: the pid it writes is msmtp's, for the SMTP server to kill.
    wrapper.write_text('#!/bin/sh\necho $$ > "$SG_TRIAL_DIR/transport.pid"\nexec msmtp "$@"\n')
    wrapper.chmod(0o755)
    base = world_config(msmtprc, msmtp=str(wrapper)).replace("[sendmail]\n", "[sendmail]\nresident_idle = 30\n")
    config = tmp_path / "config.toml"
    config.write_text(base)
    delayed = tmp_path / "delayed.toml"
    delayed.write_text(base + "\n[delay]\nseconds = 1\n")
    return tmp_path, config, delayed


def message(mid: str) -> bytes:
    return (
        f"From: Me <me@nordwerk.example>\nTo: Anna <anna@kundenfirma.example>\nSubject: status {mid}\n"
        f"Date: Fri, 27 Nov 2026 09:00:00 +0000\nMessage-ID: <{mid}>\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n\nHello Anna,\n\nthe rollout is on track.\n\nMe\n"
    ).encode()


def wait_gone(pid: int, timeout: float = 30.0) -> None:
    # a zombie counts as gone: dead, waiting for a parent that is gone or busy
    assert wait_until(lambda: not process_alive(pid), timeout, 0.01), f"process {pid} did not end"


def queue_entries(data: Path) -> list[dict]:
    root = data / "sendguard" / "queue"
    return [json.loads(p.read_text()) for p in sorted(root.glob("*/meta.json"))]


def trial(smtp: Smtp, setup, monkeypatch, role: str, point: str, n: int) -> str:
    """One trial; returns what happened, for the summary."""
    from sendguard.act import queue as q
    from sendguard.act.ops import run_due
    from sendguard.config import schema as config_mod
    from sendguard.sendpath.path import SendPath

    root, config, delayed = setup
    tdir = root / f"{role}-{point or 'none'}-{n}"
    data = tdir / "data"
    run = tdir / "run"
    for d in (data, run):
        d.mkdir(parents=True, mode=0o700)
    config_path = delayed if role == "worker" else config
    mid = f"crash-{role}-{point or 'none'}-{n}-{os.getpid()}@nordwerk.example"
    raw = message(mid)
    env = dict(os.environ)
    env.update(
        XDG_DATA_HOME=str(data),
        XDG_RUNTIME_DIR=str(run),
        SG_TRIAL_DIR=str(tdir),
        SENDGUARD_CONFIG=str(config_path),
        SENDGUARD_RESIDENT="0" if role in ("inproc", "worker") else "1",
    )
    env.pop("SENDGUARD_KILL_AT", None)
    transport_kill = point.startswith("transport-")
    smtp.pid_file = tdir / "transport.pid"
    smtp.kill_at = point.removeprefix("transport-") if transport_kill else ""
    killed_env = dict(env, SENDGUARD_KILL_AT=point) if point and not transport_kill else env

    monkeypatch.setenv("XDG_DATA_HOME", str(data))  # for socket_path here and SendPath below
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    monkeypatch.setenv("SG_TRIAL_DIR", str(tdir))
    server = None
    if role in ("client", "server"):
        server = subprocess.Popen(
            [sys.executable, "-m", "sendguard.sendpath.server", str(config_path)],
            env=killed_env if role == "server" else env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        where = resident.socket_path(str(config_path))
        wait_until(lambda: Path(where).exists() or server.poll() is not None, 30, 0.01)
        assert Path(where).exists(), "the server did not start"
    caller_env = killed_env if role in ("inproc", "client") else env
    proc = subprocess.run(
        [sendguard_exe("sendguard-sendmail"), "-t"],
        input=raw,
        capture_output=True,
        env=caller_env,
        timeout=120,
        check=False,
    )
    # Wait for everything of this trial to end: the server (asked to stop once it is idle; it
    # finishes a mail first), an orphaned msmtp, the undo window's worker.
    if server is not None:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    if role == "worker":
        for entry_dir in (data / "sendguard" / "queue").glob("[0-9]*"):
            pid = pid_in(entry_dir / "worker.pid")
            if pid is not None:
                wait_gone(pid)
    if smtp.pid_file.exists():
        wait_gone(int(smtp.pid_file.read_text()))
    smtp.kill_at = ""

    # What a person does: a mail program not told "sent" sends it again; a timer runs queue run.
    cfg = config_mod.load(config_path, required=True)
    queue = q.Queue(data / "sendguard" / "queue")
    again = None
    if proc.returncode != 0:
        stderr = io.StringIO()
        again = SendPath(config_path, stderr, queue=queue).run(["-t"], io.BytesIO(raw))
    run_due(queue, cfg, now=time.time() + 5)  # + 5: past any undo window

    delivered = smtp.counts.get(f"<{mid}>", 0)
    entries = queue_entries(data)
    states = [e["state"] for e in entries]
    what = f"{role}/{point or 'none'}#{n}: exit {proc.returncode}, again {again}, delivered {delivered}, {states}"
    assert delivered <= 1, "DUPLICATED: " + what + "\n" + proc.stderr.decode()
    if delivered == 0:
        kept = [e for e in entries if e["state"] in KEPT_FOR_A_PERSON]
        assert kept, "LOST: " + what + "\n" + proc.stderr.decode()
        for e in kept:
            assert (queue.root / e["id"] / "message.eml").read_bytes() == raw
    assert not [p for p in queue.root.iterdir() if p.name.startswith(".new-")], "leftovers: " + what
    return what


@pytest.mark.parametrize(("role", "point", "trials"), SCENARIOS, ids=[f"{r}-{p or 'none'}" for r, p, _ in SCENARIOS])
def test_no_kill_point_loses_or_doubles_a_message(smtp, setup, monkeypatch, role, point, trials):
    outcomes = [trial(smtp, setup, monkeypatch, role, point, n) for n in range(max(1, round(trials * SCALE)))]
    if not point:  # the control: nothing killed, everything delivered at once
        assert all("exit 0" in o and "delivered 1" in o for o in outcomes), outcomes
