"""audience-size: many outside recipients who can all see each other's addresses.

Exposing a client list to itself is a data leak of its own. Counting only visible (To/Cc)
outside addresses: Bcc exists for exactly this, and internal colleagues seeing each other is
normal. A warning at ``threshold``; a hold at twice that. Not when a mailing list the user
receives mail through is among them: the list shows every To and Cc address to its readers and
its archive anyway, and a patch series Cc'd to its maintainers is how such lists work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendguard.model import Finding, Severity
from sendguard.rules import Rule

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext


class AudienceSize(Rule):
    id = "audience-size"
    description = "Many outside recipients visible to each other in To/Cc: suggest Bcc."
    options = {"threshold": (int, 10, "Visible outside recipients from which to warn (hold at twice as many).")}

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        threshold = context.config.rule_option(self.id, "threshold")
        visible = {a.addr for a in message.addresses("To", "Cc")}
        outside = sorted(a for a in visible if not context.is_internal(a) and not context.is_own(a))
        domains = {a.rpartition("@")[2] for a in outside}
        if len(outside) < threshold or len(domains) < 2:
            return []
        history = context.history
        if history is not None and history.lists(visible):
            return []
        severity = Severity.HOLD if len(outside) >= 2 * threshold else Severity.WARN
        return [
            Finding(
                self.id,
                severity,
                f"{len(outside)} outside addresses from {len(domains)} domains can all see each other; "
                "put them in Bcc.",
                evidence=", ".join(outside[:5]) + (" ..." if len(outside) > 5 else ""),
            )
        ]


RULE = AudienceSize
