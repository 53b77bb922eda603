"""lookalike-domain: a recipient domain one typo or homoglyph away from a domain you mean.

"nodrwerk.example" for "nordwerk.example", "rn" for "m", a Cyrillic "о" for a Latin "o". The
references are the organization's domains, the clients' domains and the domains the user writes
to regularly; a domain the user already writes to is never a lookalike. One edit (a
transposition counts as one) for short names, two for long ones; or the same "skeleton" after
folding homoglyphs. Conclusive (HOLD) when it imitates the organization or a client: nobody
means to write to a near copy of those; WARN when it resembles some other frequent domain.
The suggestion keeps the local part and puts the real domain. An address the user allowed
(``[allow]``) or vouched for (``sendguard trust``) is not questioned: the per-contact "don't ask
again" applies here as to every recipient rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendguard.mail.message import domain_matches
from sendguard.model import Finding, Severity
from sendguard.rules import Rule
from sendguard.rules.context import silenced

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext

HOMOGLYPHS = {
    "0": "o",
    "1": "l",
    "i": "l",
    "|": "l",
    "5": "s",
    "$": "s",
    "vv": "w",
    "rn": "m",
    "cl": "d",
    "а": "a",
    "е": "e",
    "о": "o",
    "р": "p",
    "с": "c",
    "у": "y",
    "х": "x",
    "і": "l",
    "ѕ": "s",
    "ј": "j",
    "ԁ": "d",
    "ɡ": "g",
    "ո": "n",
    "ν": "v",
    "ο": "o",
    "α": "a",
}
FREQUENT_SENT = 3
# Real mail providers a letter apart from each other ("mail.com" / "gmail.com", "aol.com" /
# "aon.com"): a recipient at one of these is no imitation of another.
PROVIDERS = frozenset(
    (
        "gmail.com",
        "googlemail.com",
        "mail.com",
        "email.com",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "gmx.ch",
        "web.de",
        "yahoo.com",
        "yahoo.de",
        "ymail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.de",
        "live.com",
        "msn.com",
        "aol.com",
        "aon.at",
        "icloud.com",
        "me.com",
        "mac.com",
        "t-online.de",
        "online.de",
        "freenet.de",
        "posteo.de",
        "posteo.net",
        "mailbox.org",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "tutanota.com",
        "yandex.ru",
        "ya.ru",
        "mail.ru",
        "inbox.ru",
        "list.ru",
        "bk.ru",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "sfr.fr",
        "wanadoo.fr",
        "libero.it",
        "telefonica.net",
        "ziggo.nl",
        "kpnmail.nl",
        "xs4all.nl",
        "zoho.com",
        "fastmail.com",
        "fastmail.fm",
        "hey.com",
        "comcast.net",
        "verizon.net",
        "att.net",
    )
)


def skeleton(domain: str) -> str:
    try:
        domain = domain.encode("ascii").decode("idna") if "xn--" in domain else domain
    except UnicodeError:
        pass
    for glyph in sorted(HOMOGLYPHS, key=len, reverse=True):
        domain = domain.replace(glyph, HOMOGLYPHS[glyph])
    return domain


def osa_distance(a: str, b: str) -> int:
    """Edit distance where swapping two neighbouring letters is one edit."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def looks_like(domain: str, real: str) -> bool:
    if domain == real or domain.endswith("." + real) or real.endswith("." + domain):
        return False
    if skeleton(domain) == skeleton(real):
        return True
    if abs(len(domain) - len(real)) > 2:
        return False
    allowed = 1 if len(real) < 12 else 2
    return osa_distance(domain, real) <= allowed


class LookalikeDomain(Rule):
    id = "lookalike-domain"
    description = "A recipient domain a typo or homoglyph away from the organization's, a client's or a frequent one."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        config = context.config
        strong = [(d.lower().lstrip("@"), "the organization's") for d in config.organization.domains]
        strong += [(d.lower().lstrip("@"), f"client {name}'s") for name, c in config.clients.items() for d in c.domains]
        store = context.history
        weak = (
            [(d, "a domain you write to") for d, n in store.frequent_domains() if n >= FREQUENT_SENT]
            if store is not None
            else []
        )
        findings = []
        for addr in context.envelope:
            domain = addr.rpartition("@")[2].lower()
            if context.is_internal(addr) or context.client_of(addr) or silenced(context, addr, self.id):
                continue
            if domain in PROVIDERS or (store is not None and store.domain_counts(domain)[0] >= FREQUENT_SENT):
                continue
            for real, whose in strong + weak:
                if domain_matches(domain, [real]) or not looks_like(domain, real):
                    continue
                severity = Severity.HOLD if (real, whose) in strong else Severity.WARN
                local = addr.rpartition("@")[0]
                findings.append(
                    Finding(
                        self.id,
                        severity,
                        f"{domain} looks like {whose} domain {real}, but is not.",
                        recipient=addr,
                        suggestion=f"{local}@{real}",
                        evidence=domain,
                    )
                )
                break
        return findings


RULE = LookalikeDomain
