"""Learning parses a plain message without the stdlib's pass over its body: the same Message as
``email.message_from_bytes``, and the same history learned from it."""

from __future__ import annotations

import email
from email.message import Message
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.history import learn
from sendguard.history.learn import Learner, observe_message, parse
from sendguard.history.store import open_for_write
from sendguard.mail.greetings import words
from tests.support.history_fixtures import config, history_messages, learn_into, tables_of

FIELDS = st.sampled_from(
    [
        b"From: Anna Berg <anna@nordwerk.example>",
        b"From: =?utf-8?q?J=C3=B6rg?= <joerg@nordwerk.example>",
        b"To: kontakt@kundenfirma.example, Max <max@nordwerk.example>",
        b"Cc: m.berger@nordwerk.example",
        b"Subject: Falke status",
        b"Subject: =?iso-8859-1?q?Gr=FC=DFe?=",
        b"Date: Fri, 04 Dec 2026 09:00:00 +0000",
        b"Message-ID: <a1@nordwerk.example>",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Type: text/plain; charset=iso-8859-1",
        b"Content-Type: text/html",
        b"Content-Type: multipart/mixed; boundary=XX",
        b"Content-Type: message/rfc822",
        b"Content-Transfer-Encoding: quoted-printable",
        b"Content-Transfer-Encoding: base64",
        b"Content-Transfer-Encoding: 8bit",
        b"X-Odd:\xff\xfe bytes",
        b" a continuation line",
        b"\tanother one",
        b"not a header line",
        b"From someone@example Fri Dec  4 09:00:00 2026",
        b"",
    ]
)
BODY = st.lists(
    st.sampled_from(
        [
            b"Hello Anna,",
            b"",
            b"--XX",
            b"Content-Type: text/plain",
            b"--XX--",
            b"gr=C3=BC=C3=9Fe",
            b"SGVsbG8gd29ybGQ=",
            b"<p>Hi <b>there</b></p>",
            b"Regards\r",
            b"K\xc3\xb6hler \xff",
            b"From: inside the body",
        ]
    ),
    max_size=12,
)
ENDS = st.sampled_from([b"\n", b"\r\n"])


@st.composite
def messages(draw: Any) -> bytes:
    head = draw(st.lists(FIELDS, max_size=10))
    end = draw(ENDS)
    body = draw(BODY)
    return end.join(head) + end + end + end.join(body)


def shape(msg: Message) -> Any:
    payload = msg.get_payload()
    return (
        msg.get_unixfrom(),
        msg.items(),
        msg.get_content_type(),
        [type(d).__name__ for d in msg.defects],
        [shape(p) for p in payload] if isinstance(payload, list) else payload,
    )


@settings(max_examples=400, deadline=None)
@given(messages())
def test_the_same_message_as_the_full_parse(raw: bytes) -> None:
    assert shape(parse(raw)) == shape(email.message_from_bytes(raw))


@settings(max_examples=200, deadline=None)
@given(messages())
def test_the_same_observation_as_from_the_full_parse(raw: bytes) -> None:
    own = {"anna@nordwerk.example"}
    fast = _observe(raw, own)
    learn.parse = email.message_from_bytes  # type: ignore[assignment]
    try:
        full = _observe(raw, own)
    finally:
        learn.parse = parse
    assert fast == full


def _observe(raw: bytes, own: set[str]) -> Any:
    try:
        return observe_message(raw, own, ["nordwerk.example"])
    except learn.UNREADABLE as err:
        return type(err)


def _bench_mail() -> list[bytes]:
    """Plain 10 kB messages as the milter's benchmark sends them (LF, one text part)."""
    line = "The Falke rollout is on track; the next milestone is the data migration.\n"
    return [
        (
            f"From: anna@nordwerk.example\nTo: kollege{n}@nordwerk.example\nSubject: Falke status {n}\n"
            f"Date: Fri, 04 Dec 2026 09:{n:02d}:00 +0000\nMessage-ID: <bench-{n}@nordwerk.example>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            f"Hallo Kollege {n},\n\n" + line * 130 + "\nGruss, Anna\n"
        ).encode()
        for n in range(20)
    ]


def _learned(tmp_path: Any, name: str, raws: list[bytes]) -> dict[str, list[tuple[Any, ...]]]:
    learn_into(tmp_path / name, raws)
    return tables_of(tmp_path / name)


def test_learning_gives_the_same_history_as_from_the_full_parse(tmp_path: Any) -> None:
    raws = history_messages() + _bench_mail() + [m.replace(b"\n", b"\r\n") for m in _bench_mail()[:3]]
    fast = _learned(tmp_path, "fast", raws)
    learn.parse = email.message_from_bytes  # type: ignore[assignment]
    try:
        full = _learned(tmp_path, "full", raws)
    finally:
        learn.parse = parse
    assert fast == full
    assert fast["messages"], "something was learned"


def test_a_plain_message_is_not_given_to_the_full_parse(monkeypatch: Any) -> None:
    """The point of it: the bench's 10 kB mail is taken apart at its blank line."""
    raw = _bench_mail()[0]

    def full(raw: bytes) -> Message:
        raise AssertionError("the full parse")

    monkeypatch.setattr(email, "message_from_bytes", full)
    assert parse(raw).get_payload() == raw[raw.index(b"\n\n") + 2 :].decode()


def test_learning_from_what_the_check_read_gives_the_same_history(tmp_path: Any, monkeypatch: Any) -> None:
    """The milter's worker learns what it let through with the words its check read: the same
    history as learning the raw bytes."""
    from sendguard.decide.check import check_message
    from sendguard.mail.message import OutgoingMessage
    from tests.support.history_fixtures import learned_state

    state = learned_state(tmp_path)
    cfg = config()
    raws = [m.replace(b"Message-ID: <", b"Message-ID: <again-") for m in history_messages()] + _bench_mail()
    reads = []
    for raw in raws:
        message = OutgoingMessage(raw)
        envelope = [a.addr.lower() for a in message.header_recipients]
        reads.append(check_message(message, cfg, envelope=envelope, state_dir=state).read)
    assert sum(r is not None for r in reads) >= len(raws) // 2, "the check read most of them"

    computed = []
    monkeypatch.setattr(learn, "words", lambda text, limit: computed.append(text) or words(text, limit))
    db = open_for_write(tmp_path / "reused")
    with Learner(db, cfg.identity.addresses, cfg.organization.domains) as learner:
        for raw, read in zip(raws, reads, strict=True):
            learner.add(raw, read)
    db.close()
    assert len(computed) < len(raws) // 2, "learning took the check's words over"
    monkeypatch.undo()
    assert tables_of(tmp_path / "reused") == _learned(tmp_path, "raw", raws)
