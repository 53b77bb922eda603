"""Benchmark tool (not a test): more misdirection cases from the same Enron mailboxes.

The official benchmark (../shared/corpus/misdirect, built as ../shared/corpus/SOURCES.md says)
splits each user's distinct sent mail at 70 % and draws one swap per later message. Its figures
rest on 189 swaps and 374 routine messages, too few to judge a change of a few cases. This
builds the same kind of folder at another split and with other draws, so a change can be
measured on several independent draws (the swaps) and on more routine mail (an earlier split):

    .venv/bin/python bench/make_misdirect.py --split 0.5 --seed 1 OUT
    ../shared/tools/misdirect-score --sendguard .venv/bin/sendguard --replay OUT/*

Method, as SOURCES.md describes it: distinct sent mail (by date, subject and body) ordered by
date; the first ``split`` of it and every received message dated before the first later one
form learn/; each later message is a case as sent and, when one of its recipients has a
confusable contact (same first name, same last name, the same first three letters, or an
address within two edits; never two addresses of one person, never the user), once more with
that recipient swapped for one of them, frequent contacts drawn more often. X- headers go.
Files are numbered by message with a random letter each, so a name says nothing of its label.
"""

from __future__ import annotations

import argparse
import email
import email.utils
import random
import re
import shutil
from collections import Counter
from pathlib import Path

from sendguard.history.names import aliases, contact_names
from sendguard.history.twins import edit_distance

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpus"
SENT_FOLDERS = ("_sent_mail", "sent", "sent_items")
ADDRESS_FIELDS = ("To", "Cc", "Bcc")


def _read(path: Path) -> tuple[bytes, email.message.Message]:
    raw = path.read_bytes()
    return raw, email.message_from_bytes(raw)


def _when(msg: email.message.Message) -> float:
    try:
        return email.utils.parsedate_to_datetime(msg["Date"]).timestamp()
    except (TypeError, ValueError, IndexError):
        return 0.0


def _recipients(msg: email.message.Message) -> list[str]:
    found = email.utils.getaddresses([v for f in ADDRESS_FIELDS for v in msg.get_all(f, [])])
    return list(dict.fromkeys(a.strip().lower() for _, a in found if "@" in a))


def _mailbox(user_dir: Path) -> tuple[list[tuple[float, bytes, email.message.Message]], list[tuple[float, bytes]]]:
    sent: dict[tuple[str, str, str], tuple[float, bytes, email.message.Message]] = {}
    received: dict[str, tuple[float, bytes]] = {}
    for path in sorted(p for p in user_dir.rglob("*") if p.is_file()):
        raw, msg = _read(path)
        folder = path.relative_to(user_dir).parts[0]
        if folder in SENT_FOLDERS:
            key = (str(msg["Date"]), str(msg["Subject"]), str(msg.get_payload()))
            sent.setdefault(key, (_when(msg), raw, msg))
        else:
            received.setdefault(str(msg["Message-ID"]) or str(path), (_when(msg), raw))
    return sorted(sent.values(), key=lambda t: t[0]), sorted(received.values(), key=lambda t: t[0])


def _names(addr: str) -> tuple[str, str]:
    first, last = contact_names("", addr)
    return first.lower(), last.lower()


def _same_person(a: str, b: str) -> bool:
    la, lb = (re.sub(r"[^a-z]", "", x.partition("@")[0]) for x in (a, b))
    if la == lb:
        return True  # the same mailbox elsewhere, dots or not ("anne.moisan", "annemoisan")
    (fa, sa), (fb, sb) = _names(a), _names(b)
    if not sa or sa != sb or not fa or not fb:
        return False
    # an initial may be of a middle name ("s..bradford" is William S.), so any initial counts
    if fa == fb or len(fa) == 1 or len(fb) == 1 or fa.startswith(fb) or fb.startswith(fa):
        return True
    return fa in aliases(fb) or fb in aliases(fa)  # a short form: Dave and David, Molly and Mary


def _kind(a: str, b: str) -> str:
    (fa, sa), (fb, sb) = _names(a), _names(b)
    if len(fa) >= 2 and fa == fb:
        return "same-first-name"
    if len(sa) >= 2 and sa == sb:
        return "same-last-name"
    la, lb = a.partition("@")[0], b.partition("@")[0]
    if len(la) >= 3 and la[:3] == lb[:3]:
        return "typed-prefix"
    if edit_distance(a, b) <= 2:
        return "near-address"
    return ""


def _side(addr: str, org: set[str]) -> str:
    domain = addr.rpartition("@")[2]
    return "internal" if any(domain == d or domain.endswith("." + d) for d in org) else "external"


