"""sendguard-sendmail run with a standard stream closed or unwritable, as a daemon or a cron job
may run it: every message is still delivered once or kept once, byte for byte, with the exit
code it would have had; nothing written for a person lands in a queue file."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from tests.conftest import make_message


def run(world, message: bytes, redirects: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    path = world.root / "message.eml"
    path.write_bytes(message)
    command = " ".join(shlex.quote(word) for word in (world.sendmail, *args))
    stdin = "" if "<&-" in redirects else f"< {shlex.quote(str(path))}"
    return subprocess.run(
        ["bash", "-c", f"exec {command} {stdin} {redirects}"],
        capture_output=True,
        env=world.env(),
        timeout=60,
        check=False,
    )


def kept(world) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]


def test_a_closed_stdin_is_an_empty_message_not_a_traceback(world):
    proc = run(world, b"", "<&-", "anna@kundenfirma.example")
    assert proc.returncode == 65
    assert proc.stderr == b"sendguard: error: the message is empty; nothing was sent or kept.\n"
    assert kept(world) == [] and world.server.received == []


@pytest.mark.parametrize("redirects", ["2>&-", "2>/dev/full", ">&- 2>&-"], ids=["closed", "full", "both-closed"])
def test_without_a_usable_stderr_a_passing_message_leaves_once(world, redirects):
    message = make_message(to="kai@nordwerk.example")
    proc = run(world, message, redirects, "kai@nordwerk.example")
    assert proc.returncode == 0
    (got,) = world.server.received
    assert got.data.replace(b"\r\n", b"\n") == message
    assert kept(world) == []


@pytest.mark.parametrize("redirects", ["2>&-", "2>/dev/full"], ids=["closed", "full"])
def test_without_a_usable_stderr_a_held_message_is_kept_once_as_it_came(world, redirects):
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    message = make_message()
    proc = run(world, message, redirects, "anna@kundenfirma.example")
    assert proc.returncode == 75
    (row,) = kept(world)
    assert row["state"] == "held" and row["subject"] == "Falke status"
    from sendguard.act import queue as q

    assert q.Queue.default().get(row["id"]).raw() == message
    assert world.server.received == []


def cli(world, redirects: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = " ".join(shlex.quote(word) for word in (world.sendguard, "--config", str(world.config_path), *args))
    return subprocess.run(
        ["bash", "-c", f"exec {command} {redirects}"], capture_output=True, env=world.env(), timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("redirects", "args", "code", "said"),
    [
        ("<&-", ("check", "-"), 65, "sendguard: error: -: the message is empty"),
        (
            ">/dev/full",
            ("queue", "list", "--json"),
            73,
            "sendguard: error: cannot write the output: No space left on device",
        ),
        (">/dev/full", ("--help",), 73, "sendguard: error: cannot write the output: No space left on device"),
        ("2>&-", ("release", "nonexistent"), 64, None),
    ],
    ids=["check-stdin-closed", "list-to-dev-full", "help-to-dev-full", "stderr-closed"],
)
def test_the_cli_with_a_closed_or_full_stream_says_one_true_line(world, redirects, args, code, said):
    """They were tracebacks (exit 1), or blamed a full disk under the state directory for a full
    stdout: 'the disk holding .../sendguard is full'."""
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    assert world.send(make_message(), "anna@kundenfirma.example").returncode == 75  # something to list
    proc = cli(world, redirects, *args)
    assert proc.returncode == code, proc.stderr
    assert b"Traceback" not in proc.stderr
    if said is not None:
        assert proc.stderr.decode().splitlines()[0] == said
