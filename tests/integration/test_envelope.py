"""The envelope sendguard checks is the envelope that is sent: real msmtp → aiosmtpd on 127.0.0.1.

sendguard reads the recipients itself (with -t as sendmail does, Resent- fields included) and
hands msmtp the explicit list, never msmtp's own -t; a header block another reader could read
differently is held; a recipient argument that is not one bare address is refused."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendguard.act import queue as q
from sendguard.sendpath.path import SendPath
from tests.conftest import make_message

INSIDE = "kai@nordwerk.example"
EVIL = "evil@outside.example"


def queue_rows(world) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]


def test_resent_to_is_the_envelope_with_t(world):
    # msmtp -t reads Resent-To instead of To when Resent- fields exist: so must the check
    msg = make_message(to=INSIDE, extra_headers=f"Resent-From: me@nordwerk.example\nResent-To: {EVIL}\n")
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    proc = world.send(msg, "-t")
    assert proc.returncode == 75, proc.stderr
    assert world.server.received == []
    (row,) = queue_rows(world)
    assert row["recipients"] == [EVIL]


@pytest.mark.parametrize(
    "trick",
    [
        "X-Gr\u00fc\u00dfe: hi\n",  # a field name with non-ASCII bytes
        "this line has no colon\n",
        "From x\n",
    ],
    ids=["non-ascii-field-name", "no-colon", "from-line"],
)
def test_header_tricks_before_a_bcc_are_held_with_the_bcc_in_the_envelope(world, trick):
    msg = make_message(to=INSIDE, extra_headers=f"{trick}Bcc: {EVIL}\n")
    proc = world.send(msg, "-t")
    assert proc.returncode == 75, proc.stderr
    assert world.server.received == []
    assert b"could not be read fully" in proc.stderr
    (row,) = queue_rows(world)
    assert EVIL in row["recipients"]


@pytest.mark.parametrize(
    ("head", "line"),
    [
        (f"To: {INSIDE}\nX-Note: a\rb\nBcc: {EVIL}\n", 2),  # a bare CR before a Bcc
        (f"To: {INSIDE}\rBcc: {EVIL}\n", 1),  # read as "To: kai" + "Bcc: evil" by some, not by msmtp
        (f"To: {INSIDE}\nBcc:\0@\0\n", 2),  # msmtp ends the line at the NUL; the envelope was "\0@\0"
        (f"To: {INSIDE}\0, {EVIL}\n", 1),
    ],
    ids=["bare-cr-line", "bare-cr-in-to", "nul-bcc", "nul-in-to"],
)
def test_a_header_with_a_nul_or_a_bare_cr_is_unreadable_never_sent_on_a_guess(world, head, line):
    # "Bcc:\0@\0" passed the check and crashed the transport's start (exit 70); "To: kai\rBcc:
    # evil" was held showing "To: evil" and offering to send it there on a resend or a release
    msg = f"From: Me <me@nordwerk.example>\n{head}Subject: hi\n\nhello\n".encode()
    proc = world.send(msg, "-t")
    assert proc.returncode == 65, proc.stderr
    assert world.server.received == []
    assert f"in line {line + 1}; programs disagree on where its fields end".encode() in proc.stderr
    assert b"Not sent; the message is kept as" in proc.stderr
    (row,) = queue_rows(world)
    assert row["state"] == "held" and not row.get("envelope")
    shown = world.cli("queue", "list").stdout
    assert row["id"] in shown and "programs disagree" in shown
    again = world.send(msg, "-t")  # the identical message again confirms nothing
    assert again.returncode == 65 and world.server.received == []
    released = world.cli("release", row["id"])
    assert released.returncode == 65, released.stdout + released.stderr
    assert "programs disagree" in released.stderr
    unchecked = world.cli("release", "--unchecked", row["id"])  # nor let the transport read them
    assert unchecked.returncode != 0 and "names no recipients" in unchecked.stderr
    assert world.server.received == []


@pytest.mark.parametrize(
    "argument",
    [
        f"{EVIL}>\r\nRCPT TO:<{INSIDE}",
        f"{INSIDE}\n",
        f"Kai <{INSIDE}>",
        f"{INSIDE} {EVIL}",
        f"k\x01ai@{INSIDE.partition('@')[2]}",
        f"k\x9bai@{INSIDE.partition('@')[2]}",
    ],
    ids=["smtp-injection", "newline", "display-name", "space", "control", "c1-control"],
)
def test_recipient_arguments_that_are_not_one_bare_address_are_refused(world, argument):
    proc = world.send(make_message(to=INSIDE), "--", argument)
    assert proc.returncode == 64, proc.stderr
    assert world.server.received == []
    assert b"recipient argument" in proc.stderr


def test_msmtp_gets_the_checked_list_not_its_own_t(world):
    msg = make_message(to=f"Anna <anna@kundenfirma.example>, {INSIDE}", extra_headers=f"Cc: team: {INSIDE};\n")
    proc = world.send(msg, "-oi", "-t")
    assert proc.returncode == 0, proc.stderr
    (got,) = world.server.received
    assert got.rcpt_tos == ["anna@kundenfirma.example", INSIDE]


def test_bcc_never_reaches_the_recipients_even_when_msmtp_would_keep_it(world):
    world.msmtprc.write_text(world.msmtprc.read_text() + "remove_bcc_headers off\n")
    msg = make_message(to=INSIDE, extra_headers=f"Bcc: Secret\n <secret@nordwerk.example>\nResent-Bcc: {INSIDE}\n")
    # aerc: every recipient in argv, the Bcc field left in the message
    proc = world.send(msg, INSIDE, "secret@nordwerk.example")
    assert proc.returncode == 0, proc.stderr
    (got,) = world.server.received
    assert sorted(got.rcpt_tos) == [INSIDE, "secret@nordwerk.example"]
    assert b"bcc" not in got.data.lower()
    assert b"secret" not in got.data


# ---- property: the recipients recorded are the RCPT TOs the server receives -------------------

# with a control character (C0, DEL, C1): msmtp and the server sent "bob\x01x@" to "bob_x@"
CONTROL_LOCALS = ["bob\x01x", "c\x7fd", "e\x9bf"]
LOCALS = st.sampled_from(["anna", "Kai", "m.berger", "o'neil", "x+tag", "A.B-c_d", *CONTROL_LOCALS])
DOMAINS = st.sampled_from(["nordwerk.example", "kundenfirma.example", "Nordwerk.Example"])
NAMES = st.sampled_from(["", "Anna", "Berger, Maria", "Jürgen Müller", "=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "O'Neil"])


@st.composite
def mailbox(draw) -> str:  # type: ignore[no-untyped-def]
    addr = f"{draw(LOCALS)}@{draw(DOMAINS)}"
    name = draw(NAMES)
    form = draw(st.sampled_from(["bare", "angle", "comment"]))
    if form == "bare" or not name:
        return addr
    if form == "comment":
        return f"{addr} ({name.replace(',', '')})"
    quoted = f'"{name}"' if any(c in name for c in ',."') else name
    return f"{quoted} <{addr}>"


@st.composite
def address_list(draw) -> str:  # type: ignore[no-untyped-def]
    boxes = draw(st.lists(mailbox(), min_size=0, max_size=4))
    if boxes and draw(st.booleans()):
        cut = draw(st.integers(0, len(boxes)))
        boxes = [*boxes[:cut], f"team: {', '.join(boxes[cut:])};"]
    separator = draw(st.sampled_from([", ", ",\n ", ",\n\t"]))
    return separator.join(boxes) or "undisclosed-recipients:;"


FIELDS = ["To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc", "Resent-From", "TO", "bcc"]


@st.composite
def addressed_message(draw) -> tuple[bytes, list[str]]:  # type: ignore[no-untyped-def]
    fields = draw(st.lists(st.tuples(st.sampled_from(FIELDS), address_list()), max_size=5))
    head = "".join(f"{name}: {value}\n" for name, value in fields)
    if head and draw(st.booleans()):  # a NUL or a bare CR somewhere in the recipient fields
        at = draw(st.integers(0, len(head) - 1))
        head = head[:at] + draw(st.sampled_from(["\0", "\r"])) + head[at:]
    raw = f"From: Me <me@nordwerk.example>\n{head}Subject: hi\nMIME-Version: 1.0\n\nhello\n".encode()
    argv_recipients = draw(st.lists(st.builds(lambda a, b: f"{a}@{b}", LOCALS, DOMAINS), max_size=2))
    flags = draw(st.sampled_from([[], ["-t"], ["-oi", "-t"], ["-ti"], ["-i"]]))
    return raw, [*flags, *argv_recipients]


def _all_rules_off_but_unreadable() -> str:
    from sendguard.rules import load_rules

    return "".join(f'[rules.{rule.id}]\naction = "off"\n' for rule in load_rules() if rule.id != "unreadable-message")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(case=addressed_message())
def test_recorded_recipients_are_the_rcpt_tos_msmtp_sends(world, tmp_path_factory, case):
    raw, argv = case
    world.write_config("[log]\nenabled = false\n" + _all_rules_off_but_unreadable())
    queue = q.Queue(tmp_path_factory.mktemp("queue"))
    world.server.received.clear()
    code = SendPath(world.config_path, io.StringIO(), queue=queue).run(argv, io.BytesIO(raw))
    entries = queue.entries()
    if code == 64:  # no recipients at all: nothing kept to send, nothing sent
        assert world.server.received == []
        return
    header = raw.split(b"\n\n", 1)[0].replace(b"\r\n", b"\n")
    reads_header = any(flag in argv for flag in ("-t", "-ti")) or not [a for a in argv if "@" in a]
    if reads_header and (b"\0" in header or b"\r" in header):
        assert code == 65, code  # recipients from such a header would be a guess
        assert world.server.received == []
        (entry,) = entries
        assert entry.state == q.HELD and not entry.meta.get("envelope")
        return
    if code == 65:  # an address with a control character: nobody can know where it would go
        assert any(local.encode() in header for local in CONTROL_LOCALS), code
        assert world.server.received == []
        (entry,) = entries
        assert entry.state == q.HELD and not entry.meta.get("envelope")
        return
    (entry,) = entries
    if entry.state != q.DELIVERED:
        assert world.server.received == [], entry.meta
        return
    assert code == 0
    (got,) = world.server.received
    assert got.rcpt_tos == entry.meta["recipients"]
    assert [a.lower() for a in got.rcpt_tos] == entry.meta["envelope"]
    head = got.data.split(b"\r\n\r\n", 1)[0].lower()
    assert b"\nbcc:" not in head and b"\nresent-bcc:" not in head


@pytest.mark.parametrize(
    "routed",
    ["bob%evil.example@nordwerk.example", "evil.example!bob@nordwerk.example", "@evil.example:bob@nordwerk.example"],
    ids=["percent-hack", "bang-path", "source-route"],
)
def test_a_routed_address_at_the_organization_is_held_not_sent_as_a_colleague(world, routed):
    # It passed as internal mail, and a relay honouring the percent hack delivers it to evil.example.
    proc = world.send(make_message(to=INSIDE), "--", routed)
    assert proc.returncode == 75, proc.stderr
    assert world.server.received == []
    assert b"routed address" in proc.stderr
    (row,) = queue_rows(world)
    assert row["recipients"] == [routed]
