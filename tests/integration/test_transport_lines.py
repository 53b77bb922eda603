"""A transport's reason of several lines (msmtp: what failed, the server's reply, the account)
reaches the person one line per line, each through printable(): in the mail program's error,
the queue list, `release`, the review screen and a notice. Real msmtp, aiosmtpd refusing."""

from __future__ import annotations

import json
import subprocess

from sendguard import paths
from sendguard.act import notices
from sendguard.act import queue as q
from sendguard.recover.review_data import message_view
from sendguard.tui import render
from tests.conftest import make_message

TO = "nobody@kundenfirma.example"


def refused(world, stderr: int | None = None) -> tuple[subprocess.CompletedProcess[bytes], str]:  # type: ignore[no-untyped-def]
    world.server.refuse.add(TO)
    world.server.refusal = "550 no such user \x1b[2Jhere"  # the server's text is untrusted: msmtp shows "?"
    proc = subprocess.run(
        [world.sendmail, TO],
        input=make_message(to=TO),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stderr is None else stderr,
        env=world.env(),
        timeout=60,
        check=False,
    )
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert row["state"] == "failed"
    return proc, row["id"]


def msmtp_lines(world) -> list[str]:
    """What msmtp 1.8 says, as it says it."""
    return [
        f"msmtp: recipient address {TO} not accepted by the server",
        "msmtp: server message: 550 no such user ?[2Jhere",
        f"msmtp: could not send mail (account default from {world.msmtprc})",
    ]


def test_the_mail_program_sees_each_line_of_the_transport_on_its_own(world):
    proc, entry_id = refused(world)
    assert proc.returncode == 65  # msmtp's own code, passed through
    assert proc.stderr.decode().splitlines() == [
        f"sendguard: error: the transport failed (exit 65); the message is kept as {entry_id}:",
        *(f"    {line}" for line in msmtp_lines(world)),
        f"  fix the cause, then `sendguard release {entry_id}`",
    ]


def test_queue_list_and_release_show_each_line_on_its_own(world):
    _, entry_id = refused(world)
    listed = world.cli("queue", "list").stdout.splitlines()
    first, *more = msmtp_lines(world)
    assert listed[1:] == [f"    transport: {first}", *(f"      {line}" for line in more)]
    again = world.cli("release", entry_id)
    assert again.returncode == 65
    assert again.stderr.splitlines() == [
        f"sendguard: error: the transport failed (exit 65); the message is kept as {entry_id}:",
        *(f"    {line}" for line in msmtp_lines(world)),
        f"  fix the cause, then `sendguard release {entry_id}`",
    ]


def test_the_review_screen_shows_each_line_on_its_own(world):
    from sendguard.config.schema import load

    _, entry_id = refused(world)
    shown = render.detail(message_view(q.Queue.default(), entry_id, load(world.config_path))).plain
    first, *more = msmtp_lines(world)
    at = shown.splitlines().index(f"  note transport: {first}")
    assert shown.splitlines()[at + 1 : at + 3] == [f"       {line}" for line in more]
    assert "\x1b" not in shown


def test_a_notice_shows_each_line_on_its_own(world):
    """stderr on /dev/null: nobody reads it, so the failure becomes a notice."""
    _, entry_id = refused(world, stderr=subprocess.DEVNULL)
    (notice,) = notices.take(paths.state_dir())
    body = notice["body"]
    at = body.index(f"Why: the transport failed (exit 65); the message is kept as {entry_id}:")
    assert body[at + 1 : at + 4] == [f"  {line}" for line in msmtp_lines(world)]


def test_each_line_of_another_transport_is_still_made_printable(world, tmp_path):
    """Not every transport cleans what it quotes as msmtp does: each line goes through printable()."""
    script = tmp_path / "transport"
    script.write_text(
        "#!/bin/sh\ncat >/dev/null\nprintf 'refused\\033]0;owned\\007\\nby \\033[2Jthe server\\n' >&2\nexit 69\n"
    )
    script.chmod(0o755)
    from sendguard.cli.support.loopback import world_config

    world.config_path.write_text(world_config(world.msmtprc, msmtp=str(script)))
    proc = world.send(make_message(to=TO), TO)
    assert proc.returncode == 69
    lines = proc.stderr.decode().splitlines()
    assert lines[1:3] == ["    refused\\x1b]0;owned\\x07", "    by \\x1b[2Jthe server"]
    assert "\x1b" not in proc.stderr.decode()


def test_queue_run_shows_each_line_on_its_own(world):
    world.server.refuse.add(TO)
    world.server.refusal = "451 try again later"
    assert world.send(make_message(to=TO), TO).returncode == 75  # msmtp exits 69; the 451 makes it temporary
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    assert row["state"] == "deferred"
    run = world.cli("queue", "run")
    assert run.stdout.splitlines() == [
        f"{row['id']}: the transport failed (exit 69); the message is kept as {row['id']}:",
        f"    msmtp: recipient address {TO} not accepted by the server",
        "    msmtp: server message: 451 try again later",
        f"    msmtp: could not send mail (account default from {world.msmtprc})",
    ]
