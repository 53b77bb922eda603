"""blocked-recipient: an address or domain listed in ``[block]`` never receives mail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendguard.mail.message import domain_matches, domain_of, route_of
from sendguard.model import Finding, Severity
from sendguard.rules import Rule

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext


class BlockedRecipient(Rule):
    id = "blocked-recipient"
    description = "A recipient listed in [block] addresses or domains."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        block = context.config.block
        addresses = {a.lower() for a in block.addresses}
        return [
            Finding(
                self.id,
                Severity.BLOCK,
                f"{addr} is on the block list; mail to it is never sent.",
                recipient=addr,
                evidence=addr,
            )
            for addr in context.envelope
            if _blocked(addr, addresses, block.domains)
        ]


def _blocked(addr: str, addresses: set[str], domains: list[str]) -> bool:
    """Listed, or its domain is; for a routed address (route_of) also the address it would end
    at and every host on its way: ``leak%evil.example@nordwerk.example`` reaches leak@evil.example."""
    if addr in addresses or domain_matches(domain_of(addr), domains):
        return True
    route = route_of(addr)
    return route is not None and (
        route.mailbox in addresses or any(domain_matches(host, domains) for host in route.hosts)
    )


RULE = BlockedRecipient
