"""A header block of simple fields is read without the stdlib's feed parser, into exactly the
message the feed parser makes of it."""

from __future__ import annotations

import email.parser

from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.mail import mimetree

_names = st.sampled_from([b"To", b"Subject", b"Content-Type", b"X-A", b"From", b"From ", b"", b"Bad Name", b"\xc3\xa9"])
_values = st.text(alphabet=" \t:;=ab\xe9\u2028\0\r", max_size=10).map(lambda v: v.encode("utf-8"))
_content_types = st.sampled_from(
    [b"multipart/mixed; boundary=x", b"text/plain; charset=utf-8", b"message/rfc822", b' text/html; name="a.b"']
)
_eol = st.sampled_from([b"\n", b"\r\n"])
_fields = st.lists(
    st.tuples(
        _names,
        st.sampled_from([b":", b" :", b"::"]),
        st.one_of(_values, _content_types),
        _eol,
        st.lists(st.tuples(st.sampled_from([b" ", b"\t"]), _values, _eol), max_size=2),
    ),
    max_size=5,
)


def _block(fields: list) -> bytes:
    return b"".join(
        name + colon + value + eol + b"".join(lead + more + end for lead, more, end in continued)
        for name, colon, value, eol, continued in fields
    )


def _state(message: email.message.Message) -> dict:
    state = dict(vars(message))
    state["defects"] = [(type(d), d.args) for d in message.defects]
    return state


_odd = st.sampled_from([b"\r", b"\r", b"\n", b" ", b"From x\n", b"\nbody", b":"])


@settings(max_examples=1000)
@given(_fields, st.lists(st.tuples(_odd, st.integers(0, 200)), max_size=2), st.booleans())
def test_simple_blocks_read_as_the_stdlib_reads_them(fields, odd, cut):
    block = _block(fields)
    for text, at in odd:
        at = at % (len(block) + 1)
        block = block[:at] + text + block[at:]
    if cut:
        block = block.rstrip(b"\r\n")
    stdlib = email.parser.BytesHeaderParser().parsebytes(block)
    assert _state(mimetree._parse_headers(block)) == _state(stdlib)
    simple = mimetree._simple_headers(block)
    assert simple is None or _state(simple) == _state(stdlib)


@given(
    st.lists(
        st.tuples(st.sampled_from([b"To", b"Content-Type", b"X-Mailer"]), st.one_of(_values, _content_types), _eol),
        max_size=5,
    )
)
def test_simple_blocks_take_the_shortcut(fields):
    block = b"".join(name + b":" + value.replace(b"\r", b"") + eol for name, value, eol in fields)
    simple = mimetree._simple_headers(block)
    if b"multipart" in block.lower():
        assert simple is None  # 3.11's patch releases disagree on its defects: the stdlib reads it
    else:
        assert simple is not None
        assert _state(simple) == _state(email.parser.BytesHeaderParser().parsebytes(block))


_params = st.lists(
    st.tuples(
        st.sampled_from(["name", "NAME", "filename", "fileName*", "filename*0", "filename*1*", "x", "charset", ""]),
        st.sampled_from(["=", "= ", ""]),
        st.text(alphabet="ab.\"' %;=\u00e9\u212a", max_size=8),
    ),
    max_size=3,
).map(lambda ps: "".join(f"; {k}{eq}{v}" for k, eq, v in ps))


@settings(max_examples=500)
@given(
    st.sampled_from(["text/plain", "application/pdf", "", "multipart/mixed"]),
    _params,
    st.sampled_from([None, "attachment", "inline", ""]),
    _params,
    st.booleans(),
)
def test_parts_without_a_name_parameter_have_no_filename(ctype, cparams, disposition, dparams, eight_bit):
    head = f"Content-Type: {ctype}{cparams}\n"
    if disposition is not None:
        head += f"Content-Disposition: {disposition}{dparams}\n"
    block = head.encode("utf-8" if eight_bit else "ascii", "replace")
    message = mimetree._parse_headers(block)
    plain = mimetree._safe(message.get_filename, None)
    assert (plain if mimetree._may_name_a_file(message) else None) == plain


def _decode_header_as_before(value: object, limit: int = mimetree.MAX_DECODED_HEADER_CHARS) -> str:
    """decode_header of a plain value as first written: every one through the stdlib."""
    import email.errors
    import email.header

    text = str(value)[:limit]
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (email.errors.MessageError, LookupError, UnicodeError, ValueError, RecursionError):
        return text


@settings(max_examples=2000, deadline=None)
@given(
    st.text(alphabet=" \t\r\n=?abQB-_:;\xe9\u2028\udc80", max_size=30)
    | st.sampled_from(["=?utf-8?q?J=C3=BCrgen?= x", "a =? b", "=?x?b??=", "Fri, 04 Dec 2026 09:00:00 +0000"]),
    st.integers(1, 40),
)
def test_a_plain_header_value_reads_as_the_stdlib_reads_it(value: str, limit: int) -> None:
    assert mimetree.decode_header(value, limit) == _decode_header_as_before(value, limit)
