"""Lotus Notes' quoted headers name the author of the quoted message; its forwards are forwards."""

from __future__ import annotations

import pytest

from sendguard.history.fit import MessageView
from sendguard.mail.greetings import forwards_in_body
from sendguard.mail.message import OutgoingMessage
from sendguard.mail.quoted import quoted_people

FORWARD = (
    "see below\n\n"
    "---------------------- Forwarded by Peter F Keavey/HOU/ECT on 05/14/2001 07:49 AM ---------------------------\n\n\n"
    "sandra delgado <s.delgado@travel.example> on 05/11/2001 04:28:09 PM\n"
    "To:\tPETER.F.KEAVEY@ENRON.COM\ncc:\t \nSubject:\tticket\n\nyour ticket\n"
)
NAME_THEN_DATE = (
    "fyi\n---------------------- Forwarded by Michael Tribolet/Corp/Enron on 12/13/2000\n04:41 PM ---------------------------\n"
    "Michael Tribolet\n12/13/2000 09:51 AM\nTo: Diana Higgins/LON/ECT@ECT\nSubject: Re: EES meeting\n\ntext\n"
)
ON_DATE_FROM = (
    "Regards\nDelainey\n"
    "---------------------- Forwarded by David W Delainey/HOU/EES on 08/23/2001 04:26 PM ---------------------------\n"
    "From:\tRichard Causey/ENRON@enronXgate on 08/23/2001 08:52 AM\n"
    "To:\tGreg Whalley/ENRON@enronXgate\nSubject:\tRE: NewPower\n\ntext\n"
    " -----Original Message-----\nFrom: \tWhalley, Greg  \nSent:\tThursday\nTo:\tDelainey, David\n\nolder\n"
)
NO_MARKER = "thanks, rick\n\nFrom:  Rick Buy\n12/13/2000 09:21 AM\n\nTo: Doug Leach/HOU/ECT@ECT\nSubject: Re: staff\n"
SIGNATURE_RULE = (
    "ok\nJeffrey McMahon\n___________________________\nExecutive Vice President\n"
    " -----Original Message-----\nFrom: \tSherrick, Jeffrey  \nSent:\tTuesday\nTo:\tMcMahon, Jeffrey\n\ntext\n"
)


@pytest.mark.parametrize(
    ("body", "last", "addr"),
    [
        (FORWARD, "delgado", "s.delgado@travel.example"),
        (NAME_THEN_DATE, "tribolet", ""),
        (ON_DATE_FROM, "causey", ""),  # the newest quoted message, not the older Outlook block
        (NO_MARKER, "buy", ""),
        (SIGNATURE_RULE, "sherrick", ""),  # a rule under a signature opens no block of its own
    ],
)
def test_notes_headers_name_the_quoted_author(body, last, addr):
    quoted = quoted_people(body)
    assert quoted.author is not None and quoted.author.last == last
    assert quoted.author_addr == addr


def test_a_date_in_the_users_own_text_names_nobody():
    assert quoted_people("Let's meet, as agreed on 12/13/2000 10:00 AM\nrick\n").author is None
    assert quoted_people("Agenda for the call (a@b.example)\n12/13/2000 10:00 AM\n").author is None
    assert quoted_people("Let me know, a@b.example\n12/13/2000 10:00 AM\n").author is None


@pytest.mark.parametrize(
    ("body", "forwards"),
    [
        (FORWARD, True),  # Notes keeps the subject of what it forwards
        ("fyi\n\n---------- Forwarded message ---------\nFrom: Anna <a@x.example>\n\ntext\n", True),
        ("see below\n\nBegin forwarded message:\n\nFrom: Anna <a@x.example>\n", True),
        ("Gern!\n\n-----Original Message-----\nFrom: Kern, Thomas\n\ntext\n", False),
        ("> quoted first\n\n---- Forwarded by X/ORG on 03/04/2024 09:30 AM ----\n", False),
        ("On Mon, 4 Dec 2026, Anna <a@x.example> wrote:\n> text\n", False),
        ("no quote at all\n", False),
    ],
)
def test_a_forward_is_known_by_its_body_too(body, forwards):
    assert forwards_in_body(body) is forwards


def test_a_notes_forward_under_its_old_subject_is_no_reply():
    message = OutgoingMessage(b"From: me@x.example\nTo: b@y.example\nSubject: RE: ticket\n\n" + FORWARD.encode())
    view = MessageView(message, ["b@y.example"])
    assert view.forward
    assert not MessageView(OutgoingMessage(b"To: b@y.example\nSubject: RE: ticket\n\n> hi\n"), []).forward


