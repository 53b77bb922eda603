"""msmtp's aliases: the local recipients it would expand are expanded before the check, and msmtp
never expands them after it. Real msmtp → aiosmtpd on 127.0.0.1, with a real aliases file.

msmtp (1.8.23, measured) replaces a recipient without "@" by the addresses the aliases file lists
for it, nested entries in turn, and a `default:` entry replaces every other local one. sendguard
judged "bob" and msmtp then sent the mail to whoever "bob" stood for.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sendguard.act import aliases
from sendguard.act import queue as q
from tests.conftest import make_message

LEAK = "leak@evil.example"
ALIASES = f"""\
# who is who
bob: {LEAK}
team: kai@nordwerk.example, anna@kundenfirma.example  # the project
all: team, Bob
Bob: boss@nordwerk.example
"""


def with_aliases(world, text: str, where: str = "account") -> Path:
    path = world.root / "aliases"
    path.write_text(text)
    if where == "account":
        world.msmtprc.write_text(world.msmtprc.read_text() + f"aliases {path}\n")
    world.write_config(f'[block]\naddresses = ["{LEAK}"]\n')
    return path


def msmtp(world) -> list[str]:  # type: ignore[no-untyped-def]
    """The transport command of the world's config (loopback.world_config)."""
    return ["msmtp", "-C", str(world.msmtprc)]


def queue_rows(world) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]


@pytest.mark.parametrize("recipient", ["bob", "zed"], ids=["entry", "default"])
def test_a_local_recipient_is_judged_as_what_msmtp_makes_of_it(world, recipient):
    with_aliases(world, ALIASES + f"default: {LEAK}\n")
    proc = world.send(make_message(to="kai@nordwerk.example"), "--", recipient)
    assert proc.returncode == 77, proc.stderr  # the address it stands for is blocked
    assert world.server.received == []
    assert f"({recipient}: msmtp's alias for {LEAK})".encode() in proc.stderr  # where it came from
    (row,) = queue_rows(world)
    assert row["recipients"] == [LEAK]


def test_the_envelope_sent_is_the_expanded_one_and_msmtp_does_not_expand_again(world):
    with_aliases(world, ALIASES)
    proc = world.send(make_message(to="kai@nordwerk.example"), "--", "all", "nobody")
    assert proc.returncode == 0, proc.stderr
    (got,) = world.server.received
    # "nobody" has no entry and there is no default: msmtp leaves it as it is, and so does sendguard
    assert sorted(got.rcpt_tos) == [
        "anna@kundenfirma.example",
        "boss@nordwerk.example",
        "kai@nordwerk.example",
        "nobody",
    ]
    (entry,) = q.Queue.default().entries()
    argv = entry.meta["transport"]
    assert argv.index(aliases.UNSET) < argv.index("--")  # after every option: it has the last word
    assert entry.meta["aliases"] == {
        "all": ["kai@nordwerk.example", "anna@kundenfirma.example", "boss@nordwerk.example"]
    }


def test_msmtp_itself_unsets_its_aliases_with_an_empty_value(world):
    """What the delivery relies on, measured: `--aliases=` after the account's setting wins."""
    with_aliases(world, f"default: {LEAK}\n")
    proc = subprocess.run(
        [*msmtp(world), aliases.UNSET, "--", "zed"], input=make_message(), capture_output=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    (got,) = world.server.received
    assert got.rcpt_tos == ["zed"]


def test_the_aliases_file_given_on_the_command_line_counts(world):
    path = with_aliases(world, ALIASES, where="argv")
    proc = world.send(make_message(to="kai@nordwerk.example"), f"--aliases={path}", "--", "bob")
    assert proc.returncode == 77, proc.stderr
    assert world.server.received == []
    (row,) = queue_rows(world)
    assert row["recipients"] == [LEAK]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (None, "cannot be read (No such file or directory)"),
        ("bob: a@x.example: b@x.example\n", "line 1: single ':' delimiter expected"),
        ("# fine\nbob: a@x.example\nbob: b@x.example\n", "line 3: duplicate alias 'bob'"),
        ("bob: carol\ncarol: bob\n", "too many redirects when expanding bob"),
        ("bob: a@x.example,\n", "line 1: an empty address"),
        ("bob: " + ", ".join(f"p{i}@x.example" for i in range(33)) + "\n", "more than 32 addresses"),
    ],
    ids=["missing", "two-colons", "duplicate", "loop", "empty", "33-addresses"],
)
def test_an_aliases_file_that_cannot_be_read_as_msmtp_reads_it_keeps_the_message(world, text, why):
    path = with_aliases(world, text or "")
    if text is None:
        path.unlink()
    proc = world.send(make_message(to="kai@nordwerk.example"), "--", "bob")
    assert proc.returncode == 78, proc.stderr
    assert world.server.received == []
    err = proc.stderr.decode()
    assert f"msmtp's aliases file {path}" in err and why in err and "Traceback" not in err
    assert "Not sent; the message is kept as" in err
    # without a local recipient the file plays no part, for msmtp or for sendguard
    assert world.send(make_message(to="kai@nordwerk.example"), "--", "kai@nordwerk.example").returncode == 0
    assert world.server.received[0].rcpt_tos == ["kai@nordwerk.example"]


