"""namesake: the recipient has a confusable twin whom this message fits clearly better.

The autocomplete mistake: "Markus" completes to the client Markus Brandt instead of the boss
Markus Berger. Each recipient's confusable contacts (history.twins) are compared by how well they
fit this message (history.fit); only a twin that fits *clearly* better is reported, with its
address as the suggestion. Also a one-letter typo of a regular contact, and a dormant recipient
nothing in the message relates to. When each of these holds: ARCHITECTURE.md, "namesake".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sendguard.history.fit import Fit, model_for
from sendguard.history.judgement import (
    LARGE_AUDIENCE,
    MIN_CONTENT_MARGIN,
    NO_MARGIN,
    compare,
    judgement_of,
    known_twins,
)
from sendguard.history.replies import is_person, misaddressed_reply, stale_address
from sendguard.history.store import prefix_of
from sendguard.history.twins import edit_distance
from sendguard.mail.greetings import is_reply
from sendguard.model import Finding, Severity
from sendguard.rules import Rule
from sendguard.rules.context import silenced

if TYPE_CHECKING:
    from sendguard.history.fit import FitModel
    from sendguard.history.store import Contact, HistoryStore
    from sendguard.mail.message import OutgoingMessage
    from sendguard.mail.quoted import Person
    from sendguard.rules.context import CheckContext

DORMANT_SENT = 1
LARGEST = "namesake.largest"
"""Key in the check's scratch space: the largest twin margin seen in the message (NO_MARGIN: none)."""


def swapped_letters(a: str, b: str) -> bool:
    """``b`` is ``a`` with two neighbouring letters swapped."""
    if len(a) != len(b):
        return False
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def reasons(twin: Fit, actual: Fit | None) -> str:
    said = []
    if twin.greeting and not (actual and actual.greeting):
        said.append("the greeting")
    if twin.quoted > (actual.quoted if actual else 0):
        said.append("the quoted message")
    if twin.co > (actual.co if actual else 0) + 0.5:
        said.append("the other recipients")
    if twin.words > (actual.words if actual else 0) + 0.5:
        said.append("the topic")
    if twin.thread and not (actual and actual.thread):
        said.append("the thread")
    if twin.org > (actual.org if actual else 0):
        said.append("the organization of the other recipients")
    if twin.topic_org > (actual.topic_org if actual else 0):
        said.append("a topic you keep inside the organization")
    if twin.mention > (actual.mention if actual else 0) + 0.25:  # more than half a name: not a long quoted list
        said.append("the names in the text")
    if twin.age + 1 < (actual.age if actual else 0):
        said.append("whom you were in touch with recently")
    return ", ".join(said) or "the history"


