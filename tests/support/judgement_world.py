"""A larger synthetic mail world for fitting the judgement (written for sendguard).

Teams of colleagues at one organization and contacts at client firms; first names repeat across
them (the namesakes autocomplete confuses). Each team has its own topic words and writes
together; each message goes to one to three members of one team. Deterministic for a seed.
"""

from __future__ import annotations

import email.utils
import random

ME = "me@home.example"
ORG = "home.example"
CONFIG_TEXT = f'[identity]\naddresses = ["{ME}"]\n[organization]\ndomains = ["{ORG}"]\n'
FIRST = ["anna", "markus", "jana", "tim", "lea", "sabine", "thomas", "petra", "karl", "olga"]
LAST = ["berger", "brandt", "keller", "kern", "sommer", "wagner", "lang", "ott", "roth", "vogel", "busch", "haas"]
WORDS = (
    "budget plan release migration invoice contract review sprint roadmap staffing salary travel offer "
    "meeting quarter report ticket deploy server database customer project design test cost audit "
    "hiring training pricing delivery backlog outage"
).split()


def world(seed: int = 1, teams: int = 8, size: int = 4) -> list[tuple[list[str], list[str]]]:
    """(members, topic words) per team; members' addresses first.last@domain."""
    rng = random.Random(seed)
    out, used = [], set()
    for t in range(teams):
        domain = ORG if t % 2 == 0 else f"client{t}.example"
        members = []
        while len(members) < size:
            addr = f"{rng.choice(FIRST)}.{rng.choice(LAST)}@{domain}"
            if addr not in used:
                used.add(addr)
                members.append(addr)
        out.append((members, rng.sample(WORDS, 5)))
    return out


def messages(teams: list[tuple[list[str], list[str]]], n: int, seed: int = 2, start: float = 1.7e9) -> list[bytes]:
    """``n`` sent messages, one every few hours, in date order."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        members, topic = teams[rng.randrange(len(teams))]
        to = rng.sample(members, rng.randint(1, min(3, len(members))))
        first = to[0].split(".")[0].title()
        body = f"Hallo {first},\n\n" + " ".join(rng.choice(topic) for _ in range(12)) + "\n\nGruss\nMe"
        out.append(mail(to, " ".join(rng.sample(topic, 2)), body, f"s{seed}-{i}", start + i * 3 * 3600))
    return out


def mail(to: list[str], subject: str, body: str, msgid: str, date: float) -> bytes:
    head = [
        f"From: Me <{ME}>",
        f"To: {', '.join(to)}",
        f"Subject: {subject}",
        f"Date: {email.utils.formatdate(date)}",
        f"Message-ID: <{msgid}@home.example>",
        "Content-Type: text/plain; charset=utf-8",
    ]
    return ("\n".join(head) + "\n\n" + body + "\n").encode()