def test_a_local_recipient_for_a_transport_that_is_not_msmtp_is_refused(world, tmp_path):
    sink = tmp_path / "sent"
    script = tmp_path / "sendmail"
    script.write_text(f"#!/bin/sh\ncat > {sink}\n")
    script.chmod(0o755)
    text = world.config_path.read_text()
    world.config_path.write_text(text.replace(f"command = {json.dumps(msmtp(world))}", f'command = ["{script}"]'))
    proc = world.send(make_message(to="kai@nordwerk.example"), "--", "bob")
    assert proc.returncode == 78, proc.stderr
    assert b"bob has no domain" in proc.stderr and not sink.exists()


def test_check_judges_what_msmtp_would_make_of_a_local_recipient(world, tmp_path):
    with_aliases(world, ALIASES)
    message = tmp_path / "m.eml"
    message.write_bytes(make_message(to="kai@nordwerk.example"))
    proc = world.cli("check", "--json", "--envelope", "bob", str(message))
    assert proc.returncode == 3, proc.stderr
    (row,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert row["verdict"] == "block" and any(f["recipient"] == LEAK for f in row["findings"])


# msmtp 1.8.23 skips a local recipient right after one it replaced (measured: "a b c" went to
# "1@x b 3@x"); sendguard replaces every one, as msmtp's manual says, so here no two are adjacent.
CASES = [
    ("bob", "bob: a@x.example, b@y.example\n"),
    ("Bob k@k.example bob", "bob: a@x.example\nBob: c@x.example\n"),  # names are compared as written
    ("team k@k.example zed", "team: lead, b@y.example\nlead: c@z.example\ndefault: d@w.example\n"),
    ("x", "  x :  a@x.example ,b@y.example   # comment: with a colon\n\n# x: no@x.example\n"),
    ("x k@k.example y", "x: a@x.example\r\ny: b@y.example\r\n"),
    ("nobody", "somebody: a@x.example\n"),
    ("bob", "bob: carol\n"),
]


@pytest.mark.parametrize(("names", "text"), CASES)
def test_the_expansion_is_msmtps_own(world, names, text):
    """The same file, read by msmtp alone (it sends to the sink) and by sendguard."""
    path = with_aliases(world, text, where="argv")
    recipients = names.split()
    proc = subprocess.run(
        [*msmtp(world), f"--aliases={path}", "--", *recipients], input=make_message(), capture_output=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    (got,) = world.server.received
    ours, _ = aliases.expand(msmtp(world), [f"--aliases={path}"], recipients, b"")
    assert sorted(ours) == sorted(set(got.rcpt_tos))


def test_every_local_recipient_is_replaced_also_the_one_msmtp_would_skip(world):
    with_aliases(world, "a: a@x.example\nb: b@x.example\n")
    proc = world.send(make_message(to="kai@nordwerk.example"), "--", "a", "b")
    assert proc.returncode == 0, proc.stderr
    assert sorted(world.server.received[0].rcpt_tos) == ["a@x.example", "b@x.example"]


def test_check_gives_a_file_whose_envelope_cannot_be_known_its_line_and_exits_78(world, tmp_path):
    with_aliases(world, ALIASES).unlink()
    message = tmp_path / "m.eml"
    message.write_bytes(make_message(to="kai@nordwerk.example"))
    proc = world.cli("check", "--json", "--envelope", "bob", str(message))
    assert proc.returncode == 78, proc.stderr
    (row,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert row["verdict"] is None and "cannot be read (No such file or directory)" in row["error"]
    assert "Traceback" not in proc.stderr
