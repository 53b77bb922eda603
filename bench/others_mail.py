"""Benchmark analysis (not a test): other people's mail read as the user's own outgoing mail.

The Enron mailboxes under ../shared/corpus/enron hold the mail of hundreds of writers besides
the three users. Every distinct message (by Message-ID) is checked as if its sender sent it
(identity = its From, organization = enron.com, no learned history, so only the content and
message rules speak), and the readers the recipient model relies on are asked what they see:

* verdicts, and the holds by rule (with ``--show RULE`` the held messages of that rule);
* greetings: how many messages have one, and how many name no recipient of a message with at
  most three (a role, an exclamation or a sentence read as a name shows up here);
* quoted headers: of the messages with a visible reply or forward marker, how many name the
  quoted author, only its address, or nobody; and how many forwards only the body tells.

With ``--sample N`` it also prints N messages drawn at random (``--seed``) from each of four
groups, with what was read and the lines it was read from, for judging the readers by hand:
(a) greetings naming none of at most three recipients, (b) greetings naming one of them,
(c) messages whose quoted author was read, (d) messages with a visible marker where nobody was.

    .venv/bin/python bench/others_mail.py [--show RULE] [--sample N [--seed S]] [FOLDER...]
"""

from __future__ import annotations

import argparse
import collections
import email
import email.utils
import random
import re
import tempfile
import time
from pathlib import Path

from sendguard.config.schema import parse
from sendguard.decide.check import check_message, envelope_for
from sendguard.mail.greetings import forwards_in_body, is_forward, parse_greeting
from sendguard.mail.message import OutgoingMessage
from sendguard.mail.quoted import quoted_people
from sendguard.model import Severity, Verdict

ROOT = Path(__file__).resolve().parents[1]
ENRON = ROOT.parent / "shared" / "corpus" / "enron"
VISIBLE_QUOTE = re.compile(
    r"original message|wrote:|^\s*from:|forwarded by|\d\d/\d\d/\d\d\d\d \d\d:\d\d [AP]M", re.IGNORECASE | re.MULTILINE
)


def distinct_messages(folders: list[Path]) -> list[tuple[Path, bytes]]:
    seen: set[str] = set()
    out = []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            raw = path.read_bytes()
            key = str(email.message_from_bytes(raw).get("Message-ID", "")) or str(path)
            if key not in seen:
                seen.add(key)
                out.append((path, raw))
    return out


def first_names(addresses: list[str]) -> set[str]:
    return {part for a in addresses for part in re.split(r"[._]", a.partition("@")[0]) if len(part) >= 2}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="*", type=Path)
    ap.add_argument("--show", default="", help="list the messages this rule held")
    ap.add_argument("--sample", type=int, default=0, help="print this many messages of each group (a)-(d)")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    folders = a.folders or [ENRON]
    messages = distinct_messages(folders)
    state = Path(tempfile.mkdtemp(prefix="sg-others-"))
    configs: dict[str, object] = {}
    verdicts: collections.Counter[str] = collections.Counter()
    holds: collections.Counter[str] = collections.Counter()
    greet: collections.Counter[str] = collections.Counter()
    quoted: collections.Counter[str] = collections.Counter()
    shown = []
    groups: dict[str, list[tuple[Path, str]]] = {"a": [], "b": [], "c": [], "d": []}
    start = time.process_time()
    for path, raw in messages:
        sender = email.utils.parseaddr(str(email.message_from_bytes(raw).get("From", "")))[1].lower()
        if "@" not in sender or '"' in sender:
            continue
        config = configs.get(sender)
        if config is None:
            config = configs[sender] = parse(
                f'[identity]\naddresses = ["{sender}"]\n[organization]\ndomains = ["enron.com"]\n'
            )
        message = OutgoingMessage(raw)
        result = check_message(message, config, envelope=envelope_for(message, (), False), state_dir=state)  # type: ignore[arg-type]
        verdicts[result.decision.verdict.name] += 1
        if result.decision.verdict >= Verdict.HOLD:
            rules = sorted({f.rule for f in result.decision.findings if f.severity >= Severity.HOLD})
            for rule in rules or ["escalated"]:
                holds[rule] += 1
                if rule == a.show:
                    shown.append(f"  {path}: {result.decision.reasons[0][:120]}")
        body = message.body_text
        recipients = [box.addr.lower() for box in message.header_recipients]
        greeting = parse_greeting(body)
        if greeting is not None:
            greet["with a greeting"] += 1
            if 0 < len(recipients) <= 3:
                named = bool(set(greeting.names) & first_names(recipients))
                groups["b" if named else "a"].append((path, f"greeting {greeting.names} in {greeting.line!r}"))
                if not named:
                    greet["naming no recipient (of at most three)"] += 1
        if VISIBLE_QUOTE.search(body):
            people = quoted_people(body)
            quoted["author" if people.author else ("address only" if people.author_addr else "nobody")] += 1
            if people.author:
                read = f"author {people.author.first} {people.author.last} <{people.author_addr}>"
                groups["c"].append((path, read))
            elif not people.author_addr:
                groups["d"].append((path, "nobody"))
            if forwards_in_body(body) and not is_forward(message.subject):
                quoted["forwards known by the body only"] += 1
    cpu = time.process_time() - start
    print(f"{len(messages)} distinct messages, {sum(verdicts.values())} checked in {cpu:.1f} s of CPU")
    print("  verdicts:", ", ".join(f"{k} {v}" for k, v in verdicts.most_common()))
    print("  held by rule:", ", ".join(f"{k} {v}" for k, v in holds.most_common()) or "none")
    print("  greetings:", ", ".join(f"{k} {v}" for k, v in greet.items()))
    print("  quoted headers:", ", ".join(f"{k} {v}" for k, v in quoted.most_common()))
    print("\n".join(shown))
    if a.sample:
        print_samples(groups, a.sample, a.seed)


def print_samples(groups: dict[str, list[tuple[Path, str]]], n: int, seed: int) -> None:
    """N messages of each group: what was read, the recipients, and the lines it was read from."""
    rng = random.Random(seed)
    for name, members in groups.items():
        members = sorted(members, key=lambda member: str(member[0]))
        for i, (path, read) in enumerate(rng.sample(members, min(n, len(members)))):
            message = OutgoingMessage(path.read_bytes())
            recipients = ", ".join(box.addr for box in message.header_recipients)
            print(f"\n## {name}{i:02d} {path}\n{read}\nto: {recipients[:160]}\nsubject: {message.subject[:100]}")
            lines = message.body_text.splitlines()
            at = 0 if name in "ab" else next((j for j, x in enumerate(lines) if VISIBLE_QUOTE.search(x)), 0)
            print("\n".join(f"  |{x[:160]}" for x in lines[max(0, at - 4) : at + 12]))


if __name__ == "__main__":
    main()
