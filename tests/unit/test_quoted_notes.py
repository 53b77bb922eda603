"""Lotus Notes' quoted headers name the author of the quoted message."""

from __future__ import annotations

import pytest

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
