"""The voice of oops's drafts: greeting, du/Sie and closing as the user writes them to that very
person (the ledger of learned sent mail), polite defaults otherwise, never from another language."""

from __future__ import annotations

import pytest

from sendguard.history.ledger import own_display_name, voice_with
from sendguard.recover.oops import person
from tests.support import history_fixtures as hf

KERN_FORMAL = (
    "Sehr geehrter Herr Kern,\n\nanbei die Abnahme, wie mit Ihnen besprochen.\n\nMit freundlichen Grüßen\nPetra Lang"
)
KELLER_DU = "Hallo Thomas,\n\nkannst du das Budget freigeben?\n\nViele Grüße\nPetra"
ANNA_EN = "Hi Anna,\n\nthe Lotse maintenance is on Friday.\n\nCheers\nPetra"


@pytest.fixture
def state(tmp_path):  # type: ignore[no-untyped-def]
    mails = [hf.mail([hf.CLIENT_THOMAS], "Abnahme Granit", KERN_FORMAL, n=i, msgid=f"k{i}@x") for i in range(3)]
    mails += [hf.mail([hf.BOSS], "Budget", KELLER_DU, cc=[hf.COLLEAGUE], n=10 + i, msgid=f"b{i}@x") for i in range(3)]
    mails += [hf.mail([hf.CLIENT_ANNA], "Lotse", ANNA_EN, n=20 + i, msgid=f"a{i}@x") for i in range(2)]
    # a note to the colleague that greets the boss: it says nothing about how she writes to Mia
    mails += [hf.mail([hf.COLLEAGUE, hf.BOSS], "Budget", KELLER_DU, n=30, msgid="c@x")]
    hf.learn_into(tmp_path, mails)
    return tmp_path


def test_the_voice_with_each_person_comes_from_mail_to_them(state):
    assert voice_with(state, hf.CLIENT_THOMAS) == {
        "greeting": "Sehr geehrter Herr Kern,",
        "closing": "Mit freundlichen Grüßen",
        "form": "sie",
    }
    # a Cc does not hide that the greeting is the boss's
    assert voice_with(state, hf.BOSS) == {"greeting": "Hallo Thomas,", "closing": "Viele Grüße", "form": "du"}
    assert voice_with(state, hf.COLLEAGUE)["greeting"] == ""
    assert voice_with(state, "nobody@x.example") == {"greeting": "", "closing": "", "form": ""}
    assert own_display_name(state) == "Petra Lang"


def test_drafts_take_that_voice_in_their_own_language(state):
    kern = person(state, hf.CLIENT_THOMAS, "Thomas Kern", "de")
    assert (kern.greeting, kern.form, kern.closing) == ("Sehr geehrter Herr Kern,", "formal", "Mit freundlichen Grüßen")
    boss = person(state, hf.BOSS, "Thomas Keller", "de")
    assert (boss.greeting, boss.form, boss.closing) == ("Hallo Thomas,", "familiar", "Viele Grüße")
    # English mail to Anna: not borrowed for a German draft (one language per document)
    anna_de = person(state, hf.CLIENT_ANNA, "Anna Brandl", "de")
    assert (anna_de.greeting, anna_de.form, anna_de.closing) == (
        "Guten Tag Anna Brandl,",
        "formal",
        "Mit freundlichen Grüßen",
    )
    anna_en = person(state, hf.CLIENT_ANNA, "Anna Brandl", "en")
    assert (anna_en.greeting, anna_en.closing) == ("Hi Anna,", "Cheers")
    # nobody known: the language's polite defaults
    stranger = person(state, "x@elsewhere.example", "", "de")
    assert (stranger.greeting, stranger.form, stranger.closing) == ("Guten Tag,", "formal", "Mit freundlichen Grüßen")
    assert person(state, "x@elsewhere.example", "Jane Roe", "en").greeting == "Hello Jane,"
    assert person(state, "x@elsewhere.example", "Roe, Jane", "de").greeting == "Guten Tag Jane Roe,"


def test_who_was_meant_is_presumed_from_the_history_when_the_check_said_nothing(state):
    from sendguard.recover.oops import classify_recipients

    meta = {"envelope": [hf.CLIENT_THOMAS], "findings": []}
    # autocomplete's usual victim: the contact with the same first name she writes to most
    assert classify_recipients(meta, hf.config(), [], [], state) == ([hf.CLIENT_THOMAS], [hf.BOSS], True)
    # what the user says wins, and is no guess
    assert classify_recipients(meta, hf.config(), [], [hf.COLLEAGUE], state) == (
        [hf.CLIENT_THOMAS],
        [hf.COLLEAGUE],
        False,
    )
