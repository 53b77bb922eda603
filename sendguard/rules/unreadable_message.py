"""unreadable-message: the message could not be read fully, so the checks are incomplete.

Fail closed: what was not read was not checked, and a mail whose content is unknown is held
rather than waved through. Parsing itself never raises (message.py records problems).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendguard.model import Finding, Severity
from sendguard.rules import Rule

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext


class UnreadableMessage(Rule):
    id = "unreadable-message"
    description = "Malformed or oversized structure that could not be checked fully."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        # walking the tree and reading the recipients record the problems
        message.parts  # noqa: B018
        message.header_recipients  # noqa: B018
        message.sendmail_recipients  # noqa: B018
        if not message.problems:
            return []
        return [
            Finding(
                self.id,
                Severity.HOLD,
                "The message could not be read fully, so it was not checked fully: "
                + "; ".join(dict.fromkeys(message.problems))
                + ".",
                evidence=message.problems[0],
            )
        ]


RULE = UnreadableMessage
