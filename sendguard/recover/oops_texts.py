"""The words of ``sendguard oops``'s drafts, per language (German, English, French).

Honest on purpose: nothing here says the message was recalled or will be; sendguard cannot
recall mail, and no draft claims something already happened that only the user's sending the
other drafts will make true. The unintended recipient is asked to delete it unread and to
confirm; the intended recipient gets the message (forwarded) or is told who else got it; the
manager gets the facts.
"""

from __future__ import annotations

from typing import Any

from sendguard.mail.voice import language_of  # noqa: F401 (where the drafts' language is chosen)

LANGUAGES = ("de", "en", "fr")

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
        # to someone outside the organization, who else got it is not named (one more disclosure)
        "someone_else": ("jemand anderen", "andere Empfänger"),
        "the_recipient": ("den Empfänger", "die Empfänger"),
        "intended_missed_subject": {"formal": "WG: {subject}", "familiar": "WG: {subject}"},
        "intended_missed_body": {
            "formal": (
                "{greeting}\n\n"
                "die angehängte Nachricht „{subject}“ vom {sent} war für Sie bestimmt. Ich habe sie "
                "versehentlich an {wrong_shown} geschickt statt an Sie.\n\n"
                "Eine gesendete E-Mail lässt sich nicht zurückholen. Ich bitte {wrong_asked} in einer eigenen "
                "Nachricht, sie ungelesen zu löschen und mir das zu bestätigen.\n\n"
                "Es tut mir leid.\n\n"
                "{closing}\n{name}\n"
            ),
            "familiar": (
                "{greeting}\n\n"
                "die angehängte Nachricht „{subject}“ vom {sent} war für dich bestimmt. Ich habe sie "
                "versehentlich an {wrong_shown} geschickt statt an dich.\n\n"
                "Eine gesendete E-Mail lässt sich nicht zurückholen. Ich bitte {wrong_asked} in einer eigenen "
                "Nachricht, sie ungelesen zu löschen und mir das zu bestätigen.\n\n"
                "Es tut mir leid.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "intended_also_subject": {"formal": "Fehlversand: {subject}", "familiar": "Fehlversand: {subject}"},
        "intended_also_body": {
            "formal": (
                "{greeting}\n\n"
                "meine Nachricht „{subject}“ vom {sent} an Sie ist versehentlich auch an {wrong_shown} "
                "gegangen.\n\n"
                "Eine gesendete E-Mail lässt sich nicht zurückholen. Ich bitte {wrong_asked} in einer eigenen "
                "Nachricht, sie ungelesen zu löschen und mir das zu bestätigen.\n\n"
                "Es tut mir leid.\n\n"
                "{closing}\n{name}\n"
            ),
            "familiar": (
                "{greeting}\n\n"
                "meine Nachricht „{subject}“ vom {sent} an dich ist versehentlich auch an {wrong_shown} "
                "gegangen.\n\n"
                "Eine gesendete E-Mail lässt sich nicht zurückholen. Ich bitte {wrong_asked} in einer eigenen "
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
        "someone_else": ("someone else", "other people"),
        "the_recipient": ("the recipient", "the recipients"),
        "intended_missed_subject": {"formal": "Fwd: {subject}"},
        "intended_missed_body": {
            "formal": (
                "{greeting}\n\n"
                'The attached message "{subject}" of {sent} was meant for you. I sent it to {wrong_shown} by '
                "mistake instead of to you.\n\n"
                "A sent e-mail cannot be recalled. I am asking {wrong_asked} in a separate message to delete "
                "it unread and to confirm that.\n\n"
                "I am sorry.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "intended_also_subject": {"formal": "Misdirected: {subject}"},
        "intended_also_body": {
            "formal": (
                "{greeting}\n\n"
                'My message "{subject}" of {sent} to you also went to {wrong_shown} by mistake.\n\n'
                "A sent e-mail cannot be recalled. I am asking {wrong_asked} in a separate message to delete "
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
    "fr": {
        "unintended_subject": {
            "formal": "Envoyé par erreur : {subject}",
            "familiar": "Envoyé par erreur : {subject}",
        },
        "unintended_body": {
            "formal": (
                "{greeting}\n\n"
                "Mon message « {subject} » du {sent} ne vous était pas destiné ; je vous l'ai envoyé "
                "par erreur.\n\n"
                "Pourriez-vous le supprimer{attachments} sans le lire, y compris de la corbeille, et ne "
                "pas le transférer ? Merci de me confirmer d'une courte réponse que vous l'avez "
                "supprimé.\n\n"
                "Veuillez m'excuser pour le dérangement, et merci de votre aide.\n\n"
                "{closing}\n{name}\n"
            ),
            "familiar": (
                "{greeting}\n\n"
                "Mon message « {subject} » du {sent} ne t'était pas destiné ; je te l'ai envoyé par "
                "erreur.\n\n"
                "Pourrais-tu le supprimer{attachments} sans le lire, y compris de la corbeille, et ne "
                "pas le transférer ? Merci de me confirmer d'une courte réponse que tu l'as "
                "supprimé.\n\n"
                "Excuse-moi pour le dérangement, et merci de ton aide.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "with_attachments": " avec ses pièces jointes",
        "someone_else": ("quelqu'un d'autre", "d'autres personnes"),
        "the_recipient": ("ce destinataire", "ces destinataires"),
        "intended_missed_subject": {"formal": "TR : {subject}", "familiar": "TR : {subject}"},
        "intended_missed_body": {
            "formal": (
                "{greeting}\n\n"
                "Le message ci-joint « {subject} » du {sent} vous était destiné. Je l'ai envoyé par "
                "erreur à {wrong_shown} au lieu de vous.\n\n"
                "Un e-mail envoyé ne peut pas être rappelé. Je demande à {wrong_asked}, dans un message "
                "séparé, de le supprimer sans le lire et de me le confirmer.\n\n"
                "Toutes mes excuses.\n\n"
                "{closing}\n{name}\n"
            ),
            "familiar": (
                "{greeting}\n\n"
                "Le message ci-joint « {subject} » du {sent} t'était destiné. Je l'ai envoyé par "
                "erreur à {wrong_shown} au lieu de toi.\n\n"
                "Un e-mail envoyé ne peut pas être rappelé. Je demande à {wrong_asked}, dans un message "
                "séparé, de le supprimer sans le lire et de me le confirmer.\n\n"
                "Toutes mes excuses.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "intended_also_subject": {"formal": "Envoi erroné : {subject}", "familiar": "Envoi erroné : {subject}"},
        "intended_also_body": {
            "formal": (
                "{greeting}\n\n"
                "Mon message « {subject} » du {sent}, qui vous était adressé, est aussi parti par erreur "
                "à {wrong_shown}.\n\n"
                "Un e-mail envoyé ne peut pas être rappelé. Je demande à {wrong_asked}, dans un message "
                "séparé, de le supprimer sans le lire et de me le confirmer.\n\n"
                "Toutes mes excuses.\n\n"
                "{closing}\n{name}\n"
            ),
            "familiar": (
                "{greeting}\n\n"
                "Mon message « {subject} » du {sent}, qui t'était adressé, est aussi parti par erreur "
                "à {wrong_shown}.\n\n"
                "Un e-mail envoyé ne peut pas être rappelé. Je demande à {wrong_asked}, dans un message "
                "séparé, de le supprimer sans le lire et de me le confirmer.\n\n"
                "Toutes mes excuses.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "manager_subject": {"formal": "Envoi erroné signalé : {subject}"},
        "manager_body": {
            "formal": (
                "{greeting}\n\n"
                "Pour information : un e-mail est parti par erreur au mauvais destinataire.\n\n"
                "{facts}\n\n"
                "Un e-mail envoyé ne peut pas être rappelé.\n"
                "Si des données personnelles sont concernées, il faut décider dans les 72 heures suivant "
                "le constat s'il y a lieu de notifier l'autorité de contrôle (RGPD art. 33) : avant le "
                "{deadline}.\n\n"
                "{closing}\n{name}\n"
            ),
        },
        "facts": {
            "subject": "Objet",
            "sent": "Envoyé",
            "recipients": "À",
            "unintended": "Par erreur à",
            "intended": "Destiné à",
            "guess": "(présumé)",
            "attachment": "Pièce jointe",
            "found": "Relevé",
            "noticed": "Constaté",
            "bytes": "octets",
            "record": "Entrée du registre des violations : sendguard oops --json {id}",
        },
        "greeting_formal": "Bonjour {full},",
        "greeting_formal_unnamed": "Bonjour,",
        "greeting_familiar": "Salut {first},",
        "closing_formal": "Cordialement",
        "closing_familiar": "Amicalement",
        "date": "%d/%m/%Y à %H:%M",
    },
}


def text_for(language: str, key: str, form: str) -> str:
    """A draft's subject or body in the language and form (English has one form)."""
    variants = TEXTS[language][key]
    return str(variants.get(form) or variants["formal"])
