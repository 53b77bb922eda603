"""Records are well-formed mail whatever the message: properties over arbitrary subjects,
addresses and bytes; and the detached helpers leave no zombies behind."""

from __future__ import annotations

import email
import email.policy
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.detached import spawn_module
from sendguard.incidents.record import build_record, encode_header, has_attachment
from tests.support.wait import wait_until

NOW = 1795770000.0


def decoded(value: str) -> str:
    """What a mail reader makes of the header (unfolded, RFC 2047 decoded)."""
    return str(email.message_from_string(f"Subject: {value}\n\n", policy=email.policy.default)["Subject"])


@given(st.text(max_size=300) | st.lists(st.from_regex(r"[a-z.@]{1,30}", fullmatch=True), max_size=60).map(", ".join))
def test_encode_header_is_one_safe_header_that_decodes_back(text):
    encoded = encode_header(text)
    assert encoded.isascii()
    longest_word = max((len(w) for w in text.split()), default=0)
    assert all(len(line) <= max(78, longest_word + 1) for line in encoded.split("\n"))
    assert all(line.startswith(" ") for line in encoded.split("\n")[1:])  # folded, never a new header
    assert "\r" not in encoded
    assert decoded(encoded) == " ".join(text.split())


@settings(max_examples=60, deadline=None)
@given(
    raw=st.binary(max_size=2000),
    subject=st.text(max_size=80),
    event=st.sampled_from(["held", "delivered", "delayed", "undone", "oops"]),
)
def test_a_record_parses_and_carries_the_original_unchanged(raw, subject, event):
    meta = {
        "id": "20261127-090000-abcdef",
        "subject": subject,
        "envelope": ["anna@kundenfirma.example"],
        "from": "Me <me@nordwerk.example>",
        "verdict": "hold",
        "state": event,
        "findings": [],
    }
    data, message_id = build_record(meta, raw, event, ["held", "rule:x"], now=NOW)
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["Message-ID"] == f"<{message_id}>"
    assert msg["X-Sendguard-Tags"] == "held rule:x"
    assert msg["Subject"] == " ".join(f"[{event}] {subject}".split())
    assert msg.get_content_type() == "multipart/mixed"
    boundary = msg.get_boundary()
    original = raw.replace(b"\r\n", b"\n")
    body = data.split(b"Content-Transfer-Encoding: 8bit\n\n", 3)[3]
    expected = original if original.endswith(b"\n") else original + b"\n"
    assert body == expected + f"\n--{boundary}--\n".encode()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def test_detached_children_get_their_own_session_and_are_reaped_later():
    first = spawn_module("json.tool", os.devnull)
    assert os.getsid(first) == first or _zombie(first)
    assert wait_until(lambda: _zombie(first), 20, 0.02)
    second = spawn_module("json.tool", os.devnull)
    assert not _zombie(first)  # reaped by the next spawn
    wait_until(lambda: _zombie(second), 20, 0.02)
    os.waitpid(second, 0)


def test_a_spawned_child_never_holds_the_callers_lock_after_the_caller_let_go(tmp_path):
    """The queue-entry flock the caller held while spawning is free the moment it lets go."""
    import fcntl

    lock = tmp_path / "lock"
    lock.touch()
    for _ in range(20):
        fd = os.open(lock, os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        child = spawn_module("json.tool", os.devnull)
        os.close(fd)
        again = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(again, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if the child still holds it
        finally:
            os.close(again)
        os.waitpid(child, 0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"Subject: x\n\nsee the attachment\nContent-Disposition: attachmentless\n", False),
        (b"Subject: x\n\nno file\n", False),
        (b"--b\r\nContent-Disposition: ATTACHMENT; filename=a.pdf\r\n\r\n", True),
        (b"--b\nContent-Disposition:\n\tattachment;\n filename=a.pdf\n\n", True),
        (b"--b\ncontent-disposition: inline; filename=attachment.png\n\n", False),
    ],
)
def test_has_attachment_means_a_part_disposed_as_attachment(raw, expected):
    assert has_attachment(raw) is expected
