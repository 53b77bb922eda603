"""Faults: nothing lost, nothing delivered twice.

Real processes throughout: sendguard-sendmail and the sendguard CLI as subprocesses, msmtp to
aiosmtpd, and small shell scripts as transports that fail, or wait until the test has killed
sendguard. Where sendguard must die at an exact point of its own code (after keeping the message,
before handing it off), the test starts the real send path under a wrapper that sends SIGKILL to
its own process when that point is reached — a real kill, no mocked file system or transport.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import make_message
from tests.support.wait import process_alive, wait_until

MSG = make_message()
RCPT = "anna@kundenfirma.example"


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o700)
    return path


def set_transport(world, *command: str) -> None:
    text = world.config_path.read_text()
    start = text.index("command = [")
    end = text.index("]", start) + 1
    world.config_path.write_text(text[:start] + "command = " + json.dumps(list(command)) + text[end:])


def msmtp_transport(world) -> list[str]:
    return ["msmtp", "-C", str(world.msmtprc)]


def queue_rows(world) -> list[dict]:
    proc = world.cli("queue", "list", "--json", "--all")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def wait_for(path: Path, timeout: float = 20) -> None:
    assert wait_until(path.exists, timeout, 0.01), f"{path} did not appear"


# ---- the transport cannot be run or fails -----------------------------------------------------


def test_missing_transport_keeps_the_message_deferred_until_queue_run(world, tmp_path):
    set_transport(world, str(tmp_path / "no-such-msmtp"))
    proc = world.send(MSG, RCPT)
    assert proc.returncode == 75
    assert proc.stdout == b""
    err = proc.stderr.decode()
    assert "not found" in err and "kept as" in err
    (row,) = queue_rows(world)
    assert row["state"] == "deferred"
    assert world.cli("queue", "run").returncode == 75, "still missing: still deferred"
    set_transport(world, *msmtp_transport(world))
    assert world.cli("queue", "run").returncode == 0
    assert world.cli("queue", "run").returncode == 0
    (got,) = world.server.received
    assert crlf(got.data) == MSG and got.rcpt_tos == [RCPT]
    assert [r["state"] for r in queue_rows(world)] == ["delivered"]


def test_transport_exit_75_is_passed_through_and_retried_by_queue_run(world, tmp_path):
    set_transport(world, str(script(tmp_path / "tempfail", "cat >/dev/null; echo 'server busy' >&2; exit 75\n")))
    proc = world.send(MSG, "-f", "me@nordwerk.example", "--", RCPT)
    assert proc.returncode == 75
    assert b"server busy" in proc.stderr
    assert [r["state"] for r in queue_rows(world)] == ["deferred"]
    set_transport(world, *msmtp_transport(world))
    run = world.cli("queue", "run")
    assert run.returncode == 0 and "delivered" in run.stdout
    (got,) = world.server.received
    assert crlf(got.data) == MSG
    assert got.mail_from == "me@nordwerk.example", "the caller's -f survives the queue"


def test_a_deferred_message_sent_again_with_a_new_message_id_leaves_once(world, tmp_path):
    """git send-email, mutt in batch and mail(1) make a new Date and Message-ID when the person
    runs them again after "the transport failed": the copy kept deferred and the new one are one
    message. It leaves once, as sent again (a series' next patches reply to that Message-ID)."""
    first = make_message(extra_headers="X-Mailer: git-send-email 2.39.5\n")
    again = first.replace(b"Date: Fri, 27 Nov 2026 09:00:00", b"Date: Fri, 27 Nov 2026 09:07:00").replace(
        b"Message-ID: <test-", b"Message-ID: <again-"
    )
    assert again != first
    set_transport(world, str(script(tmp_path / "tempfail", "cat >/dev/null; echo 'connection refused' >&2; exit 75\n")))
    assert world.send(first, "-i", RCPT).returncode == 75
    assert [r["state"] for r in queue_rows(world)] == ["deferred"]
    set_transport(world, *msmtp_transport(world))
    sent = world.send(again, "-i", RCPT)
    assert sent.returncode == 0, sent.stderr
    assert world.cli("queue", "run").returncode == 0
    (got,) = world.server.received
    assert crlf(got.data) == again
    rows = queue_rows(world)
    assert [r["state"] for r in rows] == ["delivered"], rows
    # a different message to the same person is not taken for the deferred one
    set_transport(world, str(tmp_path / "tempfail"))
    assert world.send(first, "-i", RCPT).returncode == 75
    set_transport(world, *msmtp_transport(world))
    other = make_message(body="Hello Anna,\n\nsomething else entirely.\n")
    assert world.send(other, "-i", RCPT).returncode == 0
    assert world.cli("queue", "run").returncode == 0
    assert len(world.server.received) == 3


def test_transport_exit_69_is_passed_through_and_waits_for_a_person(world, tmp_path):
    set_transport(world, str(script(tmp_path / "unavailable", "cat >/dev/null; echo 'no DSN here' >&2; exit 69\n")))
    proc = world.send(MSG, RCPT)
    assert proc.returncode == 69
    assert b"no DSN here" in proc.stderr and b"kept as" in proc.stderr
    (row,) = queue_rows(world)
    assert row["state"] == "failed"
    set_transport(world, *msmtp_transport(world))
    assert world.cli("queue", "run").returncode == 0
    assert world.server.received == [], "a permanent failure is not retried on its own"
    assert world.cli("release", row["id"]).returncode == 0
    assert len(world.server.received) == 1
    assert crlf(world.server.received[0].data) == MSG


def test_transport_that_cannot_be_executed(world, tmp_path):
    not_executable = tmp_path / "msmtp-no-x"
    not_executable.write_text("#!/bin/sh\nexit 0\n")
    set_transport(world, str(not_executable))
    proc = world.send(MSG, RCPT)
    assert proc.returncode == 75
    assert [r["state"] for r in queue_rows(world)] == ["deferred"]


# ---- SIGKILL between keeping the message and handing it off -----------------------------------

# Run the real send path, but die by SIGKILL the moment a named function is reached.
KILL_AT = textwrap.dedent("""\
    import os, signal, sys
    import sendguard.act.delivery as delivery
    import sendguard.sendpath.path as sendmail
    target = os.environ["KILL_AT"]
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    if target == "deliver":  # the message is kept (state accepted); the transport never started
        delivery.deliver = die
    elif target == "transport":  # the state says sending; the transport never started
        delivery.subprocess.run = die
    sys.argv[0] = "sendguard-sendmail"
    sendmail.main()
    """)


def send_and_die(world, where: str) -> subprocess.CompletedProcess[bytes]:
    env = world.env()
    env["KILL_AT"] = where
    return subprocess.run(
        [sys.executable, "-c", KILL_AT, "--", RCPT], input=MSG, capture_output=True, env=env, timeout=60, check=False
    )


def test_killed_after_keeping_before_handing_off_queue_run_delivers_exactly_once(world):
    proc = send_and_die(world, "deliver")
    assert proc.returncode == -signal.SIGKILL
    assert world.server.received == []
    (row,) = queue_rows(world)
    assert row["state"] == "accepted"
    assert world.cli("queue", "run").returncode == 0
    assert world.cli("queue", "run").returncode == 0
    (got,) = world.server.received
    assert crlf(got.data) == MSG
    assert [r["state"] for r in queue_rows(world)] == ["delivered"]
    second = world.cli("release", row["id"])
    assert second.returncode != 0
    assert len(world.server.received) == 1


def test_killed_as_the_hand_off_starts_it_shows_interrupted_and_is_never_resent_alone(world):
    proc = send_and_die(world, "transport")
    assert proc.returncode == -signal.SIGKILL
    (row,) = queue_rows(world)
    assert row["state"] == "interrupted", "it may or may not have left: a person decides"
    run = world.cli("queue", "run")
    assert run.returncode == 0 and "interrupted" in run.stdout
    assert world.server.received == []
    assert world.cli("release", row["id"]).returncode == 0
    assert world.cli("queue", "run").returncode == 0
    (got,) = world.server.received
    assert crlf(got.data) == MSG


@pytest.mark.parametrize("transport_survives", [True, False], ids=["transport-finishes", "transport-dies-too"])
def test_killed_while_the_transport_runs(world, tmp_path, transport_survives):
    flags = tmp_path / "flags"
    flags.mkdir()
    gate = script(
        tmp_path / "gated-msmtp",
        f"""\
        # Tell the test we have the message, wait until sendguard is dead, then really send.
        echo $$ > "{flags}/started"
        while [ ! -e "{flags}/go" ]; do sleep 0.01; done
        exec msmtp -C "{world.msmtprc}" "$@"
        """,
    )
    set_transport(world, str(gate))
    sendguard = subprocess.Popen(
        [world.sendmail, RCPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=world.env()
    )
    sendguard.stdin.write(MSG)
    sendguard.stdin.close()
    try:
        wait_for(flags / "started")
        os.kill(sendguard.pid, signal.SIGKILL)
        assert sendguard.wait(timeout=20) == -signal.SIGKILL
    finally:
        sendguard.stdout.close()
        sendguard.stderr.close()
    transport_pid = int((flags / "started").read_text())
    if not transport_survives:
        os.kill(transport_pid, signal.SIGKILL)
    (flags / "go").touch()
    # whatever happened to the transport, the queue does not send it a second time on its own
    (row,) = queue_rows(world)
    assert row["state"] == "interrupted"
    if transport_survives:
        wait_until(lambda: world.server.received, 20, 0.02)
    assert world.cli("queue", "run").returncode == 0
    assert world.cli("queue", "run").returncode == 0
    assert len(world.server.received) == (1 if transport_survives else 0)
    (row,) = queue_rows(world)
    assert row["state"] == "interrupted"
    if not transport_survives:  # never lost: a person can still send it
        set_transport(world, *msmtp_transport(world))
        assert world.cli("release", row["id"]).returncode == 0
        (got,) = world.server.received
        assert crlf(got.data) == MSG


# ---- concurrency ------------------------------------------------------------------------------


def test_two_concurrent_releases_of_one_id_deliver_exactly_once(world, tmp_path):
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    slow = script(tmp_path / "slow-msmtp", f'sleep 0.3\nexec msmtp -C "{world.msmtprc}" "$@"\n')
    set_transport(world, str(slow))
    assert world.send(MSG, RCPT).returncode == 75
    (row,) = queue_rows(world)
    argv = [world.sendguard, "--config", str(world.config_path), "release", row["id"]]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=world.env())
        for _ in range(2)
    ]
    results = [(p.wait(timeout=60), p.stdout.read() + p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0 and codes[1] != 0, results
    assert len(world.server.received) == 1
    assert crlf(world.server.received[0].data) == MSG
    assert [r["state"] for r in queue_rows(world)] == ["delivered"]


def test_release_racing_queue_run_delivers_a_deferred_message_once(world, tmp_path):
    set_transport(world, str(script(tmp_path / "tempfail", "cat >/dev/null; exit 75\n")))
    assert world.send(MSG, RCPT).returncode == 75
    (row,) = queue_rows(world)
    set_transport(world, str(script(tmp_path / "slow-msmtp", f'sleep 0.3\nexec msmtp -C "{world.msmtprc}" "$@"\n')))
    base = [world.sendguard, "--config", str(world.config_path)]
    procs = [
        subprocess.Popen([*base, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=world.env())
        for cmd in (["release", row["id"]], ["queue", "run"], ["queue", "run"])
    ]
    for p in procs:
        p.wait(timeout=60)
    assert len(world.server.received) == 1
    assert [r["state"] for r in queue_rows(world)] == ["delivered"]


def test_concurrent_resends_use_each_confirmation_once(world):
    """Resends at the same moment: each held copy is confirmed by at most one of them.

    Sequentially, sends of one message alternate hold, confirm, hold, confirm...; concurrently
    any interleaving may happen, but every delivery must use up exactly one held copy."""
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    # Identical sends on purpose: the last line against a second copy would hold them instead.
    world.config_path.write_text(
        world.config_path.read_text().replace("[sendmail]\n", "[sendmail]\nduplicate_window = 0\n")
    )
    assert world.send(MSG, RCPT).returncode == 75
    procs = [
        subprocess.Popen(
            [world.sendmail, RCPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,  # read by the caller: on /dev/null a resend never confirms
            env=world.env(),
        )
        for _ in range(4)
    ]
    for p in procs:
        p.stdin.write(MSG)
        p.stdin.close()
    codes = [p.wait(timeout=60) for p in procs]
    for p in procs:
        p.stderr.close()
    assert set(codes) <= {0, 75}
    assert 0 in codes, "the first held copy is confirmed by one of them"
    states = [r["state"] for r in queue_rows(world)]
    assert len(world.server.received) == codes.count(0) == states.count("confirmed") == states.count("delivered")
    # every hold is kept: still held, confirmed, or superseded by a later identical copy
    assert states.count("held") + states.count("confirmed") + states.count("superseded") == 1 + codes.count(75)


# ---- kept after an error: releasable once the cause is fixed ----------------------------------


def test_message_kept_after_a_config_error_is_released_to_the_intended_recipients(world):
    good = world.config_path.read_text()
    world.config_path.write_text('[sendmail]\nhold_acton = "queue"\n')
    proc = world.send(MSG, "-f", "me@nordwerk.example", "--", RCPT, "boss@nordwerk.example")
    assert proc.returncode == 78
    world.config_path.write_text(good)
    (row,) = queue_rows(world)
    assert row["state"] == "held"
    assert row["recipients"] == [RCPT, "boss@nordwerk.example"]
    released = world.cli("release", row["id"])
    assert released.returncode == 0, released.stderr
    (got,) = world.server.received
    assert sorted(got.rcpt_tos) == ["anna@kundenfirma.example", "boss@nordwerk.example"]
    assert got.mail_from == "me@nordwerk.example"
    assert crlf(got.data) == MSG


def test_transport_that_hangs_is_given_up_and_never_resent_alone(world, tmp_path):
    pid_file = tmp_path / "transport.pid"
    hang = script(tmp_path / "hanging-msmtp", f"echo $$ > {pid_file}\ncat >/dev/null\nexec sleep 600\n")
    set_transport(world, str(hang))
    world.config_path.write_text(world.config_path.read_text().replace("[transport]\n", "[transport]\ntimeout = 1\n"))
    proc = world.send(MSG, RCPT)  # without the timeout: ten minutes, and world.send gives up first
    assert not process_alive(int(pid_file.read_text())), "the transport's timeout ended it, not the transport"
    assert proc.returncode == 75
    assert b"may or may not have left" in proc.stderr
    (row,) = queue_rows(world)
    assert row["state"] == "interrupted"
    set_transport(world, *msmtp_transport(world))
    assert world.cli("queue", "run").returncode == 0
    assert world.server.received == [], "it may have left: only a person sends it again"
    assert world.cli("release", row["id"]).returncode == 0
    assert len(world.server.received) == 1


# ---- the streams are part of the interface ----------------------------------------------------


@pytest.mark.parametrize(
    ("config", "argv", "code"),
    [
        ("", [RCPT], 0),  # delivered
        ('[rules.external-recipient]\naction = "warn"\n', [RCPT], 0),  # sent with a warning
        ('[rules.external-recipient]\naction = "hold"\n', [RCPT], 75),  # held
        (f'[block]\naddresses = ["{RCPT}"]\n', [RCPT], 77),  # blocked
        ("", [RCPT, "-f"], 64),  # usage: -f without its value
        ("BROKEN", [RCPT], 78),  # config
    ],
    ids=["pass", "warn", "hold", "block", "usage", "config"],
)
def test_stdout_stays_empty_and_stderr_explains_every_failure(world, config, argv, code):
    if config == "BROKEN":
        world.config_path.write_text("[sendmail]\nhold = 1\n")
    else:
        world.write_config(config)
    proc = world.send(MSG, *argv)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == b""
    if code:
        err = proc.stderr.decode()
        assert err.startswith("sendguard: ") and "kept as" in err.lower()


def test_a_caller_killed_mid_send_leaves_it_interrupted_and_a_resend_is_held_not_doubled(world, tmp_path):
    # The audit: the mail program killed mid-send (its process group with it), the message often
    # left anyway and stayed "interrupted"; a user who sent it again sent it twice.
    flags = tmp_path / "flags"
    flags.mkdir()
    gate = script(
        tmp_path / "gated-msmtp",
        f"""\
        # The message is handed on to a real msmtp outside the caller's process group (it gets
        # through whatever happens to the caller), then this transport waits to be killed.
        cat > "{flags}/message"
        setsid sh -c 'touch "{flags}/detached"; while [ ! -e "{flags}/go" ]; do sleep 0.01; done
            exec msmtp -C "{world.msmtprc}" "$@" < "{flags}/message"' sh "$@" &
        while [ ! -e "{flags}/detached" ]; do sleep 0.01; done
        touch "{flags}/started"
        sleep 60
        """,
    )
    set_transport(world, str(gate))
    (tmp_path / "message.eml").write_bytes(MSG)
    caller = subprocess.Popen(
        ["sh", "-c", f'"{world.sendmail}" -t < "{tmp_path / "message.eml"}"; echo finished'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=world.env(),
        start_new_session=True,
    )
    try:
        wait_for(flags / "started")
        os.killpg(caller.pid, signal.SIGKILL)  # the mail program, sendguard and the transport
        assert caller.wait(timeout=20) == -signal.SIGKILL
    finally:
        caller.stdout.close()
        caller.stderr.close()
    (flags / "go").touch()
    wait_until(lambda: world.server.received, 20, 0.02)
    assert len(world.server.received) == 1  # it left after all
    (row,) = queue_rows(world)
    assert row["state"] == "interrupted"
    listed = world.cli("queue", "list").stdout
    assert row["id"] in listed and "interrupted" in listed

    set_transport(world, *msmtp_transport(world))
    again = world.send(MSG, "-t")  # the user, not knowing, sends it again
    assert again.returncode == 75, again.stderr
    assert b"HELD \xe2\x80\x94 it may already have left." in again.stderr
    assert f"its sending ({row['id']}) was interrupted".encode() in again.stderr
    assert len(world.server.received) == 1  # not doubled
    states = {r["id"]: r["state"] for r in queue_rows(world)}
    assert sorted(states.values()) == ["held", "interrupted"]
    held = next(i for i, s in states.items() if s == "held")
    listed = world.cli("queue", "list").stdout
    assert held in listed and "may already have left" in listed
    assert world.cli("queue", "run").returncode == 0
    assert len(world.server.received) == 1  # and no queue run sends either copy on its own
