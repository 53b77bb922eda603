"""internal-to-outside: internal-only content addressed to someone outside the organization.

Two kinds of evidence, either enough for a warning (never a hold on its own: outside mail is
routine):

* a marker in the author's own text (not in the signature or a legal notice) — "vertraulich", "intern", "nicht weiterleiten",
  "confidential", "internal only", "do not forward" and their French, Spanish, Dutch and
  Russian equivalents (quoted text and disclaimers of forwarded mail are not the author's);
* a topic the user discusses only internally: among the message's words, several that the
  history has seen repeatedly in internal-only mail and never in mail with an outside
  participant, making up a good part of what the history knows of the message. To someone
  the user never wrote to, that is information only (see ``_severity``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from sendguard.history.fit import model_for
from sendguard.mail.content import Reading, reading
from sendguard.mail.greetings import own_text
from sendguard.model import Finding, Severity
from sendguard.rules import Rule
from sendguard.rules.context import silenced

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext

MARKERS = (
    r"vertraulich\w*",
    r"streng vertraulich",
    r"nur intern",
    r"interne? (?:info|information|angelegenheit)",
    # bare "intern" is also the English trainee ("our intern joins the call"): only its German uses
    r"(?:streng|rein|strikt|absolut|bitte) intern",
    r"(?:bleibt|bleiben|ist|sind)(?: bitte| streng| rein| vorerst)? intern",
    r"intern (?:halten|behandeln)",
    r"\[intern\]",
    r"nicht weiter(?:leiten|geben)",
    r"unter uns",
    r"nur für den internen gebrauch",
    r"confidential",
    r"internal only",
    r"internal use only",
    r"for internal use",
    r"do not forward",
    r"don't forward",
    r"not for distribution",
    r"strictly private",
    r"confidentiel(?:le)?",
    r"usage interne",
    r"ne pas (?:diffuser|transférer)",
    r"confidencial",
    r"solo uso interno",
    r"no reenviar",
    r"no difundir",
    r"vertrouwelijk",
    r"alleen intern",
    r"niet doorsturen",
    r"конфиденциально",
    r"только для внутреннего",
    r"не пересылать",
    r"для служебного пользования",
)


# Every marker contains one of these once folded (content.fold; a test checks each marker). Most
# mail has none, and is done with in a few substring searches: the case-insensitive alternation
# behind a look-behind tries every position of the text (~1 ms over 10 kB). Whole phrases where a
# marker's word is everyday English ("look forward", "confident", "a private", "distribution list").
MARKER_CUES = (
    "vertraulich",
    "intern",
    "weiter",
    "unter uns",
    "confidential",
    "confidentiel",
    "confidencial",
    "not forward",
    "n't forward",
    "for distribution",
    "strictly private",
    "ne pas diffuser",
    "ne pas transf",
    "reenviar",
    "difundir",
    "vertrouwelijk",
    "doorsturen",
    "конфиденциально",
    "внутреннего",
    "пересылать",
    "служебного",
)


@lru_cache(maxsize=1)
def _marker_re() -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + "|".join(MARKERS) + r")(?!\w)", re.IGNORECASE)


def find_marker(text: str, within: tuple[Reading, ...] = ()) -> re.Match[str] | None:
    """The first confidentiality marker in ``text`` (each line of it within one of ``within``'s texts)."""
    if not Reading(text, within=within).any_folded(MARKER_CUES):
        return None
    return _marker_re().search(text)


# Words of the legal notices many signatures carry ("This e-mail is confidential and intended
# only for ..."): such a notice is on every mail, internal or not, and says nothing about this one.
BOILERPLATE = (
    "intended recipient",
    "intended solely",
    "received this",
    "disclaimer",
    "privileged",
    "notice",
    "hinweis",
    "irrtümlich",
    "empfänger",
    "destinataire",
    "destinatario",
    "geadresseerde",
    "адресат",
)


def without_boilerplate(text: str, within: tuple[Reading, ...] = ()) -> str:
    """The text before the signature ("-- "), without paragraphs that read like a legal notice
    (each line of ``text`` within one of ``within``'s texts)."""
    body = text.split("\n-- \n", 1)[0]
    read = Reading(body, within=within)
    # a word not in the text is in no paragraph (a test checks no word holds a sigma)
    words = read.which_lowered(BOILERPLATE)
    if not words:
        return body
    paragraphs = body.split("\n\n")
    # lower-casing maps "\n" to itself alone: the lower-cased paragraphs are those of the lower-cased text
    lowered = read.whole_lowered.split("\n\n")
    return "\n\n".join(p for p, low in zip(paragraphs, lowered, strict=True) if not any(w in low for w in words))


def internal_topic(message, context) -> list[str]:  # type: ignore[no-untyped-def]
    """The message's words the user has only ever used inside the organization (history.fit)."""
    model = model_for(message, context)
    return [] if model is None else model.internal_topic


class InternalToOutside(Rule):
    id = "internal-to-outside"
    description = "Confidentiality markers or an internal-only topic in mail to someone outside the organization."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        if not context.config.organization.domains:
            return []
        outside = [a for a in context.outside_recipients if not silenced(context, a, self.id)]
        if not outside:
            return []
        body = message.body_text
        within = (reading(context, message.subject), reading(context, body))
        marker = None
        # the text read is cut from the subject's and the body's lines: without a cue in them,
        # there is no marker to find in it (and no own text to cut)
        if any(read.any_folded(MARKER_CUES) for read in within):
            text = message.subject + "\n" + without_boilerplate(own_text(body, 20_000), within[1:])
            marker = find_marker(text, within)
        if marker:
            why, evidence = f'it says "{marker.group(0)}"', marker.group(0)
        else:
            topic = internal_topic(message, context)
            if not topic:
                return []
            why, evidence = "its topic has so far stayed inside the organization", ", ".join(topic[:6])
        return [
            Finding(
                self.id,
                self._severity(context, addr, bool(marker)),
                f"This looks internal ({why}), but {addr} is outside the organization.",
                recipient=addr,
                evidence=evidence,
            )
            for addr in outside
        ]

    @staticmethod
    def _severity(context, addr: str, marked: bool) -> Severity:  # type: ignore[no-untyped-def]
        """A topic alone only warns about someone the user writes to.

        Writing to someone new about one's own work is how new contacts start; with the
        first-time-recipient information a warning would hold exactly that routine mail.
        """
        if marked:
            return Severity.WARN
        contact = context.history.contact(addr) if context.history is not None else None
        return Severity.WARN if contact is not None and contact.sent > 0 else Severity.INFO


RULE = InternalToOutside
