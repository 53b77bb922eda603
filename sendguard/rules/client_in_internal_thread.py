"""client-in-internal-thread: a reply in a thread that was internal so far now goes outside.

Replying to all on an internal thread and adding (or autocompleting) a client exposes the whole
quoted discussion. A thread is "internal so far" when the history knows it — by the messages
this one replies to (In-Reply-To/References) or, for mail programs that do not thread, by its
subject without Re:/AW: — and every known message of it stayed inside the organization.
Someone outside who already took part in the thread is not news and is not reported.
"""

from __future__ import annotations

from sendguard.greetings import is_reply, subject_key
from sendguard.history.fit import message_view, silenced
from sendguard.model import Finding, Severity
from sendguard.rules import Rule

MIN_SUBJECT_MESSAGES = 2


class ClientInInternalThread(Rule):
    id = "client-in-internal-thread"
    description = "An outside recipient in a reply to a thread that was internal so far."

    def check(self, message, context):  # type: ignore[no-untyped-def]
        store = context.history
        if store is None or not context.config.organization.domains:
            return []
        outside = [a for a in context.outside_recipients if not silenced(context, a, self.id)]
        if not outside:
            return []
        view = message_view(message, context)
        known = store.known_messages(view.refs)
        if known:
            if any(o for _, o in known):
                return []
            how = f"the {len(known)} earlier message(s) it replies to stayed inside the organization"
        elif is_reply(message.subject) or view.refs:
            total, with_outside = store.subject_counts(subject_key(message.subject))
            if total < MIN_SUBJECT_MESSAGES or with_outside:
                return []
            how = f"all {total} earlier messages about \"{subject_key(message.subject)}\" stayed inside the organization"
        else:
            return []
        before = store.thread_participants(view.refs) if known else set()
        return [Finding(self.id, Severity.WARN, f"This thread was internal so far ({how}); now {addr} is on it.",
                        recipient=addr, evidence=message.subject) for addr in outside if addr not in before]


RULE = ClientInInternalThread
