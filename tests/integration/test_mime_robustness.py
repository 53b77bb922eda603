"""The parser never crashes or hangs; what it cannot read fully is held (fail closed); big mail is
not copied around. Hostile MIME trees are built here, in code."""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import time
import tracemalloc
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendguard.mail.message import MAX_DEPTH, MAX_PARTS, OutgoingMessage
from sendguard.model import Verdict
from tests.conftest import sendguard_exe
from tests.support.content_fixtures import findings_of, run_check

HEAD = b"From: d.wolff@nordwerk.example\nTo: m.berger@nordwerk.example\nSubject: x\nMIME-Version: 1.0\n"


def nested_multipart(depth: int) -> bytes:
    out = HEAD
    for level in range(depth):
        out += f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n'.encode()
    out += b"Content-Type: text/plain\n\nbottom\n"
    for level in reversed(range(depth)):
        out += f"--b{level}--\n".encode()
    return out


def nested_rfc822(depth: int) -> bytes:
    return HEAD + b"Content-Type: message/rfc822\n\n" * depth + b"Subject: inner\n\nbottom\n"


def assert_held_as_unreadable(raw: bytes, tmp_path) -> None:
    start = time.process_time()  # CPU time: what the check costs, not how loaded the machine is
    result = run_check(raw, tmp_path)
    assert time.process_time() - start < 5
    assert result.decision.verdict >= Verdict.HOLD
    (finding,) = findings_of(result, "unreadable-message")
    assert "could not be read fully" in finding.message
    assert findings_of(result, "internal-error") == []


@pytest.mark.parametrize(
    "raw",
    [
        nested_multipart(MAX_DEPTH + 5),
        nested_multipart(5000),
        nested_rfc822(5000),
    ],
    ids=["just-too-deep", "multipart-5000", "rfc822-5000"],
)
def test_deep_nesting_is_held_not_crashed(raw, tmp_path):
    assert_held_as_unreadable(raw, tmp_path)


def test_ordinary_nesting_is_read_fully(tmp_path):
    message = OutgoingMessage(nested_multipart(8))
    assert [p.text().strip() for p in message.parts] == ["bottom"]
    assert message.problems == []


def test_too_many_parts_is_held(tmp_path):
    parts = b"".join(b"--b\nContent-Type: text/plain\n\npart\n" for _ in range(MAX_PARTS + 50))
    raw = HEAD + b'Content-Type: multipart/mixed; boundary="b"\n\n' + parts + b"--b--\n"
    assert_held_as_unreadable(raw, tmp_path)


@pytest.mark.parametrize(
    "raw",
    [
        HEAD + b"".join(b"X-Filler-%d: %s\n" % (n, b"y" * 200) for n in range(6000)) + b"\nbody\n",
        HEAD + b"X: y\n" * 200_000 + b"\nbody\n",
        b"From: a@nordwerk.example\nTo: b@x.example\nSubject: " + b"=?utf-8?q?abc?= " * 50_000 + b"\n\nhi\n",
        HEAD + b'Content-Type: multipart/mixed; boundary="b"\n\n' + b"--bX\n" * 200_000,
    ],
    ids=["big-header-block", "200k-header-lines", "800k-subject-of-encoded-words", "200k-boundary-like-lines"],
)
def test_huge_headers_and_endless_structures_are_held_quickly(raw, tmp_path):
    assert_held_as_unreadable(raw, tmp_path)


def test_megabytes_of_delimiter_lookalikes_are_read_quickly(tmp_path):
    raw = HEAD + b'Content-Type: multipart/mixed; boundary="b"\n\n' + b"x--b" * 2_000_000
    start = time.process_time()
    result = run_check(raw, tmp_path)
    assert time.process_time() - start < 3
    assert result.decision.verdict == Verdict.PASS


def test_address_header_that_breaks_the_stdlib_parser_is_held_with_recipients_kept(tmp_path):
    raw = b"From: a@nordwerk.example\nTo: anna@kundenfirma.example, " + b"(" * 50_000 + b"\n" + b"Subject: x\n\nhello\n"
    message = OutgoingMessage(raw)
    assert "anna@kundenfirma.example" in [a.addr for a in message.header_recipients]
    assert_held_as_unreadable(raw, tmp_path)


def test_endless_rfc2047_words_in_to_are_bounded(tmp_path):
    words = b"\n\t=?utf-8?Q?date=3E2017-08-20T10:08:28.617=3C/pr?=" * 4000
    raw = b'From: a@nordwerk.example\nTo: "t" <t@kundenfirma.example>,' + words + b"\nSubject: x\n\nhi\n"
    start = time.process_time()
    result = run_check(raw, tmp_path)
    assert time.process_time() - start < 5
    assert result.decision.verdict is not None


