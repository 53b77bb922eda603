"""The names in the text (FitModel.mention): a name on a quoted To or Cc line counts its share
of that line; a long distribution list in a forwarded header says little about any one person
on it, a quoted header sent to one person as much as the text itself."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sendguard.history.fit import Fit, FitModel, MessageView
from sendguard.history.store import Contact
from sendguard.mail.message import OutgoingMessage
from sendguard.rules.namesake import reasons

MONIQUE = Contact(1, "monique.sanchez@corp.example", "", "monique", "sanchez", "corp.example", 5, 0, 5, 5, 0.0, 0.0)
COLLEAGUES = [f"Person{chr(97 + i)}, First{chr(97 + i)}" for i in range(9)]


def mention(body: str, contact: Contact = MONIQUE) -> float:
    raw = ("From: me@corp.example\nTo: monte.jones@corp.example\nSubject: FW: prices\n\n" + body).encode()
    view = MessageView(OutgoingMessage(raw), ["monte.jones@corp.example"])
    return FitModel(None, view).mention(contact)  # type: ignore[arg-type]


def forward(to_line: str, text: str = "Please add two more tabs.") -> str:
    return f"{text}\n\n-----Original Message-----\nFrom: O'Rourke, Ryan\n{to_line}\nSubject: prices\n\nAttached.\n"


def test_a_name_in_the_text_counts_whole():
    assert mention("Monique Sanchez asked for the file.\n") == 1.0


def test_a_name_on_a_long_quoted_list_counts_its_share():
    line = "To:\t" + "; ".join([*COLLEAGUES, "Sanchez, Monique"])
    assert mention(forward(line)) == 1.0 / 10


def test_a_quoted_header_to_one_person_counts_whole():
    assert mention(forward("To:\tSanchez, Monique")) == 1.0
    assert mention(forward("Cc: monique.sanchez@corp.example")) == 1.0


def test_a_name_on_the_list_and_in_the_text_counts_whole():
    line = "To:\t" + "; ".join([*COLLEAGUES, "Sanchez, Monique"])
    assert mention(forward(line, text="Monique, can you add the tab?")) == 0.5 + 0.5 / 10


def test_addresses_on_a_quoted_line_are_people_too():
    line = "Cc: " + ", ".join(f"p{i}@corp.example" for i in range(3)) + ", monique.sanchez@corp.example"
    assert mention(forward(line)) == 1.0 / 4


@given(st.lists(st.sampled_from(COLLEAGUES), max_size=30))
def test_a_longer_list_never_counts_more(others):
    short = mention(forward("To:\t" + "; ".join([*others, "Sanchez, Monique"])))
    longer = mention(forward("To:\t" + "; ".join([*others, "Bass, Eric", "Sanchez, Monique"])))
    assert 0.0 < longer < short <= 1.0


def test_the_reason_names_the_text_only_for_a_name_in_it():
    def fit(mentioned: float) -> Fit:
        return Fit(MONIQUE, 0.0, 0.0, False, False, mentioned, 0.0, 0.0, 1.0)

    assert "the names in the text" in reasons(fit(mention("Monique Sanchez asked.\n")), fit(0.0))
    listed = forward("To:\t" + "; ".join([*COLLEAGUES, "Sanchez, Monique"]))
    assert "the names in the text" not in reasons(fit(mention(listed)), fit(0.0))
