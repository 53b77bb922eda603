"""sendmail's own options through the real executables: they print and keep nothing.

``--help``/``--version`` print; ``-bp`` lists sendguard's queue and ``-q`` runs it (as sendmail and
msmtpq do); other modes exit 64 with one line; an empty message exits 65. None leaves an entry.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import make_message
from tests.support.mua import HOLD_EXTERNAL, queue_rows


def all_rows(world) -> list[str]:  # type: ignore[no-untyped-def]
    proc = world.cli("queue", "list", "--all", "--json")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize("how", ["sendguard-sendmail", "sendguard sendmail"])
@pytest.mark.parametrize(
    ("argv", "code", "shown"),
    [
        (["--help"], 0, b"usage: sendguard-sendmail"),
        (["--version"], 0, b"sendguard"),
        (["-bp"], 0, b"queue is empty"),
        (["-q"], 0, b"nothing was due"),
        (["-bv", "anna@kundenfirma.example"], 64, b"-bv (verify addresses) is not offered"),
        (["-bs"], 64, b"-bs (SMTP on stdin) is not offered"),
        (["-bd"], 64, b"not offered"),
    ],
)
def test_modes_print_and_keep_nothing(world, how, argv, code, shown):
    exe = [world.sendmail] if how == "sendguard-sendmail" else [world.sendguard, "sendmail"]
    # stdin stays open and empty: a mode must not wait for a message, nor keep one
    proc = subprocess.run(
        [*exe, *argv], stdin=subprocess.DEVNULL, capture_output=True, env=world.env(), timeout=60, check=False
    )
    assert proc.returncode == code, proc.stderr
    assert shown in (proc.stdout if code == 0 else proc.stderr)
    if code:
        assert proc.stdout == b"" and len(proc.stderr.splitlines()) == 1
    assert all_rows(world) == []


@pytest.mark.parametrize("message", [b"", b"\n\n  \n"])
@pytest.mark.parametrize("argv", [["-t"], ["anna@kundenfirma.example"]])
def test_an_empty_message_exits_65_and_keeps_nothing(world, message, argv):
    proc = world.send(message, *argv)
    assert proc.returncode == 65
    assert b"empty" in proc.stderr and proc.stdout == b""
    assert all_rows(world) == []
    assert world.server.received == []


def test_bp_lists_what_is_held_and_q_delivers_what_is_due(world):
    world.write_config(HOLD_EXTERNAL)
    assert world.send(make_message(subject="Falke one"), "anna@kundenfirma.example").returncode == 75
    (row,) = queue_rows(world)
    listed = world.send(b"", "-bp")
    assert listed.returncode == 0
    assert row["id"].encode() in listed.stdout and b"Falke one" in listed.stdout
    released = world.cli("queue", "run")  # nothing due: held mail waits for a person
    assert released.returncode == 0 and world.server.received == []
    assert world.send(b"", "-q").returncode == 0
    assert world.server.received == []


def test_release_and_discard_take_several_ids(world):
    world.write_config(HOLD_EXTERNAL)
    for subject in ("Falke a", "Falke b", "Falke c", "Falke d"):
        assert world.send(make_message(subject=subject), "anna@kundenfirma.example").returncode == 75
    ids = {row["subject"]: row["id"] for row in queue_rows(world)}
    released = world.cli("release", ids["Falke a"], ids["Falke b"])
    assert released.returncode == 0, released.stderr
    assert len(world.server.received) == 2
    discarded = world.cli("discard", ids["Falke c"], "no-such-id", ids["Falke d"])
    assert discarded.returncode != 0 and "no-such-id" in discarded.stderr
    assert queue_rows(world) == [], "both real ids were discarded despite the bad one between them"
    assert len(world.server.received) == 2