@pytest.mark.parametrize(
    "raw, texts",
    [
        # no closing delimiter: the last part runs to the end
        (HEAD + b'Content-Type: multipart/mixed; boundary="zz"\n\n--zz\n\none\n--zz\n\ntwo\n', ["one", "two"]),
        # a longer boundary that starts like ours is not ours
        (
            HEAD + b'Content-Type: multipart/mixed; boundary="zz"\n\n--zz\n\none\n--zzz\nstill one\n--zz--\n',
            ["one\n--zzz\nstill one"],
        ),
        # declared multipart without any delimiter: read as the text it is
        (HEAD + b'Content-Type: multipart/mixed; boundary="zz"\n\njust text\n', ["just text"]),
        # multipart without a boundary parameter
        (HEAD + b"Content-Type: multipart/mixed\n\njust text\n", ["just text"]),
        # CRLF line ends
        (
            HEAD.replace(b"\n", b"\r\n")
            + b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\n\r\none\r\n--zz--\r\n',
            ["one"],
        ),
        # no header/body separator at all
        (b"From: a@b.example\nTo: c@d.example", [""]),
        # nothing
        (b"", [""]),
        # a body that starts where headers should be
        (b"hello, this is not a header\n\nstill body\n", ["hello, this is not a header\n\nstill body"]),
    ],
)
def test_broken_structures_are_read_like_mail_programs_do(raw, texts):
    message = OutgoingMessage(raw)
    assert [p.text().strip() for p in message.parts] == texts


def test_transfer_encodings_are_undone():
    raw = (
        HEAD + b'Content-Type: multipart/mixed; boundary="zz"\n\n'
        b"--zz\nContent-Transfer-Encoding: base64\n\nSGVsbG8gV2VsdA==\n"
        b"--zz\nContent-Transfer-Encoding: base64\n\nSGVsbG8gV2VsdA=\n"  # bad padding
        b"--zz\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
        b"Gr=FC=DFe=\n aus K=F6ln\n"
        b"--zz\nContent-Type: application/octet-stream; name=x.bin\nContent-Transfer-Encoding: x-uuencode\n\n"
        b"begin 644 x.bin\n%2&5L;&\\`\n`\nend\n"
        b"--zz\nContent-Type: text/plain; charset=no-such-charset\n\nplain\n"
        b"--zz--\n"
    )
    parts = OutgoingMessage(raw).parts
    assert parts[0].payload() == b"Hello Welt"
    assert parts[1].payload().startswith(b"Hello We")
    assert parts[2].text() == "Grüße aus Köln"
    assert parts[3].payload() == b"Hello"
    assert parts[4].text().strip() == "plain"


def test_filenames_are_decoded():
    raw = (
        HEAD + b'Content-Type: multipart/mixed; boundary="zz"\n\n--zz\n\nhi\n'
        b"--zz\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=UTF-8''Gr%C3%BC%C3%9Fe.pdf\n\nx\n"
        b'--zz\nContent-Type: application/pdf; name="=?utf-8?q?K=C3=B6ln.pdf?="\n\nx\n--zz--\n'
    )
    message = OutgoingMessage(raw)
    assert [a.filename for a in message.attachments] == ["Grüße.pdf", "Köln.pdf"]


def test_raw_eight_bit_headers_are_read_as_the_text_they_say():
    # RFC 6532 lets a header carry UTF-8 as it is; older programs wrote latin-1 bytes
    raw = (
        "From: Jürgen Müller <j.mueller@nordwerk.example>\n"
        "To: Thomas <t.keller@lindenh\u043ef.example>, =?utf-8?q?Gr=C3=BC=C3=9Fe?= <x@y.example>\n"
        "Subject: Grüße aus Köln\n\nbody\n"
    ).encode()
    message = OutgoingMessage(raw)
    assert [a.addr for a in message.header_recipients] == ["t.keller@lindenh\u043ef.example", "x@y.example"]
    assert message.header_recipients[1].name == "Grüße"
    assert message.sender is not None and message.sender.name == "Jürgen Müller"
    assert message.subject == "Grüße aus Köln"
    latin = OutgoingMessage(b"From: a@b.example\nTo: J\xfcrgen <j@x.example>\nSubject: caf\xe9\n\nb\n")
    assert latin.header_recipients[0].name == "Jürgen" and latin.subject == "café"


def test_forwarded_messages_are_marked_and_not_the_senders_text():
    inner = b"From: anna@x.example\nSubject: old\n\nplease find attached\n"
    raw = (
        HEAD + b'Content-Type: multipart/mixed; boundary="zz"\n\n--zz\n\nFYI\n'
        b"--zz\nContent-Type: message/rfc822\n\n" + inner + b"--zz--\n"
    )
    message = OutgoingMessage(raw)
    assert [p.forwarded for p in message.parts] == [False, True]
    assert message.body_text.strip() == "FYI"