def test_a_block_with_a_header_nobody_can_name_still_counts():
    # the newest quoted message's author is unreadable: the older block's author is not taken for it
    body = (
        "ok\n\n-----Original Message-----\nFrom: 12345\nSent: Monday\nTo: Lang, Petra\n\ntext\n"
        "-----Original Message-----\nFrom: Keller, Thomas\nTo: Lang, Petra\n\nolder\n"
    )
    quoted = quoted_people(body)
    assert quoted.author is None
    assert quoted.others[0].last == "keller"


def test_a_notes_from_line_with_its_date_names_the_author():
    body = (
        "fyi\n---------------------- Forwarded by Rick Buy/HOU/ECT on 01/17/2001 08:27 AM \n"
        "---------------------------\n\t\n\tFrom:  William S Bradford                01/17/2001 08:11 AM\n\t\n\n"
        "To: Rick Buy/HOU/ECT@ECT\nSubject: Imperial Holly\n\ntext\n"
        "---------------------- Forwarded by William S Bradford/HOU/ECT on 01/17/2001 \n07:10 AM ------\n"
        "Jason R Williams@ENRON\n01/17/2001 07:51 AM\nTo: William S Bradford/HOU/ECT@ECT\n\nolder\n"
    )
    quoted = quoted_people(body)
    assert quoted.author is not None and quoted.author.last == "bradford"
    assert "williams" in [p.last for p in quoted.others]


@pytest.mark.parametrize(
    "body",
    [
        "Agreed.\n\nOn 06/25/2010 04:05 PM,\nSuresh Jayaraman <sj@suse.example> wrote:\n> the patch\n",
        "Agreed.\n\nSuresh Jayaraman <sj@suse.example> wrote:\n> the patch\n",
        "Agreed.\n\nAm Montag, 4. Dezember 2026 um 10:00\nSuresh Jayaraman schrieb:\n> der Patch\n",
    ],
)
def test_a_wrapped_attribution_names_the_author(body):
    quoted = quoted_people(body)
    assert quoted.author is not None and quoted.author.last == "jayaraman"


def test_a_name_before_wrote_in_prose_is_no_attribution():
    assert quoted_people("As Tim Kohl wrote:\nthe plan is fine (see a@b.example)\n").author is None


def test_a_quoted_header_quoted_once_more_names_the_author():
    # a forward of a reply: the whole Outlook block, marker and all, behind ">"
    body = (
        "see below\n\n>  -----Original Message-----\n> From: \tJana Roth\n> Sent:\tWednesday, 3 March 2027\n"
        "> To:\tTim Kohl\n> Subject:\tlunch\n>\n> Friday at noon\n> to: be confirmed\n"
    )
    quoted = quoted_people(body)
    assert quoted.author is not None and quoted.author.last == "roth"
    assert [p.last for p in quoted.addressees] == ["kohl"]  # the quoted blank line ended the header


def test_an_outlook_block_inside_a_quoted_reply_is_older():
    body = (
        "Thanks\n\nOn Mon, 4 Dec 2026, Anna Berger <a@b.example> wrote:\n> ok\n>\n"
        "> -----Original Message-----\n> From: Kohl, Tim\n> To: Berger, Anna; Roth, Jana\n>\n> text\n"
    )
    quoted = quoted_people(body)
    assert quoted.author is not None and quoted.author.last == "berger"
    assert not quoted.addressees  # Roth was addressed by the older message, not by Berger's
    assert {"kohl", "roth"} <= {p.last for p in quoted.others}


def test_a_message_shown_inline_as_an_attachment_gives_its_sender():
    body = (
        "fyi\n\n--------- Inline attachment follows ---------\n\nFrom:  <jroth@mail.example>\n"
        "To: tkohl@x.example\nDate: Friday, 3 March 2027 6:21:52 GMT\nSubject: \n\ntext\n"
    )
    quoted = quoted_people(body)
    assert quoted.author is None and quoted.author_addr == "jroth@mail.example"


@pytest.mark.parametrize(
    ("sender", "first", "last"),
    [
        (
            "Jana Roth <jroth@mail.example>@ACME [mailto:IMCEANOTES-Jana+20Roth+20+3Cjroth+40mail@ACME.example]",
            "jana",
            "roth",
        ),
        ('"Roth, Jana" <JROTH@mail.example>@ACME', "jana", "roth"),
        ("Jana Roth <jana.roth@mail.example>", "jana", "roth"),
    ],
)
def test_an_address_beside_a_name_is_no_part_of_it(sender, first, last):
    quoted = quoted_people(f"ok\n\n-----Original Message-----\nFrom: \t{sender}\nSent: Monday\n\ntext\n")
    assert quoted.author is not None and (quoted.author.first, quoted.author.last) == (first, last)
    assert quoted.author.tokens == {first, last}
    assert quoted.author_addr.startswith("j")
