"""Mail providers: their domains are everyone's, never an organization, a client or a partner."""

from __future__ import annotations

FREEMAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "web.de",
        "t-online.de",
        "posteo.de",
        "mailbox.org",
        "proton.me",
        "protonmail.com",
        "fastmail.com",
        "aol.com",
        "freenet.de",
        "yandex.ru",
        "mail.ru",
    }
)
"""Mail providers whose domain is never an organization or a client: everyone uses them."""
