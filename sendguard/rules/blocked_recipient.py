"""blocked-recipient: an address or domain listed in ``[block]`` never receives mail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendguard.mail.message import domain_matches, domain_of
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
            if addr in addresses or domain_matches(domain_of(addr), block.domains)
        ]


RULE = BlockedRecipient
