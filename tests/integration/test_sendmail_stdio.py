"""sendguard-sendmail run with a standard stream closed or unwritable, as a daemon or a cron job
may run it: every message is still delivered once or kept once, byte for byte, with the exit
code it would have had; nothing written for a person lands in a queue file."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_message


def in_bash(world, words: tuple[str, ...], redirects: str) -> subprocess.CompletedProcess[bytes]:  # type: ignore[no-untyped-def]
    """``words`` run by bash with ``redirects``, in the world's environment less PYTHONUNBUFFERED
    (a developer's shell may set it): a user's stdout is buffered, so a full one fails at a
    flush, not at the write. At most 2 GB of memory: reading /dev/zero fails, not the machine."""
    env = {k: v for k, v in world.env().items() if k != "PYTHONUNBUFFERED"}
    command = " ".join(shlex.quote(word) for word in words)
    return subprocess.run(
        ["bash", "-c", f"ulimit -v 2000000; exec {command} {redirects}"],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


def run(world, message: bytes, redirects: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    path = world.root / "message.eml"
    path.write_bytes(message)
    stdin = "" if "<&-" in redirects else f"< {shlex.quote(str(path))} "
    return in_bash(world, (world.sendmail, *args), stdin + redirects)


def kept(world) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]


def test_a_closed_stdin_is_an_empty_message_not_a_traceback(world):
    proc = run(world, b"", "<&-", "anna@kundenfirma.example")
    assert proc.returncode == 65
    assert proc.stderr == b"sendguard: error: the message is empty; nothing was sent or kept.\n"
    assert kept(world) == [] and world.server.received == []


@pytest.mark.parametrize(
    ("redirects", "said"),
    [
        ("0>{file}", "standard input cannot be read: Bad file descriptor"),  # open for writing only
        ("</dev/zero", "standard input is a device, not a message"),  # it would never end
    ],
    ids=["write-only", "endless-device"],
)
@pytest.mark.parametrize("entry", ["sendguard-sendmail", "sendguard sendmail"])
def test_an_unreadable_stdin_is_one_line_and_exit_65_with_nothing_sent_or_kept(world, redirects, said, entry):
    """A stdin open for writing only ended in a traceback (exit 1); /dev/zero was read until
    memory ran out. Python itself refuses a directory on stdin before sendguard runs."""
    file = world.root / "message.eml"
    file.write_bytes(make_message(to="kai@nordwerk.example"))
    words = (world.sendmail,) if entry == "sendguard-sendmail" else (world.sendguard, "sendmail")
    proc = in_bash(world, (*words, "-t"), redirects.format(file=shlex.quote(str(file))))
    assert proc.returncode == 65
    assert proc.stderr == f"sendguard: error: {said}; nothing was sent or kept.\n".encode()
    assert proc.stdout == b""
    assert kept(world) == [] and world.server.received == []


@pytest.mark.parametrize("redirects", ["2>&-", "2>/dev/full", ">&- 2>&-"], ids=["closed", "full", "both-closed"])
def test_without_a_usable_stderr_a_passing_message_leaves_once(world, redirects):
    message = make_message(to="kai@nordwerk.example")
    proc = run(world, message, redirects, "kai@nordwerk.example")
    assert proc.returncode == 0
    (got,) = world.server.received
    assert got.data.replace(b"\r\n", b"\n") == message
    assert kept(world) == []


@pytest.mark.parametrize("args", [("--help",), ("-bp",)], ids=["help", "list"])
def test_sendmail_modes_into_a_full_stdout_say_so_in_one_line(world, args):
    """They ended in a traceback (exit 1)."""
    proc = run(world, b"", "<&- >/dev/full", *args)
    assert proc.returncode == 73
    assert proc.stderr == b"sendguard: error: cannot write the output: No space left on device\n"


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
    return in_bash(world, (world.sendguard, "--config", str(world.config_path), *args), redirects)


@pytest.mark.parametrize(
    ("redirects", "args", "code", "said"),
    [
        ("<&-", ("check", "-"), 65, "sendguard: error: -: the message is empty"),
        ("0>/dev/null", ("check", "-"), 65, "sendguard: error: -: cannot be read: Bad file descriptor"),
        ("</dev/zero", ("check", "-"), 65, "sendguard: error: -: a device, not a message"),
        ("</dev/zero", ("check", "--json", "-"), 65, "sendguard: error: -: a device, not a message"),
        ("", ("check", "/dev/zero"), 65, "sendguard: error: /dev/zero: a device, not a message"),
        (
            ">/dev/full",
            ("queue", "list", "--json"),
            73,
            "sendguard: error: cannot write the output: No space left on device",
        ),
        (">/dev/full", ("--help",), 73, "sendguard: error: cannot write the output: No space left on device"),
        ("2>&-", ("release", "nonexistent"), 64, None),
    ],
    ids=[
        "check-stdin-closed",
        "check-stdin-write-only",
        "check-stdin-endless",
        "check-json-stdin-endless",
        "check-endless-device",
        "list-to-dev-full",
        "help-to-dev-full",
        "stderr-closed",
    ],
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


# ---- property: whatever the argument words, a message leaves to what was judged, or is kept ----

WORDS = st.sampled_from(
    [
        "-i", "-t", "-oi", "-oem", "-odb", "-v", "-bm", "-ti", "-it", "-f", "-fme@nordwerk.example", "-r",
        "--from=me@nordwerk.example", "-F", "Me, Myself", "-N", "never", "-R", "hdrs", "--", "-", "",
        " ", ",", "kai@nordwerk.example", "anna@kundenfirma.example", "a@nordwerk.example,b@nordwerk.example",
        "-x@nordwerk.example", "<kai@nordwerk.example>", "k\x01ai@nordwerk.example", "me\r\nRCPT TO:<e@x.example>",
        "--read-recipients", "--read-envelope-from", "-B8BITMIME", "-q", "-bp", "-bv", "--help",
    ]
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(argv=st.lists(WORDS, max_size=6), to=st.sampled_from(["kai@nordwerk.example", "anna@kundenfirma.example", ""]))
def test_any_argument_words_deliver_to_what_was_judged_or_keep_the_message(world, tmp_path_factory, argv, to):
    import io

    from sendguard.act import queue as q
    from sendguard.sendpath.path import SendPath

    world.write_config("[log]\nenabled = false\n")
    queue = q.Queue(tmp_path_factory.mktemp("queue"))
    world.server.received.clear()
    message = make_message(to=to)
    err = io.StringIO()
    code = SendPath(world.config_path, err, queue=queue).run(list(argv), io.BytesIO(message))
    assert code not in (1, 70) and "internal error" not in err.getvalue(), err.getvalue()
    entries = queue.entries()
    for got in world.server.received:  # what left went where it was judged to go, once
        (entry,) = [e for e in entries if e.state == q.DELIVERED]
        assert [a.lower() for a in got.rcpt_tos] == entry.meta["envelope"]
        assert got.data.replace(b"\r\n", b"\n") == message
    if not world.server.received and code != 0:
        modes = {"-q", "-bp", "-bv", "--help"}
        assert entries or modes.intersection(argv), (argv, code, err.getvalue())  # kept, or not a mail
