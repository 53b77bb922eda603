"""external-recipient: a recipient outside the organization and the allow list.

Information only by default: mail to clients is routine, and a warning on every outside mail
is exactly the alert fatigue that gets a tool switched off. Other rules use it as context;
``[rules.external-recipient] action = "hold"`` makes it strict for those who want that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendguard.model import Finding, Severity
from sendguard.rules import Rule

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext


class ExternalRecipient(Rule):
    id = "external-recipient"
    description = "A recipient outside the organization's domains and the allow list."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        if not context.config.organization.domains:
            return []  # without an organization everything would be "outside"
        findings = []
        for addr in context.envelope:
            if context.is_internal(addr) or context.is_allowed(addr) or context.is_own(addr):
                continue
            client = context.client_of(addr)
            who = f"client {client}" if client else "outside the organization"
            findings.append(Finding(self.id, Severity.INFO, f"{addr} is {who}.", recipient=addr))
        return findings


RULE = ExternalRecipient
