"""other-client: mail to client A that names client B (B's keywords, domains or contacts).

Telling one client about another's projects or prices is a leak even when the recipient is
right. Client B is named by its configured keywords, domains and addresses, and by the full
display names of its frequent contacts in the history ("Anna Schmidt"). Keywords match as whole words, case-insensitively, in the subject, the author's own text
(quoted mail from the same client is normal) and attachment file names; domains and addresses
anywhere in the text. Attachment contents come from the content rules' extractor
(sendguard.mail.extract, within its budget), so each attachment is read once per message.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sendguard.mail.greetings import own_text
from sendguard.model import Finding, Severity
from sendguard.rules import Rule
from sendguard.rules.context import silenced

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext

MAX_CONTACT_NAMES = 20


def client_terms(client, store) -> list[str]:  # type: ignore[no-untyped-def]
    """Keywords, domains, addresses, and the full names of the client's frequent contacts."""
    terms = [t for t in (*client.keywords, *client.domains, *client.addresses) if t.strip()]
    if store is not None:
        for domain in client.domains:
            for contact in store.at_domain(domain.lower().lstrip("@"), MAX_CONTACT_NAMES):
                if len(contact.first) >= 2 and len(contact.last) >= 2 and contact.name:
                    terms.append(contact.name)
    return terms


def mentions(text: str, term: str) -> bool:
    """Whole words, case-insensitively; a domain also counts inside an address ("anna@helio.example").

    A keyword or name also counts as part of a hyphenated compound or a file name ("Granit-Projekt",
    "Angebot_Granit.pdf", "angebot-granit-2026.xlsx"): hyphens and underscores separate words there.
    """
    if "." in term and " " not in term:  # a domain or an address
        return re.search(r"(?<![\w.-])" + re.escape(term) + r"(?![\w@-])", text, re.IGNORECASE) is not None
    return re.search(r"(?<![^\W_]|[.@])" + re.escape(term) + r"(?![^\W_]|@)", text, re.IGNORECASE) is not None


class OtherClient(Rule):
    id = "other-client"
    description = "A mail to one client that names another client (keywords, domains, contacts)."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        clients = context.config.clients
        if len(clients) < 2:
            return []
        by_recipient = {a: context.client_of(a) for a in context.envelope}
        addressed = {c for c in by_recipient.values() if c}
        if not addressed:
            return []
        names = " ".join(p.filename or "" for p in message.attachments)
        text = "\n".join((message.subject, own_text(message.body_text, 50_000), names))
        if message.attachments:
            from sendguard.mail.extract import attachment_texts  # shared with the content rules, read once

            text += "\n" + "\n".join(a.text for a in attachment_texts(message, context))
        findings = []
        for other, client in clients.items():
            if other in addressed:
                continue
            hits = [t for t in client_terms(client, context.history) if mentions(text, t)]
            if not hits:
                continue
            for addr, mine in by_recipient.items():
                if mine and mine != other and not silenced(context, addr, self.id):
                    findings.append(
                        Finding(
                            self.id,
                            Severity.WARN,
                            f"This mail to {addr} (client {mine}) mentions client {other} ({', '.join(hits[:3])}).",
                            recipient=addr,
                            evidence=", ".join(hits[:5]),
                        )
                    )
        return findings


RULE = OtherClient