def _header_lines(raw: bytes) -> tuple[list[bytes], bytes]:
    """The header's lines (with their line ends) and the rest: the blank line and the body."""
    lines = raw.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if not line.strip():
            return lines[:i], b"".join(lines[i:])
    return lines, b""


def _swapped(raw: bytes, old: str, new: str) -> bytes:
    head, rest = _header_lines(_strip_x(raw))
    out, in_address = [], False
    for line in head:
        if line[:1] not in (b" ", b"\t"):
            in_address = line.partition(b":")[0].strip().lower() in (b"to", b"cc", b"bcc")
        if in_address:
            line = re.sub(re.escape(old.encode()), new.encode(), line, flags=re.IGNORECASE)
        out.append(line)
    return b"".join(out) + rest


def _strip_x(raw: bytes) -> bytes:
    head, rest = _header_lines(raw)
    out, skipping = [], False
    for line in head:
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                out.append(line)
            continue
        skipping = line.lower().startswith(b"x-")
        if not skipping:
            out.append(line)
    return b"".join(out) + rest


def build(user: str, out: Path, split: float, seed: int) -> tuple[int, int]:
    rng = random.Random(f"{user}:{split}:{seed}")
    official = SHARED / "misdirect" / user
    config = (official / "config.toml").read_text()
    own = set(re.findall(r'"([^"]+@[^"]+)"', config.partition("[organization]")[0]))
    org = set(re.findall(r'"([^"@]+\.[^"@]+)"', config.partition("[organization]")[2].partition("\n\n")[0]))
    sent, received = _mailbox(SHARED / "enron" / user)
    cut = int(len(sent) * split)
    learn, later = sent[:cut], sent[cut:]
    start = later[0][0] if later else float("inf")
    target = out / user
    if target.exists():
        shutil.rmtree(target)
    for sub in ("learn/sent/cur", "learn/received/cur", "cases"):
        (target / sub).mkdir(parents=True)
    (target / "config.toml").write_text(config)
    weight: Counter[str] = Counter()
    for i, (_, raw, msg) in enumerate(learn):
        (target / f"learn/sent/cur/{i:06d}.sent:2,S").write_bytes(raw)
        weight.update(_recipients(msg))
    for i, (_, raw) in enumerate(r for r in received if r[0] < start):
        (target / f"learn/received/cur/{i:06d}.received:2,S").write_bytes(raw)
        sender = email.utils.parseaddr(email.message_from_bytes(raw).get("From", ""))[1].lower()
        if "@" in sender and sender not in own:
            weight[sender] += 1
    contacts = [c for c in weight if c not in own]
    rows = ["file\tlabel\tkind\tenvelope\tintended\tswapped_in\tcrossing"]
    swaps = 0
    for i, (_, raw, msg) in enumerate(later):
        rcpts = _recipients(msg)
        ok_letter = rng.choice("ab")
        rows.append(f"{i:05d}{ok_letter}.eml\tok\tas-sent\t{' '.join(rcpts)}\t\t\t")
        (target / f"cases/{i:05d}{ok_letter}.eml").write_bytes(_strip_x(raw))
        options = []
        for r in rcpts:
            if r in own:
                continue
            for c in contacts:
                if c == r or c in rcpts or _same_person(r, c):
                    continue
                kind = _kind(r, c)
                if kind:
                    options.append((r, c, kind))
        if not options:
            continue
        by_recipient: dict[str, list[tuple[str, str, str]]] = {}
        for o in options:
            by_recipient.setdefault(o[0], []).append(o)
        intended = rng.choice(sorted(by_recipient))
        choices = by_recipient[intended]
        _, wrong, kind = rng.choices(choices, weights=[weight[c] for _, c, _ in choices])[0]
        sides = (_side(intended, org), _side(wrong, org))
        crossing = "same-domain" if intended.rpartition("@")[2] == wrong.rpartition("@")[2] else "->".join(sides)
        letter = "b" if ok_letter == "a" else "a"
        envelope = " ".join(wrong if r == intended else r for r in rcpts)
        rows.append(f"{i:05d}{letter}.eml\tmisdirected\t{kind}\t{envelope}\t{intended}\t{wrong}\t{crossing}")
        (target / f"cases/{i:05d}{letter}.eml").write_bytes(_swapped(raw, intended, wrong))
        swaps += 1
    (target / "cases.tsv").write_text("\n".join(rows) + "\n")
    return len(later), swaps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--split", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--users", nargs="*", default=["buy-r", "grigsby-m", "keavey-p"])
    a = ap.parse_args()
    for user in a.users:
        cases, swaps = build(user, a.out, a.split, a.seed)
        print(f"{user}: {cases} messages as sent, {swaps} swapped")


if __name__ == "__main__":
    main()
