"""first-time-recipient: the user has never written to this address before.

Information only: new contacts are normal, and holding them would be nagging. The decision
table counts it as corroboration, so a warning about the same recipient from another rule holds.
Silent until something has been learned (without a history everyone is new).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendguard.model import Finding, Severity
from sendguard.rules import Rule
from sendguard.rules.context import silenced

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext


class FirstTimeRecipient(Rule):
    id = "first-time-recipient"
    description = "A recipient the user has never written to before (information; adds weight to other findings)."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        store = context.history
        if store is None:
            return []
        findings = []
        for addr in context.envelope:
            if silenced(context, addr, self.id):
                continue
            contact = store.contact(addr)
            if contact is None or contact.sent == 0:
                heard = " (you have only received mail from them)" if contact and contact.received else ""
                findings.append(
                    Finding(self.id, Severity.INFO, f"You have never written to {addr} before{heard}.", recipient=addr)
                )
        return findings


RULE = FirstTimeRecipient
