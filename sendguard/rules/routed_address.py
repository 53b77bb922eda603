"""routed-address: a recipient whose address routes the mail on, past the domain it names.

``bob%evil.example@nordwerk.example`` looks like a colleague, but a relay that honours the
percent hack sends it to bob@evil.example; bang paths, source routes and an "@" in a quoted local
part do the same. Such an address is judged where it would end (context.is_internal and the
organization test read every host on its way) and held: no mail program writes one today, and
whether a relay on the way honours it cannot be known from here. An address the user's own sent
mail already went to (mail systems of the 1990s, Lotus Notes gateways) only warns: the history
says it is how this user reaches that person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendguard.mail.message import domain_of, route_of
from sendguard.model import Finding, Severity
from sendguard.rules import Rule
from sendguard.rules.context import silenced

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext


class RoutedAddress(Rule):
    id = "routed-address"
    description = "A recipient address that routes the mail on (percent hack, bang path, source route)."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        findings = []
        for addr in context.envelope:
            route = route_of(addr)
            if route is None or silenced(context, addr, self.id):
                continue
            store = context.history
            contact = store.contact(addr) if store is not None else None
            written = contact is not None and contact.sent > 0
            if route.how == "a source route":
                where = f"through {', '.join(route.hosts)} on its way to {route.destination}"
            else:
                named = domain_of(addr) or "the transport's own host"
                where = f"on to {route.destination or 'an empty host name'}, not to a mailbox at {named}"
            findings.append(
                Finding(
                    self.id,
                    Severity.WARN if written else Severity.HOLD,
                    f"{addr} is a routed address ({route.how}): a server that honours it sends the mail {where}"
                    + ("; you have written to it before." if written else "."),
                    recipient=addr,
                    evidence=addr,
                )
            )
        return findings


RULE = RoutedAddress
