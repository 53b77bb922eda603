"""forgotten-attachment: the text says something is attached, and nothing is.

Only the sender's own words count (content.own_text: no quoted lines, no forwarded or
replied-to message, no signature), so "see attachment" in a quoted mail never holds a reply.
Git patches are skipped: "the attached patch" is the inline diff itself.

The phrases are the ones people write when they attach something, per language; single words
that also mean other things ("attached to the bus", Spanish "anexo" as annex) only count in
phrases. Finding one is conclusive enough to hold (the scenario of record: "anbei das Angebot"
with no Angebot) — sending it again after adding the file, or confirming, costs a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sendguard.mail.content import LazyPattern, looks_like_patch, own_text, reading
from sendguard.model import Finding, Severity
from sendguard.rules import Rule

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext

_PHRASES = [
    # English
    r"(?:please\s+)?find\s+(?:\w+\s+){0,3}(?:attached|enclosed)",
    r"see\s+(?:the\s+)?(?:attached|attachment|enclosed)",
    r"(?:i|we)(?:'ve|\s+have)?\s+(?:also\s+)?attached",
    r"(?:i|we)\s+(?:am\s+|are\s+)?attach(?:ing)?\s",
    r"(?:is|are)\s+attached(?!\s+to\b)",
    r"attached\s+(?:is|are|please|you\s+(?:will|'ll)\s+find|herewith)",
    r"in\s+the\s+attachments?\b",
    (
        r"attached\s+(?:file|document|pdf|spreadsheet|report|invoice|offer|quote|"
        r"proposal|cv|resume|photo|picture|screenshot|image|slides|presentation|contract|draft|copy|list)s?\b"
    ),
    r"the\s+attached\s+\w+\s+(?:shows|contains|has|lists)",
    r"enclosed\s+(?:please\s+find|is|are)",
    # German
    r"anbei",
    r"im\s+anhang",
    r"in\s+der\s+anlage",
    r"als\s+(?:anhang|anlage)",
    r"siehe\s+(?:anhang|anlage)",
    r"angeh[äa]ngt",
    r"beigef[üu]gt",
    r"anliegend",
    r"h[äa]nge\s+(?:ich\s+)?(?:dir|ihnen|euch)\s+\w+\s+\w+\s+an\b",
    # French
    r"ci-joint(?:e|s|es)?",
    r"ci\s+joint(?:e|s|es)?",
    r"en\s+pi[èe]ces?\s+jointes?",
    r"je\s+(?:vous\s+|te\s+)?joins",
    # Spanish / Portuguese / Italian
    r"(?:te|le|les|os)\s+adjunto",
    r"adjunto\s+(?:el|la|los|las|te|le|encontrar[aá]s?)",
    r"(?:archivo|documento)\s+adjunto",
    r"en\s+(?:el\s+)?adjunto",
    r"(?:va|van|env[ií]o)\s+adjunt[oa]s?",
    r"em\s+anexo",
    r"segue\s+(?:em\s+)?anexo",
    r"in\s+allegato",
    r"(?:ti|vi|le)\s+allego",
    r"allego\b",
    # Dutch
    r"bijgevoegd",
    r"in\s+de\s+bijlage",
    r"als\s+bijlage",
    r"zie\s+bijlage",
    # Russian / Polish / Scandinavian
    r"во\s+вложении",
    r"в\s+приложении",
    r"прилагаю",
    r"прикрепля[юе]",
    r"вложени[ея]\s+(?:к\s+)?письм",
    r"w\s+za[łl][ąa]czniku",
    r"za[łl][ąa]czam",
    r"bifogad",
    r"bifogar",
    r"vedh[æa]ftet",
    r"vedlagt",
]
# Matched against lower-cased text with \b anchors: several times faster than re.I with
# look-behinds (re loses its first-character prefilter behind a look-behind).
PHRASE = LazyPattern(r"\b(?:" + "|".join(_PHRASES) + r")\b")
# Every phrase above contains one of these (lower-cased) where a word starts, as PHRASE's \b
# implies: so "change" ("hange", German "hänge") and English "join" (French "je joins") don't
# pass. Most mail has none: it is done with in a few substring searches, without own_text and
# without PHRASE (1.6 ms to compile, ~0.7 ms per 10 kB to run). A new phrase needs its cue here;
# tests/unit/test_rules_content_prefilters.py checks every phrase.
CUES = (
    "attach",
    "enclos",
    "anbei",
    "anhang",
    "anlage",
    "angeh",
    "beigef",
    "anliegend",
    "hänge",
    "hange",
    "join",
    "adjunt",
    "anexo",
    "alleg",
    "bijgevoegd",
    "bijlage",
    "вложени",
    "приложени",
    "прилагаю",
    "прикрепля",
    "załącz",
    "załacz",
    "zalącz",
    "zalacz",
    "bifoga",
    "vedhæft",
    "vedhaft",
    "vedlagt",
)
# The sender's own words are at the top; a megabyte of pasted log is not where "anbei" hides.
OWN_TEXT_CHARS = 100_000


class ForgottenAttachment(Rule):
    id = "forgotten-attachment"
    description = "The text says something is attached, and nothing is."

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        if message.attachments or any(p.forwarded or p.content_type.startswith("message/") for p in message.parts):
            return []  # a forwarded message is an attachment too
        body = message.body_text
        # own_text keeps whole lines of the body, so a cue at a word start in it is one in the body
        # (asked first: most mail has none, and the patch's cues are then asked of its runs)
        if not reading(context, body[:OWN_TEXT_CHARS]).any_word_start(CUES):
            return []
        if looks_like_patch(body, message.subject, reading(context, body)):
            return []
        match = PHRASE.search(own_text(body[:OWN_TEXT_CHARS]).lower())
        if not match:
            return []
        phrase = " ".join(match.group(0).split())
        return [
            Finding(
                self.id,
                Severity.HOLD,
                f'The text says something is attached ("{phrase}"), but the message has no attachment.',
                evidence=phrase,
            )
        ]


RULE = ForgottenAttachment