# --- agreement with the stdlib on well-formed mail ------------------------------------------------

leaf = st.one_of(
    st.builds(lambda t: MIMEText(t, "plain", "utf-8"), st.text(max_size=200)),
    st.builds(lambda t: MIMEText(t, "html", "utf-8"), st.text(max_size=200)),
    st.builds(lambda b: MIMEApplication(b), st.binary(max_size=300)),
)


def _multipart(children: list) -> MIMEMultipart:  # type: ignore[type-arg]
    message = MIMEMultipart()
    for child in children:
        message.attach(child)
    return message


trees = st.recursive(leaf, lambda inner: st.lists(inner, min_size=1, max_size=4).map(_multipart), max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees)
def test_well_formed_trees_read_like_the_stdlib(tree):
    raw = tree.as_bytes()
    ours = OutgoingMessage(raw).parts
    theirs = [p for p in email.message_from_bytes(raw, policy=email.policy.compat32).walk() if not p.is_multipart()]
    assert [p.content_type for p in ours] == [p.get_content_type() for p in theirs]
    assert [p.payload() for p in ours] == [p.get_payload(decode=True) for p in theirs]


# --- arbitrary input never crashes the checks -----------------------------------------------------

header_values = st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
boundaries = st.text(alphabet="abz=-_.'()+,/:? ", min_size=1, max_size=12)


@st.composite
def hostile_mime(draw, depth=0):  # type: ignore[no-untyped-def]
    headers = {
        "Content-Type": draw(
            st.sampled_from(
                [
                    "text/plain",
                    "text/html",
                    "multipart/mixed",
                    "message/rfc822",
                    "application/pdf",
                    "application/zip",
                    "image/png",
                    "garbage",
                    "",
                ]
            )
        ),
        "Content-Transfer-Encoding": draw(
            st.sampled_from(["", "base64", "quoted-printable", "x-uuencode", "8bit", "bogus"])
        ),
        "Content-Disposition": draw(
            st.sampled_from(
                [
                    "",
                    "attachment",
                    'attachment; filename="a.pdf"',
                    "inline; filename*=UTF-8''%ZZ.txt",
                    "attachment; filename=",
                ]
            )
        ),
    }
    boundary = draw(boundaries)
    if headers["Content-Type"].startswith("multipart") and depth < 4:
        headers["Content-Type"] += f'; boundary="{boundary}"'
        children = draw(st.lists(hostile_mime(depth + 1), max_size=3))
        body = b"".join(b"--" + boundary.encode() + b"\n" + c for c in children)
        if draw(st.booleans()):
            body += b"--" + boundary.encode() + b"--\n"
    elif headers["Content-Type"] == "message/rfc822" and depth < 4:
        body = draw(hostile_mime(depth + 1))
    else:
        body = draw(st.binary(max_size=200))
    head = b"".join(f"{k}: {v}\n".encode() for k, v in headers.items() if v)
    return head + (b"\n" if draw(st.booleans()) else b"") + body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=hostile_mime(), to=header_values, subject=header_values, sender=header_values)
def test_arbitrary_mime_trees_and_header_values_never_crash_the_checks(tmp_path_factory, body, to, subject, sender):
    head = (f"From: {sender}\nTo: {to}\nSubject: {subject}\n").encode("utf-8", "surrogateescape")
    raw = head + body
    result = run_check(raw, tmp_path_factory.mktemp("state"))
    assert result.decision.verdict in tuple(Verdict)
    assert findings_of(result, "internal-error") == [], [f.message for f in result.decision.findings]


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_the_parser(raw):
    message = OutgoingMessage(raw)
    for part in message.parts:
        part.text()
    _ = message.header_recipients, message.sender, message.subject, message.body_text, message.attachments


# --- big mail --------------------------------------------------------------------------------------


def test_big_attachment_is_not_copied_around(tmp_path):
    import os

    outer = MIMEMultipart()
    outer["From"], outer["To"], outer["Subject"] = "a@nordwerk.example", "b@nordwerk.example", "big"
    outer.attach(MIMEText("the data"))
    outer.attach(MIMEApplication(os.urandom(4 * 1024 * 1024), Name="data.bin"))
    raw = outer.as_bytes()
    tracemalloc.start()
    start = time.process_time()
    result = run_check(raw, tmp_path)
    elapsed = time.process_time() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.decision.verdict == Verdict.PASS
    assert peak < 2 * len(raw), f"peak {peak} for a {len(raw)} byte message"
    assert elapsed < 2


def test_check_cli_gives_a_verdict_for_a_hostile_file(tmp_path):
    path = tmp_path / "deep.eml"
    path.write_bytes(nested_multipart(3000))
    out = subprocess.run(
        [sendguard_exe(), "check", "--json", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert out.returncode == 2, out.stderr
    assert json.loads(out.stdout)["verdict"] == "hold"
