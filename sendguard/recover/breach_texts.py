"""The fixed words of the breach-register record (breach_record.py), per language (German,
English, French).

The record is written in the language ``oops`` chose for its drafts — the message's own
(oops_texts.language_of: its Content-Language, else its words) — so a person who writes German
mail gets a German record to hand to their data protection officer, with the legal references
as the German text of the GDPR (DSGVO) words them.

Only the words change: the record's JSON keys, the figures, the times (ISO 8601, UTC) and the
addresses are the same in every language, so a script reading ``oops --json`` never has to
care. What a person must judge is marked in capitals in either language, never guessed.
"""

from __future__ import annotations

from typing import Any

RECORD_TEXTS: dict[str, dict[str, Any]] = {
    "en": {
        "to_assess": "TO BE ASSESSED by a person",
        "cannot_recall": (
            "sendguard cannot recall mail: once a server accepted the message, it is out of "
            "anyone's hands. These drafts help you act fast and properly; nothing has been sent."
        ),
        "regulation": (
            "GDPR art. 33(1): a personal data breach is notified to the supervisory authority without "
            "undue delay and, where feasible, within 72 hours of becoming aware of it, unless it is "
            "unlikely to result in a risk to the rights and freedoms of natural persons. Art. 33(5): "
            "every breach is documented, notified or not. Art. 34: the data subjects are told when the "
            "risk is high."
        ),
        "nature": (
            'Loss of confidentiality: the e-mail "{subject}" sent {sent} reached {count} recipient(s) '
            "outside the intended circle ({unintended}). Attachments: {attachments}. "
        ),
        "attachment": "{name} ({type}, {size} bytes)",
        "unnamed": "unnamed",
        "none": "none",
        "found": "Found in it: {found}. ",
        "nothing_found": "sendguard's rules found no sensitive data in it (that does not prove there is none). ",
        "subjects": "Categories and approximate number of data subjects and of records: {to_assess}.",
        "contact_missing": "TO FILL IN: the data protection officer or contact point",
        "consequences": (
            "The unintended recipient(s) can read the message and its attachments and pass them on. "
            "Likely consequences for the people concerned: {to_assess}."
        ),
        "measures": (
            "Drafted by sendguard oops, for the user to check and send: a request to the unintended "
            "recipient(s) to delete the message unread and to confirm; the message forwarded to, or a "
            "note for, the intended recipient; the facts for the manager. A sent e-mail cannot be "
            "recalled. Further measures: {to_assess}."
        ),
        "drafted": {
            "intro": "Drafted by sendguard oops, for the user to check and send: ",
            "unintended": "a request to {who} to delete the message unread and to confirm",
            "forward": "the message forwarded to {who}, for whom it was meant",
            "also": "a note to {who}, who got it as intended, saying who else got it",
            "manager": "the facts for {who}",
            "none": "nothing",
            "end": ". A sent e-mail cannot be recalled. Further measures: {to_assess}.",
        },
        "title": "Misdirected e-mail — record for the breach register ({id})",
        "labels": {
            "subject": "Subject",
            "from": "From",
            "sent": "Sent",
            "noticed": "Noticed",
            "deadline": "Deadline",
            "recipients": "Recipients",
            "unintended": "Unintended",
            "intended": "Intended",
            "message": "Message",
            "attachment": "Attachment",
            "found": "Found",
        },
        "deadline_note": "(72 h from noticing, GDPR art. 33(1))",
        "not_known": "(not known)",
        "guess": "(presumed by sendguard: confirm with --intended ADDR)",
        "bytes": "bytes",
        "facts": "Art. 33(3) facts:",
    },
    "de": {
        "to_assess": "VON EINER PERSON ZU BEURTEILEN",
        "cannot_recall": (
            "sendguard kann keine E-Mail zurückholen: Sobald ein Server die Nachricht angenommen hat, "
            "hat niemand sie mehr in der Hand. Die Entwürfe helfen, schnell und richtig zu handeln; "
            "gesendet wurde nichts."
        ),
        "regulation": (
            "Art. 33 Abs. 1 DSGVO: Eine Verletzung des Schutzes personenbezogener Daten ist unverzüglich "
            "und möglichst binnen 72 Stunden, nachdem sie bekannt wurde, der zuständigen "
            "Aufsichtsbehörde zu melden, es sei denn, sie führt voraussichtlich nicht zu einem Risiko "
            "für die Rechte und Freiheiten natürlicher Personen. Art. 33 Abs. 5: Jede Verletzung wird "
            "dokumentiert, ob gemeldet oder nicht. Art. 34: Bei hohem Risiko werden die betroffenen "
            "Personen benachrichtigt."
        ),
        "nature": (
            "Verletzung der Vertraulichkeit: Die E-Mail „{subject}“, gesendet {sent}, hat {count} "
            "Empfänger außerhalb des vorgesehenen Kreises erreicht ({unintended}). Anhänge: {attachments}. "
        ),
        "attachment": "{name} ({type}, {size} Bytes)",
        "unnamed": "ohne Namen",
        "none": "keine",
        "found": "Darin gefunden: {found}. ",
        "nothing_found": (
            "Die Regeln von sendguard haben darin keine sensiblen Daten gefunden (das beweist nicht, "
            "dass keine enthalten sind). "
        ),
        "subjects": "Kategorien und ungefähre Zahl der betroffenen Personen und Datensätze: {to_assess}.",
        "contact_missing": "AUSZUFÜLLEN: Datenschutzbeauftragte(r) oder Anlaufstelle",
        "consequences": (
            "Die unbeabsichtigten Empfänger können die Nachricht und ihre Anhänge lesen und weitergeben. "
            "Wahrscheinliche Folgen für die betroffenen Personen: {to_assess}."
        ),
        "measures": (
            "Von sendguard oops entworfen, zum Prüfen und Senden: die Bitte an den unbeabsichtigten "
            "Empfänger, die Nachricht ungelesen zu löschen und das zu bestätigen; die Nachricht "
            "weitergeleitet an den vorgesehenen Empfänger oder eine Nachricht an ihn; die Fakten für "
            "die Vorgesetzten. Eine gesendete E-Mail lässt sich nicht zurückholen. Weitere Maßnahmen: "
            "{to_assess}."
        ),
        "drafted": {
            "intro": "Von sendguard oops entworfen, zum Prüfen und Senden: ",
            "unintended": "die Bitte an {who}, die Nachricht ungelesen zu löschen und das zu bestätigen",
            "forward": "die Nachricht, weitergeleitet an {who}, für den sie bestimmt war",
            "also": "eine Nachricht an {who}, der sie wie vorgesehen erhalten hat, wer sie noch bekam",
            "manager": "die Fakten für {who}",
            "none": "nichts",
            "end": ". Eine gesendete E-Mail lässt sich nicht zurückholen. Weitere Maßnahmen: {to_assess}.",
        },
        "title": "Fehlversand einer E-Mail — Eintrag für das Verzeichnis der Datenschutzverletzungen ({id})",
        "labels": {
            "subject": "Betreff",
            "from": "Von",
            "sent": "Gesendet",
            "noticed": "Bemerkt",
            "deadline": "Frist",
            "recipients": "Empfänger",
            "unintended": "Unbeabsichtigt",
            "intended": "Vorgesehen",
            "message": "Nachricht",
            "attachment": "Anhang",
            "found": "Gefunden",
        },
        "deadline_note": "(72 Std. ab Bemerken, Art. 33 Abs. 1 DSGVO)",
        "not_known": "(nicht bekannt)",
        "guess": "(von sendguard vermutet: mit --intended ADRESSE bestätigen)",
        "bytes": "Bytes",
        "facts": "Angaben nach Art. 33 Abs. 3 DSGVO:",
    },
    "fr": {
        "to_assess": "À ÉVALUER par une personne",
        "cannot_recall": (
            "sendguard ne peut pas rappeler un e-mail : dès qu'un serveur a accepté le message, plus "
            "personne ne le maîtrise. Les brouillons aident à agir vite et correctement ; rien n'a été "
            "envoyé."
        ),
        "regulation": (
            "RGPD art. 33, paragraphe 1 : en cas de violation de données à caractère personnel, le "
            "responsable du traitement la notifie à l'autorité de contrôle compétente dans les "
            "meilleurs délais et, si possible, 72 heures au plus tard après en avoir pris connaissance, "
            "à moins qu'elle ne soit pas susceptible d'engendrer un risque pour les droits et libertés "
            "des personnes physiques. Art. 33, paragraphe 5 : toute violation est documentée, notifiée "
            "ou non. Art. 34 : les personnes concernées sont informées lorsque le risque est élevé."
        ),
        "nature": (
            "Atteinte à la confidentialité : l'e-mail « {subject} », envoyé {sent}, a atteint {count} "
            "destinataire(s) hors du cercle prévu ({unintended}). Pièces jointes : {attachments}. "
        ),
        "attachment": "{name} ({type}, {size} octets)",
        "unnamed": "sans nom",
        "none": "aucune",
        "found": "Relevé : {found}. ",
        "nothing_found": (
            "Les règles de sendguard n'y ont trouvé aucune donnée sensible (ce qui ne prouve pas qu'il n'y en a pas). "
        ),
        "subjects": "Catégories et nombre approximatif de personnes concernées et d'enregistrements : {to_assess}.",
        "contact_missing": "À COMPLÉTER : délégué à la protection des données ou point de contact",
        "consequences": (
            "Le ou les destinataires non prévus peuvent lire le message et ses pièces jointes et les "
            "transmettre. Conséquences probables pour les personnes concernées : {to_assess}."
        ),
        "measures": (
            "Rédigés par sendguard oops, à vérifier et envoyer : la demande au destinataire non prévu "
            "de supprimer le message sans le lire et de le confirmer ; le message transféré au "
            "destinataire prévu ou un mot pour lui ; les faits pour le responsable. Un e-mail envoyé "
            "ne peut pas être rappelé. Autres mesures : {to_assess}."
        ),
        "drafted": {
            "intro": "Rédigés par sendguard oops, à vérifier et envoyer : ",
            "unintended": "la demande à {who} de supprimer le message sans le lire et de le confirmer",
            "forward": "le message transféré à {who}, à qui il était destiné",
            "also": "un mot à {who}, qui l'a reçu comme prévu, disant qui d'autre l'a reçu",
            "manager": "les faits pour {who}",
            "none": "rien",
            "end": ". Un e-mail envoyé ne peut pas être rappelé. Autres mesures : {to_assess}.",
        },
        "title": "E-mail mal adressé — entrée du registre des violations de données ({id})",
        "labels": {
            "subject": "Objet",
            "from": "De",
            "sent": "Envoyé",
            "noticed": "Constaté",
            "deadline": "Délai",
            "recipients": "Destinataires",
            "unintended": "Non prévus",
            "intended": "Prévus",
            "message": "Message",
            "attachment": "Pièce jointe",
            "found": "Relevé",
        },
        "deadline_note": "(72 h à compter du constat, RGPD art. 33, paragraphe 1)",
        "not_known": "(inconnu)",
        "guess": "(présumé par sendguard : confirmer avec --intended ADRESSE)",
        "bytes": "octets",
        "facts": "Informations selon le RGPD art. 33, paragraphe 3 :",
    },
}

