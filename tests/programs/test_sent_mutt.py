"""[sent] maildir with the real mutt and its own Fcc (``record``): Sent ends up with exactly one
copy of each message that left — mutt's for what it saw leave, sendguard's for what sendguard
delivered later — and none of what never left."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sendguard.act import delay as undo
from sendguard.act import queue as q
from sendguard.config import schema as config_mod
from tests.support.mua import HOLD_EXTERNAL, need
from tests.support.wait import pid_in

pytestmark = pytest.mark.slow


def _maildir(path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def _mutt(
    world, home: Path, sent: Path, subject: str, to: str = "anna@kundenfirma.example"
) -> subprocess.CompletedProcess[bytes]:
    exe = need("mutt")
    home.mkdir(exist_ok=True)
    rc = home / "muttrc"
    rc.write_text(
        f'set sendmail="{world.sendmail}"\n'
        f'set mbox_type=Maildir record="{sent}" copy=yes postpone=no\n'
        'set realname="Me" from="me@nordwerk.example" use_from=yes\n'
    )
    env = world.env()
    env["HOME"] = str(home)
    argv = [exe, "-F", str(rc), "-s", subject, "--", to]
    return subprocess.run(
        argv, input=b"Hello Anna,\n\nthe plan.\n", capture_output=True, env=env, timeout=60, check=False
    )


def _stop_worker(entry: q.Entry) -> None:
    """The undo window's worker this test started (its pid file names it)."""
    pid = pid_in(entry.path / "worker.pid", 20)
    if pid is None:
        return
    with contextlib.suppress(OSError):
        if b"sendguard.act.delay" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)


def _copies(sent: Path) -> list[bytes]:
    return [p.read_bytes() for sub in ("cur", "new") for p in sorted((sent / sub).iterdir())]


def test_a_hold_released_later_is_in_sent_once(world, tmp_path):
    sent = _maildir(tmp_path / "Sent")
    world.write_config(f'[sent]\nmaildir = "{sent}"\n' + HOLD_EXTERNAL)
    proc = _mutt(world, tmp_path / "home", sent, "held then released")
    assert proc.returncode != 0  # exit 75: mutt says it could not send
    assert _copies(sent) == [], "mutt files nothing it did not see leave"
    (entry,) = q.Queue.default().entries()
    assert world.cli("release", entry.id).returncode == 0
    (copy,) = _copies(sent)
    assert b"Subject: held then released" in copy


def test_the_undo_window_leaves_one_copy_mutts_own(world, tmp_path):
    sent = _maildir(tmp_path / "Sent")
    world.write_config(f'[sent]\nmaildir = "{sent}"\n[delay]\nseconds = 3600\n')
    proc = _mutt(world, tmp_path / "home", sent, "in the undo window")
    assert proc.returncode == 0, proc.stderr
    assert len(_copies(sent)) == 1, "mutt filed it when sendmail said 0"
    (entry,) = q.Queue.default().entries()
    _stop_worker(entry)  # it would sleep an hour; the window's end is simulated below
    config = config_mod.load(world.config_path)
    assert undo.deliver_if_due(q.Queue.default(), entry.id, config, now=time.time() + 7200) == q.DELIVERED
    assert len(world.server.received) == 1
    assert len(_copies(sent)) == 1, "not filed twice"


def test_sending_it_again_to_the_right_person_supersedes_the_held_copy(world, tmp_path):
    sent = _maildir(tmp_path / "Sent")
    world.write_config(f'[sent]\nmaildir = "{sent}"\n' + HOLD_EXTERNAL)
    assert _mutt(world, tmp_path / "home", sent, "the plan").returncode != 0  # held: the client
    assert _mutt(world, tmp_path / "home", sent, "the plan", to="kai@nordwerk.example").returncode == 0
    from sendguard import paths
    from sendguard.act import events

    assert events.settle(paths.state_dir())  # the detached observer has done its work
    states = {e.meta["envelope"][0]: e.state for e in q.Queue.default().entries()}
    assert states == {"anna@kundenfirma.example": "superseded", "kai@nordwerk.example": "delivered"}
    assert len(_copies(sent)) == 1, "mutt filed what it saw leave; the superseded copy never left"
