"""Internationalised and malformed header shapes, for the fuzz test and bench/fuzz_sendmail.py.

One generator driven by a ``random.Random``: hypothesis drives it in CI (``st.randoms()``), the
bench script runs thousands of seeds. Shapes seen to crash mail code: RFC 6531 addresses
(``jürgen@müller.example``), lookalike brackets (``‹…>``), raw 8-bit bytes in any charset,
encoded words with bogus charsets or encodings (``=?ütf-8?q?x?=``), odd MIME parameters."""

from __future__ import annotations

import random

LOCALS = ["anna", "jürgen", "m.berger", "ο", "用户", "x+tag", '"a b"', "ødegård", "kai"]
DOMAINS = ["kundenfirma.example", "müller.example", "nordwerk.example", "例え.テスト", "xn--mller-kva.example"]
NAMES = ["Jürgen Müller", "Ødegård, Åse", "山田 太郎", "Ελένη", "O'Neil", "", '"Berger, M"', "\u202eevil"]
CHARSETS = ["utf-8", "ütf-8", "x-bogus", "iso-8859-1", "", "utf-7", "unknown-8bit", "gb2312", "us-ascii*de"]
ENCODINGS = ["q", "b", "Q", "B", "x", ""]
FIELDS = ["From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Resent-To", "Sender", "X-Note"]
BRACKETS = [("<", ">"), ("‹", ">"), ("<", "›"), ("＜", "＞"), ("<<", ">>"), ("", "")]


def _encoded_word(rng: random.Random, text: str) -> str:
    charset = rng.choice(CHARSETS)
    encoding = rng.choice(ENCODINGS)
    payload = rng.choice([text, "=FF=FE", "////", "####", text.replace(" ", "_")])
    return f"=?{charset}?{encoding}?{payload}?="


def _address(rng: random.Random) -> str:
    addr = f"{rng.choice(LOCALS)}@{rng.choice(DOMAINS)}"
    name = rng.choice(NAMES)
    if rng.random() < 0.3 and name:
        name = _encoded_word(rng, name)
    left, right = rng.choice(BRACKETS)
    if not name and rng.random() < 0.5:
        return addr
    return f"{name} {left}{addr}{right}".strip()


def _value(rng: random.Random, field: str) -> str:
    if field in ("Subject", "X-Note"):
        words = [rng.choice(NAMES + ["Grüße", "café", "日本語"]) for _ in range(rng.randint(0, 4))]
        if rng.random() < 0.5:
            words.append(_encoded_word(rng, rng.choice(NAMES)))
        return " ".join(words)
    return ", ".join(_address(rng) for _ in range(rng.randint(0, 3)))


def _encode(rng: random.Random, text: str) -> bytes:
    codec = rng.choice(["utf-8", "utf-8", "latin-1", "cp1252", "utf-16-le", "shift_jis"])
    return text.encode(codec, "replace")


def message(rng: random.Random) -> tuple[list[str], bytes]:
    """(sendmail argv, message bytes)."""
    head = [b"From: " + _encode(rng, _address(rng))]
    for _ in range(rng.randint(1, 6)):
        field = rng.choice(FIELDS)
        head.append(field.encode() + b": " + _encode(rng, _value(rng, field)))
    if rng.random() < 0.3:
        head.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))))
    kind = rng.random()
    if kind < 0.4:
        charset = rng.choice(CHARSETS)
        head.append(f"Content-Type: text/plain; charset={charset}".encode())
        body = _encode(rng, "Hallo " + rng.choice(NAMES) + ",\n\nsiehe Anhang.\n")
    elif kind < 0.8:
        boundary = rng.choice(["b", "ü", "=_x", "a b", "日本"])
        filename = rng.choice(["Grüße.pdf", "日本.docx", "x\u202egpj.exe", "=?utf-8?q?K=C3=B6ln.pdf?="])
        param = rng.choice(
            [f'filename="{filename}"', f"filename*={rng.choice(CHARSETS)}''{filename}", "filename*0*=ü'x"]
        )
        head.append(f'Content-Type: multipart/mixed; boundary="{boundary}"'.encode())
        body = (
            f"--{boundary}\nContent-Type: text/plain; charset={rng.choice(CHARSETS)}\n\n{rng.choice(NAMES)}\n"
            f"--{boundary}\nContent-Type: application/octet-stream\nContent-Disposition: attachment; {param}\n"
            f"Content-Transfer-Encoding: {rng.choice(['base64', 'quoted-printable', '8bit', 'bogus'])}\n\n"
            f"{rng.choice(['SGVsbG8=', '=FF=', 'ü'])}\n--{boundary}--\n"
        ).encode()
    else:
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    raw = b"\n".join(head) + b"\n\n" + body
    if rng.random() < 0.2:
        raw = raw.replace(b"\n", b"\r\n")
    argv = rng.choice([["-t"], ["-oi", "-t"], ["--", "anna@kundenfirma.example"], ["jürgen@müller.example"], ["-i"]])
    return argv, raw
