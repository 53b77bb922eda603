"""The words of ``sendguard oops``'s drafts, per language (German and English).

Honest on purpose: nothing here says the message was recalled or will be; sendguard cannot
recall mail, and no draft claims something already happened that only the user's sending the
other drafts will make true. The unintended recipient is asked to delete it unread and to
confirm; the intended recipient gets the message (forwarded) or is told who else got it; the
manager gets the facts.
"""

from __future__ import annotations

from typing import Any

from sendguard.mail.voice import language_of  # noqa: F401 (where the drafts' language is chosen)

LANGUAGES = ("de", "en")

# Per language: each draft's subject and body, in a formal ("Sie") and a familiar ("du") form
# where the language has the distinction. {greeting} and {closing} are the user's own with that
# person (history/ledger.py), {name} the user's name. Every sentence must be true for the case it
# is used in: "intended_missed" when the intended person did not get the message (the draft
# forwards it), "intended_also" when they got it and someone else did too.
TEXTS: dict[str, dict[str, Any]] = {
    "de": {
        "unintended_subject": {
            "formal": "Versehentlich an Sie gesendet: {subject}",
            "familiar": "Versehentlich an dich gesendet: {subject}",
        },
        "unintended_body": {
            "formal": (
                "{greeting}\n\n"
                "meine Nachricht „{subject}“ vom {sent} war nicht für Sie bestimmt; ich habe sie "
                "versehentlich an Sie geschickt.\n\n"
                "Bitte löschen Sie sie{attachments} ungelesen, auch aus dem Papierkorb, und leiten Sie "
                "sie nicht weiter. Bitte bestätigen Sie mir mit einer kurzen Antwort, dass Sie sie "
                "gelöscht haben.\n\n"
                "Entschuldigen Sie bitte die Störung, und vielen Dank für Ihre Hilfe.\n\n"
                "{closing}\n{name}\n"
            ),
            "familiar": (
                "{greeting}\n\n"
                "meine Nachricht „{subject}“ vom {sent} war nicht für dich bestimmt; ich habe sie "
                "versehentlich an dich geschickt.\n\n"
                "Bitte lösche sie{attachments} ungelesen, auch aus dem Papierkorb, und leite sie nicht "
                "weiter. Bitte bestätige mir mit einer kurzen Antwort, dass du sie gelöscht hast.\n\n"
                "Entschuldige bitte die Störung, und vielen Dank für deine Hilfe.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "with_attachments": " samt Anhängen",
        "intended_missed_subject": {"formal": "WG: {subject}", "familiar": "WG: {subject}"},
        "intended_missed_body": {
            "formal": (
                "{greeting}\n\n"
                "die angehängte Nachricht „{subject}“ vom {sent} war für Sie bestimmt. Ich habe sie "
                "versehentlich an {wrong} geschickt statt an Sie.\n\n"
                "Eine gesendete E-Mail lässt sich nicht zurückholen. Ich bitte {wrong} in einer eigenen "
                "Nachricht, sie ungelesen zu löschen und mir das zu bestätigen.\n\n"
                "Es tut mir leid.\n\n"
                "{closing}\n{name}\n"
            ),
            "familiar": (
                "{greeting}\n\n"
                "die angehängte Nachricht „{subject}“ vom {sent} war für dich bestimmt. Ich habe sie "
                "versehentlich an {wrong} geschickt statt an dich.\n\n"
                "Eine gesendete E-Mail lässt sich nicht zurückholen. Ich bitte {wrong} in einer eigenen "
                "Nachricht, sie ungelesen zu löschen und mir das zu bestätigen.\n\n"
                "Es tut mir leid.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "intended_also_subject": {"formal": "Fehlversand: {subject}", "familiar": "Fehlversand: {subject}"},
        "intended_also_body": {
            "formal": (
                "{greeting}\n\n"
                "meine Nachricht „{subject}“ vom {sent} an Sie ist versehentlich auch an {wrong} "
                "gegangen.\n\n"
                "Eine gesendete E-Mail lässt sich nicht zurückholen. Ich bitte {wrong} in einer eigenen "
                "Nachricht, sie ungelesen zu löschen und mir das zu bestätigen.\n\n"
                "Es tut mir leid.\n\n"
                "{closing}\n{name}\n"
            ),
            "familiar": (
                "{greeting}\n\n"
                "meine Nachricht „{subject}“ vom {sent} an dich ist versehentlich auch an {wrong} "
                "gegangen.\n\n"
                "Eine gesendete E-Mail lässt sich nicht zurückholen. Ich bitte {wrong} in einer eigenen "
                "Nachricht, sie ungelesen zu löschen und mir das zu bestätigen.\n\n"
                "Es tut mir leid.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        # Facts only, and no "du" or "Sie" in them: the same words fit every manager.
        "manager_subject": {"formal": "Fehlversand gemeldet: {subject}", "familiar": "Fehlversand gemeldet: {subject}"},
        "manager_body": {
            "formal": (
                "{greeting}\n\n"
                "zur Kenntnis: Mir ist ein Fehlversand passiert.\n\n"
                "{facts}\n\n"
                "Eine gesendete E-Mail lässt sich nicht zurückholen.\n"
                "Falls personenbezogene Daten betroffen sind, ist binnen 72 Stunden ab dem Bemerken zu "
                "entscheiden, ob die Aufsichtsbehörde zu benachrichtigen ist (Art. 33 DSGVO): bis "
                "{deadline}.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "facts": {
            "subject": "Betreff",
            "sent": "Gesendet",
            "recipients": "An",
            "unintended": "Versehentlich an",
            "intended": "Gemeint war",
            "guess": "(vermutet)",
            "attachment": "Anhang",
            "found": "Gefunden",
            "noticed": "Bemerkt",
            "bytes": "Bytes",
            "record": "Eintrag für das Verzeichnis der Datenschutzverletzungen: sendguard oops --json {id}",
        },
        "greeting_formal": "Guten Tag {full},",
        "greeting_formal_unnamed": "Guten Tag,",
        "greeting_familiar": "Hallo {first},",
        "closing_formal": "Mit freundlichen Grüßen",
        "closing_familiar": "Viele Grüße",
        "date": "%d.%m.%Y, %H:%M Uhr",
    },
    "en": {
        "unintended_subject": {"formal": "Sent to you by mistake: {subject}"},
        "unintended_body": {
            "formal": (
                "{greeting}\n\n"
                'My message "{subject}" of {sent} was not meant for you; I sent it to you by mistake.\n\n'
                "Please delete it{attachments} without reading it, also from your deleted items, and do "
                "not forward it. Please reply briefly to confirm that you have deleted it.\n\n"
                "I apologise for the trouble, and thank you for your help.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "with_attachments": " and its attachments",
        "intended_missed_subject": {"formal": "Fwd: {subject}"},
        "intended_missed_body": {
            "formal": (
                "{greeting}\n\n"
                'The attached message "{subject}" of {sent} was meant for you. I sent it to {wrong} by '
                "mistake instead of to you.\n\n"
                "A sent e-mail cannot be recalled. I am asking {wrong} in a separate message to delete "
                "it unread and to confirm that.\n\n"
                "I am sorry.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "intended_also_subject": {"formal": "Misdirected: {subject}"},
        "intended_also_body": {
            "formal": (
                "{greeting}\n\n"
                'My message "{subject}" of {sent} to you also went to {wrong} by mistake.\n\n'
                "A sent e-mail cannot be recalled. I am asking {wrong} in a separate message to delete "
                "it unread and to confirm that.\n\n"
                "I am sorry.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "manager_subject": {"formal": "Misdirected e-mail reported: {subject}"},
        "manager_body": {
            "formal": (
                "{greeting}\n\n"
                "For your information: I sent an e-mail to the wrong recipient.\n\n"
                "{facts}\n\n"
                "A sent e-mail cannot be recalled.\n"
                "If personal data is involved, whether to notify the supervisory authority must be "
                "decided within 72 hours of noticing (GDPR art. 33): by {deadline}.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "facts": {
            "subject": "Subject",
            "sent": "Sent",
            "recipients": "To",
            "unintended": "Wrongly to",
            "intended": "Meant for",
            "guess": "(presumed)",
            "attachment": "Attachment",
            "found": "Found",
            "noticed": "Noticed",
            "bytes": "bytes",
            "record": "Record for the breach register: sendguard oops --json {id}",
        },
        "greeting_formal": "Hello {first},",
        "greeting_formal_unnamed": "Hello,",
        "greeting_familiar": "Hello {first},",
        "closing_formal": "Kind regards",
        "closing_familiar": "Kind regards",
        "date": "%d %b %Y, %H:%M",
    },
}


def text_for(language: str, key: str, form: str) -> str:
    """A draft's subject or body in the language and form (English has one form)."""
    variants = TEXTS[language][key]
    return str(variants.get(form) or variants["formal"])
