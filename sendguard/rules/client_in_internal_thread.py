"""client-in-internal-thread: a reply in a thread that was internal so far now goes outside.

Replying to all on an internal thread and adding (or autocompleting) a client exposes the whole
quoted discussion. A thread is "internal so far" when the history knows it — by the messages
this one replies to (In-Reply-To/References) or, for mail programs that do not thread, by its
subject without Re:/AW: — and every known message of it stayed inside the organization.
Someone outside who already took part in the thread is not news and is not reported. A
subject must name one thread (two words or more) to count; see ``_severity`` for people new
to the user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendguard.history.fit import message_view
from sendguard.mail.greetings import is_reply, names_one_thread, subject_key
from sendguard.model import Finding, Severity
from sendguard.rules import Rule
from sendguard.rules.context import silenced

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext

MIN_SUBJECT_MESSAGES = 2


class ClientInInternalThread(Rule):
    id = "client-in-internal-thread"
    description = "An outside recipient in a reply to a thread that was internal so far."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        store = context.history
        if store is None or not context.config.organization.domains:
            return []
        outside = [a for a in context.outside_recipients if not silenced(context, a, self.id)]
        if not outside:
            return []
        view = message_view(message, context)
        known = store.known_messages(view.refs)
        key = subject_key(message.subject)
        if known:
            if any(o for _, o in known):
                return []
            how = f"the {len(known)} earlier message(s) it replies to stayed inside the organization"
            before = store.thread_participants(view.refs)
        elif (is_reply(message.subject) or view.refs) and names_one_thread(key):
            total, with_outside = store.subject_counts(key)
            if total < MIN_SUBJECT_MESSAGES or with_outside:
                return []
            how = f'all {total} earlier messages about "{key}" stayed inside the organization'
            before = store.subject_participants(key)
        else:
            return []
        return [
            Finding(
                self.id,
                self._severity(store, addr, bool(known)),
                f"This thread was internal so far ({how}); now {addr} is on it.",
                recipient=addr,
                evidence=message.subject,
            )
            for addr in outside
            if addr not in before
        ]

    @staticmethod
    def _severity(store, addr: str, by_reference: bool) -> Severity:  # type: ignore[no-untyped-def]
        """A thread known only by its subject warns only about people the user writes to.

        "Re: Meeting" from someone new may be a different meeting; with first-time-recipient a
        warning would hold that ordinary first reply.
        """
        if by_reference:
            return Severity.WARN
        contact = store.contact(addr)
        return Severity.WARN if contact is not None and contact.sent > 0 else Severity.INFO


RULE = ClientInInternalThread
