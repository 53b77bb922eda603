"""sender-identity: the From address is not the one the user always uses with these recipients.

For people with several identities (work and private, two employers): a work mail sent from the
private address, or the reverse, is both a privacy slip and often a sign the wrong account
composed the mail. Only a settled habit counts (several messages, always from one other
address); a WARN, never a hold on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendguard.model import Finding, Severity
from sendguard.rules import Rule
from sendguard.rules.context import silenced

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext

MIN_HABIT = 3


class SenderIdentity(Rule):
    id = "sender-identity"
    description = "The From address differs from the one always used with these recipients."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        store = context.history
        own = context.config.identity.addresses
        if store is None or len(own) < 2 or message.sender is None:
            return []
        sender = message.sender.addr
        findings = []
        for addr in context.envelope:
            contact = store.contact(addr)
            if contact is None or contact.sent < MIN_HABIT or silenced(context, addr, self.id):
                continue
            used = store.senders_for([contact.id])
            if sender in used or len(used) != 1:
                continue
            ((habit, n),) = used.items()
            if n >= MIN_HABIT:
                findings.append(
                    Finding(
                        self.id,
                        Severity.WARN,
                        f"You always wrote to {addr} from {habit} ({n} times), now from {sender}.",
                        recipient=addr,
                        suggestion=None,
                        evidence=sender,
                    )
                )
        return findings


RULE = SenderIdentity
