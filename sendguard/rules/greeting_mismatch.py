"""greeting-mismatch: the salutation greets someone who is not a recipient — and whom you know.

"Hallo Anna," to Sabine Ott: the text was written for someone else. The greeting is read from
the author's own text only (quoted and forwarded greetings never count; see greetings.py), group
greetings ("Hi all", "Hallo zusammen") name nobody, and short forms match full names ("Bill" is
William). A name that matches no contact says nothing (it may be a nickname we cannot know), so
the finding needs a contact of that name, who becomes the suggestion.

A recipient whose first name the history and the message do not tell ("info@", "a.meier@"
with no display name) may well be the person greeted: then nothing is said.

WARN on its own; HOLD when the greeted contact also fits the rest of the message clearly better
than the recipient (a greeting *and* a topic pointing elsewhere is conclusive).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendguard.history.fit import W_GREETING, model_for
from sendguard.history.names import contact_names
from sendguard.mail.greetings import name_keys
from sendguard.model import Finding, Severity
from sendguard.rules import Rule
from sendguard.rules.context import silenced

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext

TOPIC_MARGIN = 3.0


class GreetingMismatch(Rule):
    id = "greeting-mismatch"
    description = "The greeting names a known contact who is not among the recipients."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        model = model_for(message, context)
        if model is None or model.view.greeting is None or not model.view.recipients:
            return []
        greeting = model.view.greeting
        store = model.store
        wanted = set(greeting.names)
        display = {a.addr: a.name for a in message.header_recipients}
        for addr in model.view.recipients:
            contact = store.contact(addr)
            first, last = contact_names(display.get(addr, ""), addr)
            forms = {first, last} | name_keys(display.get(addr, "").split(" ")[0] if display.get(addr) else "")
            if contact is not None:
                forms |= store.first_names_of(contact) | {contact.last}
            if wanted & forms:
                return []  # the greeting names a recipient
            if any(len(n) >= 3 and addr.partition("@")[0].startswith(n) for n in wanted):
                return []
            known_first = contact.first if contact is not None and len(contact.first) > len(first) else first
            if len(known_first) < 2 and (not known_first or known_first in {n[:1] for n in store.full_forms(wanted)}):
                return []  # "info@" or "a.meier@" (or "w.brown@" greeted "Bill"): this may be the greeted one
        if greeting.by_last_name:
            candidates = [c for n in wanted for c in store.by_last(n, limit=10)]
        else:
            candidates = store.by_first(wanted, limit=10)
        candidates = [c for c in candidates if c.sent > 0 and not context.is_own(c.addr)]
        if not candidates:
            return []
        recipients = model.view.recipients
        if any(self._maybe_same_person(store, a, display.get(a, ""), candidates) for a in recipients):
            return []
        target = next((a for a in recipients if not silenced(context, a, self.id)), None)
        if target is None:
            return []
        actual = store.contact(target)
        fits = model.fits(candidates + ([actual] if actual else []), [a for a in recipients if a != target])
        best = max(candidates, key=lambda c: (fits[c.id].total, c.sent))
        margin = fits[best.id].total - fits[best.id].greeting * W_GREETING - (fits[actual.id].total if actual else 0.0)
        severity = Severity.HOLD if margin >= TOPIC_MARGIN else Severity.WARN
        return [
            Finding(
                self.id,
                severity,
                f'The greeting "{greeting.line}" does not fit {target}, but fits your contact {best.addr}.',
                recipient=target,
                suggestion=best.addr,
                evidence=greeting.line,
            )
        ]

    @staticmethod
    def _maybe_same_person(store, addr, display, candidates) -> bool:  # type: ignore[no-untyped-def]
        """A recipient known only by initial and last name ("l..gay@") may be the greeted person."""
        contact = store.contact(addr)
        first, last = (contact.first, contact.last) if contact else contact_names(display, addr)
        return len(first) <= 1 and bool(last) and any(c.last == last for c in candidates)


RULE = GreetingMismatch
