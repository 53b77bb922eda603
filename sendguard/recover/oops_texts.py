"""The words of ``sendguard oops``'s drafts, per language (German and English).

Honest on purpose: nothing here says the message was recalled or will be; sendguard cannot
recall mail. The unintended recipient is asked to delete it unread and to confirm; the
intended recipient and the manager are told plainly what happened.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("de", "en")

TEXTS: dict[str, dict[str, Any]] = {
    "de": {
        "unintended_subject": "Versehentlich an Sie gesendet: {subject}",
        "unintended_body": (
            "Guten Tag,\n\n"
            "die Nachricht „{subject}“, die Sie am {sent} von mir erhalten haben, war nicht für Sie "
            "bestimmt; sie ist versehentlich an Sie gegangen.\n\n"
            "Bitte löschen Sie die Nachricht{attachments} ungelesen, auch aus dem Papierkorb, und leiten "
            "Sie sie nicht weiter. Bitte bestätigen Sie mir mit einer kurzen Antwort, dass Sie sie "
            "gelöscht haben.\n\n"
            "Entschuldigen Sie bitte die Störung, und vielen Dank für Ihre Hilfe.\n\n"
            "Mit freundlichen Grüßen\n{name}\n"
        ),
        "with_attachments": " und ihre Anhänge",
        "intended_subject": "Fehlversand: {subject}",
        "intended_body": (
            "Guten Tag,\n\n"
            "die Nachricht „{subject}“ vom {sent}, die für Sie bestimmt war, ist versehentlich auch an "
            "{wrong} gegangen.\n\n"
            "Eine gesendete E-Mail lässt sich nicht zurückholen. Ich habe den Empfänger gebeten, sie "
            "ungelesen zu löschen und mir das zu bestätigen, und melde mich, sobald ich Antwort habe.\n\n"
            "Es tut mir leid.\n\n"
            "Mit freundlichen Grüßen\n{name}\n"
        ),
        "manager_subject": "Fehlversand gemeldet: {subject}",
        "manager_body": (
            "Hallo,\n\n"
            "ich habe am {sent} die Nachricht „{subject}“ versehentlich an {wrong} geschickt"
            "{intended}.\n\n"
            "{facts}\n\n"
            "Eine gesendete E-Mail lässt sich nicht zurückholen. Ich habe den Empfänger gebeten, sie "
            "ungelesen zu löschen und das zu bestätigen.\n\n"
            "Bemerkt: {noticed}. Falls personenbezogene Daten betroffen sind, ist nach Art. 33 DSGVO "
            "die Meldung an die Aufsichtsbehörde binnen 72 Stunden zu prüfen: bis {deadline}.\n\n"
            "Viele Grüße\n{name}\n"
        ),
        "intended_clause": " (gemeint war {intended})",
        "facts": {
            "subject": "Betreff",
            "sent": "Gesendet",
            "unintended": "Falsch an",
            "attachment": "Anhang",
            "found": "Gefunden",
            "bytes": "Bytes",
            "none": "keine",
            "record": "Eintrag für das Verzeichnis der Datenschutzverletzungen: sendguard oops --json {id}",
        },
    },
    "en": {
        "unintended_subject": "Sent to you by mistake: {subject}",
        "unintended_body": (
            "Hello,\n\n"
            'the message "{subject}" you received from me on {sent} was not meant for you; it '
            "reached you by mistake.\n\n"
            "Please delete it{attachments} without reading it, also from your deleted items, and do "
            "not forward it. Please reply briefly to confirm that you have deleted it.\n\n"
            "I apologise for the trouble, and thank you for your help.\n\n"
            "Kind regards\n{name}\n"
        ),
        "with_attachments": " and its attachments",
        "intended_subject": "Misdirected: {subject}",
        "intended_body": (
            "Hello,\n\n"
            'the message "{subject}" of {sent}, meant for you, also went to {wrong} by mistake.\n\n'
            "A sent e-mail cannot be recalled. I have asked the recipient to delete it unread and "
            "to confirm that, and I will let you know when I hear back.\n\n"
            "I am sorry.\n\n"
            "Kind regards\n{name}\n"
        ),
        "manager_subject": "Misdirected e-mail reported: {subject}",
        "manager_body": (
            "Hello,\n\n"
            'on {sent} I sent the message "{subject}" to {wrong} by mistake{intended}.\n\n'
            "{facts}\n\n"
            "A sent e-mail cannot be recalled. I have asked the recipient to delete it unread and "
            "to confirm that.\n\n"
            "Noticed: {noticed}. If personal data is involved, notifying the supervisory authority "
            "under GDPR art. 33 must be considered within 72 hours: by {deadline}.\n\n"
            "Best regards\n{name}\n"
        ),
        "intended_clause": " (it was meant for {intended})",
        "facts": {
            "subject": "Subject",
            "sent": "Sent",
            "unintended": "Wrongly to",
            "attachment": "Attachment",
            "found": "Found",
            "bytes": "bytes",
            "none": "none",
            "record": "Record for the breach register: sendguard oops --json {id}",
        },
    },
}

# Words frequent in one language and rare in the other: enough to tell a mail's language.
MARKERS: dict[str, frozenset[str]] = {
    "de": frozenset(
        "und der die das ist nicht mit für ich sie wir bitte sehr geehrte geehrter hallo "
        "grüße gruß vielen dank ein eine zu auf den dem im anbei ihnen ihre unsere freundlichen "
        "liebe lieber guten tag viele".split()
    ),
    "en": frozenset(
        "the and is not with for you we please dear regards hello hi thanks thank a an to on "
        "attached your our of best kind this that".split()
    ),
}


def language_of(text: str, declared: str = "") -> str:
    """``de`` or ``en``: the Content-Language if it names one, else the words of the text."""
    declared = declared.strip().lower()[:2]
    if declared in LANGUAGES:
        return declared
    words = [w.strip(".,;:!?()\"'„“”") for w in text.lower().split()]
    scores = {lang: sum(w in markers for w in words) for lang, markers in MARKERS.items()}
    if any(ch in text for ch in "äöüß"):
        scores["de"] += 2
    return "de" if scores["de"] > scores["en"] else "en"