class Namesake(Rule):
    id = "namesake"
    description = "A recipient whose near namesake fits the message much better (the autocomplete mistake)."
    options = {
        "warn_margin": (
            float,
            0.75,
            "How much better the twin must fit to warn, until the judgement is fitted to your mail "
            "(then the fitted hold margin less the difference of these two).",
        ),
        "hold_margin": (
            float,
            1.0,
            "How much better the twin must fit to hold on its own; the judgement fitted to your mail "
            "may raise it to meet [judgement] false_holds, never lower it.",
        ),
        "dormant_days": (
            float,
            90.0,
            "Hold mail to a contact written to once or twice, never heard from, "
            "not for this many days, when nothing in the message relates to them "
            "(0 turns this off).",
        ),
    }

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        model = model_for(message, context)
        if model is None:
            return []
        store = model.store
        judgement = judgement_of(
            store,
            context.config.rule_option(self.id, "hold_margin"),
            context.config.rule_option(self.id, "warn_margin"),
        )
        recipients = model.view.recipients
        names = {a.addr: a.name for a in message.header_recipients}
        findings = []
        for addr in recipients:
            if silenced(context, addr, self.id):
                continue
            twins = known_twins(store, addr, names.get(addr, ""), recipients, context.is_own)
            actual = store.contact(addr)
            if not twins:
                findings += self._dormant(model, context, addr, actual, recipients)
                continue
            typo = self._typo(addr, actual, twins)
            if actual is None or not (actual.sent or actual.received):
                # Someone the user never wrote to nor heard from fits nothing yet, so every known
                # namesake would "fit better": only a near-identical address to a regular contact
                # is suspicious here. Someone only heard from is compared like any contact.
                if typo is not None:
                    findings.append(
                        Finding(
                            self.id,
                            Severity.WARN,
                            f"{addr} is new, and a typo away from {typo}, whom you write to regularly.",
                            recipient=addr,
                            suggestion=typo,
                            kind="typo",
                        )
                    )
                continue
            base, fits, compared = compare(model, actual, twins, recipients)
            margin, best, best_why = max(compared, key=lambda c: c[0])
            # the largest margin of the message, for the learn-time simulation (decide.train)
            context.cache[LARGEST] = max(context.cache.get(LARGEST, NO_MARGIN), margin)
            crossing = self._crossing(model, base, fits, twins)
            if margin < judgement.warn:
                findings += [crossing] if crossing else self._dormant(model, context, addr, actual, recipients, base)
                continue
            severity = Severity.HOLD if margin >= judgement.hold else Severity.WARN
            twin = best.contact
            findings.append(
                Finding(
                    self.id,
                    severity,
                    f"{addr} may be the wrong person: {twin.addr} ({best_why}) fits this message better "
                    f"({reasons(best, base)}).",
                    recipient=addr,
                    suggestion=twin.addr,
                    evidence=f"fit margin {margin:.1f} (holds from {judgement.hold:.1f})",
                    kind="margin",
                )
            )
        flagged = {f.recipient for f in findings if f.severity >= Severity.HOLD}
        findings = [f for f in findings if f.recipient not in flagged or f.severity >= Severity.HOLD]
        findings += [f for f in self._reply(message, context, model) if f.recipient not in flagged]
        return findings

    def _crossing(
        self, model: FitModel, base: Fit, fits: dict[int, Fit], twins: list[tuple[Contact, Any]]
    ) -> Finding | None:
        """An outside recipient, an internal namesake, and a topic that so far stayed inside.

        The mistake that leaks: the note meant for a colleague goes to the client of the same
        name, alone, so no co-recipient tells them apart. When the message's topic is one the
        user keeps inside the organization and an internal twin fits what the message says
        better, that is a warning; internal-to-outside says the same from the content's side,
        and the two together hold. Not for forwards: a forward goes to someone new by design.
        """
        if model.view.forward or not model.internal_topic or model.org_of(base.contact.addr) == "internal":
            return None
        inside = [
            fits[c.id]
            for c, _ in twins
            if model.org_of(c.addr) == "internal" and fits[c.id].content_margin_over(base) >= MIN_CONTENT_MARGIN
        ]
        if not inside:
            return None
        twin = max(inside, key=lambda f: f.content_margin_over(base))
        addr = base.contact.addr
        return Finding(
            self.id,
            Severity.WARN,
            f"{addr} may be the wrong person: {twin.contact.addr}, inside the organization, fits this message "
            f"better ({reasons(twin, base)}).",
            recipient=addr,
            suggestion=twin.contact.addr,
            evidence=f"fit margin {twin.content_margin_over(base):.1f}",
            kind="crossing",
        )

    def _reply(self, message: OutgoingMessage, context: CheckContext, model: FitModel) -> list[Finding]:
        """A reply that quotes one person and goes to a namesake of theirs (history.replies)."""
        if not is_reply(message.subject) or model.view.forward:
            return []  # a forward goes to someone other than the author by design
        store, quoted = model.store, model.view.quoted
        names = {a.addr: a.name for a in message.header_recipients}
        recipients = [(a, names.get(a, "")) for a in model.view.recipients]
        first_names = {a: store.first_names_of(c) for a, c in ((a, store.contact(a)) for a, _ in recipients) if c}
        hits = misaddressed_reply(recipients, quoted, first_names)
        stale = stale_address(recipients, quoted, first_names)
        if stale is not None:
            addr, author_addr = stale
            return [
                Finding(
                    self.id,
                    Severity.HOLD,
                    f"This replies to mail from {author_addr}, but goes to {addr}, an address of the same person "
                    "at another organization (an old address from autocomplete?).",
                    recipient=addr,
                    suggestion=author_addr,
                    evidence=f"quoted author: {author_addr}",
                    kind="reply",
                )
            ]
        if not hits:
            return []
        author = quoted.author
        meant = quoted.author_addr or self._known_as(store, author)
        who = f"{author.first.title()} {author.last.title()}".strip() if author else quoted.author_addr
        return [
            Finding(
                self.id,
                Severity.HOLD,
                f"This replies to {who}, but goes to {addr} ({why}), who did not write the quoted message.",
                recipient=addr,
                suggestion=meant or None,
                evidence=f"quoted author: {who}",
                kind="reply",
            )
            for addr, why in hits
            if not silenced(context, addr, self.id)
        ]

    def _dormant(
        self,
        model: FitModel,
        context: CheckContext,
        addr: str,
        actual: Contact | None,
        recipients: list[str],
        fit: Fit | None = None,
    ) -> list[Finding]:
        """A stale contact nothing in the message points to: the old autocomplete entry."""
        days = context.config.rule_option(self.id, "dormant_days")
        if days <= 0 or actual is None or len(recipients) > LARGE_AUDIENCE or not model.when:
            return []
        if not 0 < actual.sent <= DORMANT_SENT or actual.received or not actual.last_sent:
            return []
        if len(actual.last) < 2:
            return []  # no last name: a role address (support@, info@), written to once per issue
        idle = (model.when - actual.last_sent) / 86400
        if idle < days:
            return []
        if fit is None:
            fit = model.fits([actual], [a for a in recipients if a != addr])[actual.id]
        if fit.co or fit.words or fit.greeting or fit.thread or fit.quoted or fit.mention:
            return []
        prefix = prefix_of(addr)
        meant = sorted(a for a in model.view.quoted.addresses if prefix_of(a) == prefix and a not in recipients)
        times = "once" if actual.sent == 1 else "twice"
        return [
            Finding(
                self.id,
                Severity.HOLD,
                f"You wrote to {addr} only {times}, {idle / 30.4:.0f} months ago, have never heard from them, and "
                "nothing in this message relates to them: did autocomplete pick an old contact?",
                recipient=addr,
                suggestion=meant[0] if meant else None,
                evidence=f"dormant {idle:.0f} days",
                kind="dormant",
            )
        ]

    @staticmethod
    def _known_as(store: HistoryStore, author: Person | None) -> str:
        """The history's address for a quoted author, if exactly one contact matches well."""
        if author is None or not author.last:
            return ""
        found = [
            c
            for c in store.by_last(author.last, limit=20)
            if is_person(c.addr, c.name, author, store.first_names_of(c))
        ]
        return max(found, key=lambda c: (c.sent, c.seen)).addr if found else ""

    @staticmethod
    def _typo(addr: str, actual: Contact | None, twins: list[tuple[Contact, Any]]) -> str | None:
        if actual is not None and actual.sent > 0:
            return None
        for contact, _ in twins:
            if contact.sent >= 2 and (edit_distance(contact.addr, addr, 1) <= 1 or swapped_letters(contact.addr, addr)):
                return contact.addr
        return None


RULE = Namesake