# What a finding means, in German: the rules speak English, and a German record or draft must
# not quote them (one language per document). English documents use the rule's own sentence.
FINDING_SENTENCES: dict[str, dict[str, str]] = {
    "de": {
        "attachment-type": "Ein Anhang ist nicht, was sein Name sagt, oder von einem riskanten Typ",
        "audience-size": "Viele Empfänger außerhalb der Organisation konnten einander sehen",
        "blocked-recipient": "Ein Empfänger steht auf der Sperrliste",
        "client-in-internal-thread": "Ein bisher interner Verlauf ging an jemanden außerhalb",
        "external-recipient": "Ein Empfänger ist außerhalb der Organisation",
        "first-time-recipient": "An diesen Empfänger wurde noch nie geschrieben",
        "forgotten-attachment": "Der Text erwähnt einen Anhang, die Nachricht hat keinen",
        "greeting-mismatch": "Die Anrede passt nicht zum Empfänger, aber zu einem anderen Kontakt",
        "internal-to-outside": "Die Nachricht wirkt intern, ging aber an jemanden außerhalb der Organisation",
        "lookalike-domain": "Eine Empfängerdomain sieht einer bekannten Domain nur ähnlich",
        "namesake": "Der Empfänger ist vermutlich mit einem anderen Kontakt verwechselt worden",
        "other-client": "Die Nachricht nennt einen anderen Kunden",
        "secrets": "Die Nachricht enthält Zugangsdaten oder Schlüssel",
        "sender-identity": "Die Absenderadresse ist nicht die übliche für diesen Empfänger",
        "sensitive-data": "Die Nachricht enthält sensible Daten",
        "unreadable-message": "Die Nachricht ließ sich nicht vollständig lesen und prüfen",
    },
}
FINDING_SENTENCES["fr"] = {
    "attachment-type": "Une pièce jointe n'est pas ce que dit son nom, ou d'un type risqué",
    "audience-size": "De nombreux destinataires externes pouvaient se voir les uns les autres",
    "blocked-recipient": "Un destinataire figure sur la liste de blocage",
    "client-in-internal-thread": "Une conversation jusque-là interne est partie vers l'extérieur",
    "external-recipient": "Un destinataire est hors de l'organisation",
    "first-time-recipient": "Ce destinataire n'avait encore jamais reçu de message",
    "forgotten-attachment": "Le texte annonce une pièce jointe, le message n'en a pas",
    "greeting-mismatch": "La formule d'appel ne correspond pas au destinataire, mais à un autre contact",
    "internal-to-outside": "Le message semble interne, mais il est parti hors de l'organisation",
    "lookalike-domain": "Un domaine destinataire ressemble seulement à un domaine connu",
    "namesake": "Le destinataire a probablement été confondu avec un autre contact",
    "other-client": "Le message mentionne un autre client",
    "secrets": "Le message contient des identifiants ou des clés",
    "sender-identity": "L'adresse d'expédition n'est pas celle utilisée d'habitude avec ce destinataire",
    "sensitive-data": "Le message contient des données sensibles",
    "unreadable-message": "Le message n'a pas pu être lu ni vérifié entièrement",
}
FINDING_UNKNOWN = {"de": "Die Regel {rule} hat angeschlagen", "fr": "La règle {rule} s'est déclenchée"}
SEVERITY_WORDS = {
    "de": {"info": "Hinweis", "warn": "Warnung", "hold": "zurückgehalten", "block": "gesperrt"},
    "en": {"info": "info", "warn": "warn", "hold": "hold", "block": "block"},
    "fr": {"info": "info", "warn": "avertissement", "hold": "retenu", "block": "bloqué"},
}


def finding_sentence(finding: dict[str, Any], language: str) -> str:
    """One finding as a sentence in ``language`` (without a final full stop)."""
    if language not in FINDING_SENTENCES:
        return str(finding.get("message") or finding.get("rule") or "").rstrip(".")
    rule = str(finding.get("rule") or "")
    sentence = FINDING_SENTENCES[language].get(rule) or FINDING_UNKNOWN[language].format(rule=rule)
    recipient = finding.get("recipient")
    return f"{sentence} ({recipient})" if recipient else sentence


def type_words(real_type: str | None, declared: str, language: str) -> str:
    """An attachment's type for a document: libmagic's description is English, so documents in
    another language name the MIME type alone."""
    if not real_type:
        return declared
    return real_type if language == "en" else real_type.split(" (", 1)[0]
