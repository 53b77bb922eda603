"""The voice of a long mail is read from its opening (mail.voice.VOICE_CHARS). That the counting
gives what reading word by word gives: tests/unit/test_message_view_words.py."""

from __future__ import annotations

from sendguard.mail import voice


def test_a_long_mail_is_read_from_its_opening() -> None:
    paragraph = "Kannst du mir die Zahlen schicken? Ich brauche sie für die Sitzung und den Bericht.\n"
    opening = "Hallo Markus,\n\n" + paragraph * 20 + "\n"
    # a long English table pasted below the note ("du" here is no form of address)
    pasted = "The status of the project, and the numbers for the region: du 42, du 43.\n" * 60
    body = opening + pasted + "\nViele Grüße\nPetra"
    assert len(opening) < voice.VOICE_CHARS < len(body) / 2
    assert voice.voice_of(body) == {
        "greeting": "Hallo Markus,",
        "closing": "Viele Grüße",
        "form": "du",
        "language": "de",
    }
    # the whole text would have said English and counted the table's "du" too
    assert voice.language_of(body) == "en"
