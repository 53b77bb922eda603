"""The recipient rules on a small synthetic history (tests/support/history_fixtures.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.config.schema import parse
from sendguard.decide.check import check_message, envelope_for
from sendguard.history import trust
from sendguard.mail.greetings import own_text, parse_greeting
from sendguard.mail.message import OutgoingMessage
from sendguard.model import Severity, Verdict
from tests.support import history_fixtures as hf


@pytest.fixture
def state(tmp_path):
    return hf.learned_state(tmp_path)


def run(state, raw, config=None):  # type: ignore[no-untyped-def]
    message = OutgoingMessage(raw)
    result = check_message(
        message, config or hf.config(), envelope=envelope_for(message, (), False), state_dir=state, now=1_800_000_000.0
    )
    return result.decision


def rules_of(decision):  # type: ignore[no-untyped-def]
    return {f.rule: f for f in decision.findings}


INTERNAL_NOTE = (
    "Hallo Thomas,\n\nzur Umstrukturierung: die Personalkosten der Abteilung müssen sinken, "
    "zwei Stellen fallen weg. Budget und Gehälter besprechen wir morgen.\n\nGruß\nPetra"
)


def test_namesake_holds_and_names_the_boss(state):
    d = run(state, hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, cc=[hf.COLLEAGUE], n=100))
    assert d.verdict >= Verdict.HOLD
    assert any(f.suggestion == hf.BOSS for f in d.findings)
    assert rules_of(d)["namesake"].recipient == hf.CLIENT_THOMAS


def test_the_internal_note_to_the_client_namesake_alone_holds(state):
    """No Cc to tell boss and client apart: the internal topic and the internal namesake do."""
    d = run(state, hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, n=100))
    assert d.verdict >= Verdict.HOLD
    assert rules_of(d)["namesake"].suggestion == hf.BOSS


def test_the_same_mail_to_the_boss_passes(state):
    d = run(state, hf.mail([hf.BOSS], "Personalkosten Abteilung", INTERNAL_NOTE, cc=[hf.COLLEAGUE], n=100))
    assert d.verdict <= Verdict.WARN


def test_ordinary_client_mail_passes(state):
    body = "Hallo Thomas,\n\nder nächste Granit Meilenstein ist am Montag.\n\nGruß\nPetra"
    assert run(state, hf.mail([hf.CLIENT_THOMAS], "Granit Meilenstein", body, n=100)).verdict == Verdict.PASS


def test_new_harmless_contact_is_not_held(state):
    body = "Hallo Frau Wagner,\n\ndanke für das Gespräch. Passt Ihnen ein Anruf am Dienstag?\n\nPetra Lang"
    d = run(state, hf.mail(["j.wagner@start.example"], "Kennenlernen", body, n=100))
    assert d.verdict == Verdict.PASS
    assert rules_of(d)["first-time-recipient"].severity.label == "info"


def test_greeting_for_another_client_holds_with_other_client(state):
    body = "Hallo Anna,\n\ndie Wartung für Lotse verschiebt sich auf Montag.\n\nGruß\nPetra"
    d = run(state, hf.mail([hf.CLIENT_THOMAS], "Lotse Wartung", body, n=100))
    assert d.verdict >= Verdict.HOLD
    found = rules_of(d)
    assert found["greeting-mismatch"].suggestion == hf.CLIENT_ANNA
    assert "other-client" in found


def test_other_client_named_warns(state):
    body = "Hallo Anna,\n\nbei Bergwerk (Projekt Granit) kostet das 900 EUR am Tag.\n\nGruß\nPetra"
    d = run(state, hf.mail([hf.CLIENT_ANNA], "Lotse Wartung", body, n=100))
    assert d.verdict == Verdict.WARN and "other-client" in rules_of(d)


def test_lookalike_of_own_domain_holds_with_the_real_address(state):
    body = "Hallo Thomas,\n\ndas Budget kommt morgen.\n\nPetra"
    d = run(state, hf.mail(["t.keller@lindehnof.example"], "Budget Quartal", body, n=100))
    assert d.verdict >= Verdict.HOLD
    assert rules_of(d)["lookalike-domain"].suggestion == hf.BOSS


def test_client_added_to_internal_thread_warns_and_holds_with_more_evidence(state):
    body = "Hallo Thomas,\n\nzur Reorganisation: Mia übernimmt ab März das Team.\n\nPetra"
    raw = hf.mail(
        [hf.BOSS],
        "Re: Reorganisation Team",
        body,
        cc=[hf.COLLEAGUE, hf.CLIENT_ANNA],
        n=100,
        reply_to="reorg-1@lindenhof.example",
    )
    d = run(state, raw)
    assert rules_of(d)["client-in-internal-thread"].recipient == hf.CLIENT_ANNA
    assert d.verdict == Verdict.WARN  # one signal about a client the user writes to: never nag
    marked = hf.mail(
        [hf.BOSS],
        "Re: Reorganisation Team",
        body + "\n\nBitte vertraulich behandeln.",
        cc=[hf.COLLEAGUE, hf.CLIENT_ANNA],
        n=101,
        reply_to="reorg-1@lindenhof.example",
    )
    assert run(state, marked).verdict >= Verdict.HOLD  # and a second one about her holds


def test_confidential_marker_to_outside_warns_only(state):
    body = "Hallo Anna,\n\nvertraulich: die Wartung für Lotse wird teurer.\n\nGruß\nPetra"
    d = run(state, hf.mail([hf.CLIENT_ANNA], "Lotse Wartung", body, n=100))
    assert rules_of(d)["internal-to-outside"].severity.label == "warn"
    assert d.verdict == Verdict.WARN


def test_sender_identity_warns_on_unusual_from(state):
    body = "Hallo Thomas,\n\ndas Budget steht.\n\nPetra"
    d = run(state, hf.mail([hf.BOSS], "Budget Quartal", body, cc=[hf.COLLEAGUE], frm="petra@privat.example", n=100))
    assert hf.BOSS in {f.recipient for f in d.findings if f.rule == "sender-identity"}
    assert d.verdict == Verdict.WARN


def test_trust_silences_a_known_good_pair(state):
    raw = hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, cc=[hf.COLLEAGUE], n=100)
    trust.trust(state, hf.CLIENT_THOMAS)
    d = run(state, raw)
    assert "namesake" not in rules_of(d) and d.verdict <= Verdict.WARN


def test_without_history_the_recipient_rules_are_silent(tmp_path):
    raw = hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, n=100)
    found = rules_of(run(tmp_path / "empty", raw))
    assert not {"namesake", "greeting-mismatch", "first-time-recipient"} & set(found)


@pytest.mark.parametrize(
    ("body", "names", "by_last"),
    [
        ("Hallo Markus,\n\ntext", ("markus",), False),
        ("Hi Anna,\ntext", ("anna",), False),
        ("Dear Mr Smith,\n\ntext", ("smith",), True),
        ("Sehr geehrte Frau Ott,\n\ntext", ("ott",), True),
        ("Bonjour Marie,\n\ntext", ("marie",), False),
        ("Здравствуйте, Ольга!\n\ntext", ("olga",), False),
        ("Hola Lucía,\n\ntext", ("lucia",), False),
        ("Beste Joost,\n\ntext", ("joost",), False),
        ("Bill,\n\nsee below", ("bill",), False),  # a bare name line is a greeting
        ("Liebe Jana, lieber Tim,\n\ntext", ("jana",), False),
        ("Hi Mike, just wanted to show you what I sent Keith last week.\n", ("mike",), False),
        ("Hi Anna, Tim, Jana,\n\ntext", ("anna", "tim", "jana"), False),
        ("Dear Mr. Smith, thanks for the call.\n", ("smith",), True),
        ("Sehr geehrte Frau Prof. Dr. Ott,\n\ntext", ("ott",), True),
        ("Romance in Paradise!\n\nDear Peter,\n\ntext", ("peter",), False),
        ("Jay and Matt,\n\ntext", ("jay", "matt"), False),  # both, not the first alone
        ("Rick and Greg:\n\ntext", ("rick", "greg"), False),
        ("Anna Schmidt,\n\ntext", ("anna",), False),
        ("Anne, can you check the deal?\n", ("anne",), False),  # a name, then the sentence
        ("Karen- please file this. Rick\n", ("karen",), False),
        ("Pete--\n\nthe numbers are in\n", ("pete",), False),
        ("Wednesday, 3 March 2027\n\nDear Peter,\n\ntext", ("peter",), False),  # a date is no name
    ],
)
def test_greetings_in_several_languages(body, names, by_last):
    greeting = parse_greeting(body)
    assert greeting is not None and greeting.names[: len(names)] == names and greeting.by_last_name == by_last


@pytest.mark.parametrize(
    "body",
    [
        "Hi all,\n\ntext",
        "Hallo zusammen,\n\ntext",
        "Dear team,\n\ntext",
        "Bonjour à tous,\n\ntext",
        "Hola a todos,\ntext",
        "Thanks,\nPetra",
        "fyi\n\n-----Original Message-----\nFrom: Kern, Thomas\n\nHallo Anna,\n\nquoted",
        "see below\n\nOn Mon, 1 Jan 2024, Anna Brandl <a@b.example> wrote:\n> Hallo Markus,\n",
        "> Hallo Markus,\n> quoted only\n",
        "Dear Amazon.com Customer,\n\ntext",  # a role names nobody
        "Dear Sir or Madam,\n\ntext",
        "Sehr geehrte Damen und Herren,\n\ntext",
        "Current Notes User:\n\ntext",
        "Looks great!\n\ntext",  # an exclamation is no bare greeting
        "Hey, I'm gonna be in town on Wed. night.\n",  # a sentence after the salutation
        "Hi, this is the thing I was talking about!\n",
        "Executive Summary:\n- prices rose\n",  # a heading is no bare greeting
        "Important Upgrade Information:\n\n1. save your files\n",
        "Search criteria:\n\ncounty = north\n",
        "To confirm:\n\nwe meet at ten\n",
        "Tim Kohl joked:\n> a quote\n",
        "People,\n\nthe prices are out\n",
        "Thanks, Rick\n",
        "fyi, rick\n",
        "All - please read\n",
        "FYI, the prices are out\n",
    ],
)
def test_group_quoted_and_forwarded_greetings_name_nobody(body):
    assert parse_greeting(body) is None


def test_own_text_stops_at_reply_markers():
    body = "Meine Antwort.\n\nAm 3. März 2024 schrieb Anna Brandl:\n> Ihre Frage\n"
    assert own_text(body).strip() == "Meine Antwort."


def test_reply_to_a_namesake_of_the_quoted_author_holds(state):
    body = (
        "Einverstanden, machen wir so.\n\n-----Original Message-----\nFrom: Keller, Thomas\n"
        "Sent: Monday, March 4, 2024 9:00 AM\nTo: Lang, Petra\nSubject: Budget Quartal\n\n"
        "Können wir das Budget diese Woche abschließen?\n"
    )
    d = run(state, hf.mail([hf.CLIENT_THOMAS], "RE: Budget Quartal", body, n=100))
    assert d.verdict >= Verdict.HOLD
    assert rules_of(d)["namesake"].suggestion == hf.BOSS


def test_reply_to_the_quoted_author_passes(state):
    body = (
        "Einverstanden.\n\n-----Original Message-----\nFrom: Kern, Thomas\nTo: Lang, Petra\n"
        "Subject: Granit Meilenstein\n\nAbnahme nächste Woche?\n"
    )
    d = run(state, hf.mail([hf.CLIENT_THOMAS], "RE: Granit Meilenstein", body, n=100))
    assert d.verdict == Verdict.PASS


def test_reply_to_an_old_address_of_the_author_holds(state):
    body = (
        "Gern!\n\n-----Original Message-----\nFrom: Thomas Kern [mailto:thomas.kern@neuefirma.example]\n"
        "To: Lang, Petra\nSubject: Granit Meilenstein\n\nIch bin jetzt bei der Neuen Firma.\n"
    )
    d = run(state, hf.mail([hf.CLIENT_THOMAS], "RE: Granit Meilenstein", body, n=100))
    assert d.verdict >= Verdict.HOLD
    assert rules_of(d)["namesake"].suggestion == "thomas.kern@neuefirma.example"


def test_other_client_named_in_an_attachment_warns(state):
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = hf.ME, hf.CLIENT_ANNA, "Lotse Wartung"
    msg["Message-ID"] = "<att-1@test.example>"
    msg.set_content("Hallo Anna,\n\nanbei die Preisliste.\n\nGruß\nPetra")
    msg.add_attachment(b"Kunde;Tagessatz\nBergwerk AG;900\n", maintype="text", subtype="csv", filename="preise.csv")
    d = run(state, msg.as_bytes())
    assert rules_of(d)["other-client"].recipient == hf.CLIENT_ANNA


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_text_readers_never_raise_and_fold_names(body):
    from sendguard.mail.greetings import fold
    from sendguard.mail.quoted import quoted_people

    greeting = parse_greeting(body)
    if greeting is not None:
        assert all(name == fold(name) and name for name in greeting.names)
    quoted_people(body)
    own_text(body)


def test_internal_subject_reply_to_someone_new_is_not_held(state):
    body = "Guten Tag,\n\ndanke für Ihre Nachricht, ich melde mich nächste Woche.\n\nPetra Lang"
    d = run(state, hf.mail(["info@neu.example"], "Re: Budget Quartal", body, n=100))
    assert rules_of(d)["client-in-internal-thread"].severity.label == "info"
    assert d.verdict == Verdict.PASS


def test_one_word_subjects_name_no_thread(state):
    body = "Hallo Anna,\n\nkurze Frage zum Urlaub.\n\nPetra"
    d = run(state, hf.mail([hf.CLIENT_ANNA], "Re: Urlaubsplanung", body, n=100))
    assert "client-in-internal-thread" not in rules_of(d)


@pytest.mark.parametrize("to", ["info@neu.example", "a.meier@neu.example"])
@pytest.mark.parametrize("greeting", ["Hallo Anna,", "Hallo Nan,"])  # Nan: a short form of Anna
def test_greeting_a_new_address_without_a_first_name_is_not_questioned(state, to, greeting):
    body = f"{greeting}\n\nwie besprochen das Angebot für Lotse.\n\nGruß\nPetra"
    raw = hf.mail([to], "Angebot", body, n=100).replace(b'"Anna Brandl" ', b"")
    assert "greeting-mismatch" not in rules_of(run(state, raw))


def test_a_real_mail_provider_is_no_lookalike(state):
    raws = [hf.mail([f"friend{i}@gmail.com"], "Hallo", "Hallo,\n\nbis bald.\n", n=300 + i) for i in range(4)]
    from sendguard.history.learn import Learner
    from sendguard.history.store import open_for_write

    db = open_for_write(state)
    with Learner(db, [hf.ME], ["lindenhof.example"]) as learner:
        for raw in raws:
            learner.add(raw)
    db.close()
    d = run(state, hf.mail(["someone@mail.com"], "Hallo", "Hallo,\n\nbis bald.\n", n=400))
    assert "lookalike-domain" not in rules_of(d)
    d = run(state, hf.mail(["someone@gmial.com"], "Hallo", "Hallo,\n\nbis bald.\n", n=401))
    assert rules_of(d)["lookalike-domain"].suggestion == "someone@gmail.com"


def test_a_confidentiality_notice_in_the_signature_is_no_marker(state):
    body = (
        "Hallo Anna,\n\ndie Wartung für Lotse ist am Freitag.\n\nGruß\nPetra\n\n"
        "This e-mail is confidential and intended solely for the addressee. If you have received this "
        "in error, please notify the sender.\n"
    )
    assert "internal-to-outside" not in rules_of(run(state, hf.mail([hf.CLIENT_ANNA], "Lotse Wartung", body, n=100)))
    sig = "Hallo Anna,\n\ndie Wartung ist am Freitag.\n\n-- \nPetra Lang\nVertraulich: nur für den Empfänger\n"
    assert "internal-to-outside" not in rules_of(run(state, hf.mail([hf.CLIENT_ANNA], "Lotse Wartung", sig, n=101)))


def test_other_client_named_by_a_contact_or_an_address(state):
    body = "Hallo Thomas,\n\nAnna Brandl hat dasselbe Problem, schreib ihr an anna.brandl@seeblick.example.\n\nPetra"
    d = run(state, hf.mail([hf.CLIENT_THOMAS], "Granit Meilenstein", body, n=100))
    hits = rules_of(d)["other-client"].evidence
    assert "Anna Brandl" in hits and "seeblick.example" in hits


# A colleague written to once, long ago, and never heard from: the stale autocomplete entry.
DORMANT = "bernhard.ziegler@lindenhof.example"
LAWYER = "bernd.ott@kanzlei-ott.example"
DAY = 86400.0


@pytest.fixture
def dormant_state(tmp_path):
    state = hf.learned_state(tmp_path)
    park = hf.mail(
        [DORMANT], "Parkplatz", "Hallo Bernhard,\n\nder Parkplatz ist frei.\n\nPetra", n=0, msgid="park@test.example"
    )
    hf.learn_into(state, [park])
    return state


def forwarded_contract(days_later: float, greeting: str = "zur Info") -> bytes:
    body = (
        f"{greeting}, unterschrieben zurück.\n\nPetra\n\n---------- Forwarded message ----------\n"
        f"From: Bernd Ott <{LAWYER}>\nSubject: Vertrag\n\nAnbei der Vertragsentwurf.\n"
    )
    return hf.mail(
        [DORMANT], "Fw: Vertrag", body, msgid="contract@test.example", date=1_700_000_000.0 + days_later * DAY
    )


def test_dormant_contact_nothing_relates_to_holds_and_suggests_the_quoted_address(dormant_state):
    d = run(dormant_state, forwarded_contract(200))
    assert d.verdict >= Verdict.HOLD
    found = rules_of(d)["namesake"]
    assert found.recipient == DORMANT and "once" in found.message
    assert found.suggestion == LAWYER


def test_dormant_contact_written_to_recently_passes(dormant_state):
    assert run(dormant_state, forwarded_contract(30)).verdict <= Verdict.WARN


def test_dormant_contact_greeted_by_name_passes(dormant_state):
    assert run(dormant_state, forwarded_contract(200, greeting="Hallo Bernhard")).verdict <= Verdict.WARN


def test_dormant_contact_check_can_be_turned_off(dormant_state):
    config = parse(hf.CONFIG_TEXT + "\n[rules.namesake]\ndormant_days = 0\n")
    assert run(dormant_state, forwarded_contract(200), config).verdict <= Verdict.WARN


def test_contact_written_to_twice_is_not_dormant(dormant_state):
    again = hf.mail([DORMANT], "Parkplatz", "Bernhard, noch ein Parkplatz.\n\nPetra", n=1, msgid="park2@test.example")
    hf.learn_into(dormant_state, [again])
    assert run(dormant_state, forwarded_contract(200)).verdict <= Verdict.WARN


def test_a_role_address_written_to_once_is_not_dormant(tmp_path):
    state = hf.learned_state(tmp_path)
    toner = hf.mail(
        ["support@drucker.example"], "Toner", "Der Drucker meldet Fehler 42.\n\nPetra", msgid="toner@test.example"
    )
    hf.learn_into(state, [toner])
    again = hf.mail(
        ["support@drucker.example"],
        "Papierstau",
        "Der Drucker hat einen Papierstau.\n\nPetra",
        msgid="jam@test.example",
        date=1_700_000_000.0 + 200 * DAY,
    )
    assert run(state, again).verdict <= Verdict.WARN


def test_internal_note_to_the_client_namesake_alone_holds_and_names_the_boss(state):
    # no colleague on Cc: the topic, and that it has only ever stayed inside the organization
    d = run(state, hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, n=100))
    assert d.verdict >= Verdict.HOLD
    found = rules_of(d)["namesake"]
    assert found.suggestion == hf.BOSS and "inside the organization" in found.message


def test_internal_note_to_the_boss_alone_passes(state):
    assert run(state, hf.mail([hf.BOSS], "Personalkosten Abteilung", INTERNAL_NOTE, n=100)).verdict == Verdict.PASS


def test_the_topic_alone_is_one_signal():
    from sendguard.history.fit import Fit
    from sendguard.history.judgement import topic_only
    from sendguard.history.store import Contact

    def fit(**kw):  # type: ignore[no-untyped-def]
        base = dict(co=0.0, words=0.0, greeting=False, thread=False, mention=0.0, quoted=0.0, org=0.0, age=1.0)
        return Fit(Contact(1, "a@x.example", "", "", "", "x.example", 1, 0, 1, 1, 0.0, 0.0), **{**base, **kw})

    actual = fit()
    assert topic_only(fit(words=2.0), actual)
    assert not topic_only(fit(words=2.0, greeting=True), actual)
    assert not topic_only(fit(words=2.0, topic_org=1.0), actual)
    assert not topic_only(fit(words=2.0, quoted=2.0), actual)


def test_trust_silences_a_lookalike_domain_and_only_for_the_rule_named(state):
    raw = hf.mail(
        ["t.keller@lindehnof.example"], "Budget Quartal", "Hallo Thomas,\n\ndas Budget kommt morgen.\n\nPetra", n=100
    )
    trust.trust(state, "t.keller@lindehnof.example", "namesake")
    assert "lookalike-domain" in rules_of(run(state, raw))  # vouched for another rule only
    trust.trust(state, "t.keller@lindehnof.example", "lookalike-domain")
    d = run(state, raw)
    assert "lookalike-domain" not in rules_of(d) and d.verdict <= Verdict.WARN


@pytest.mark.parametrize(
    "marker",
    [
        "vertraulich",
        "Das bleibt bitte intern",
        "streng intern",
        "nicht weiterleiten",
        "confidential",
        "internal only",
        "do not forward",
        "confidentiel",
        "ne pas diffuser",
        "confidencial",
        "no reenviar",
        "vertrouwelijk",
        "niet doorsturen",
        "конфиденциально",
        "не пересылать",
    ],
)
def test_confidentiality_markers_in_several_languages_warn_about_the_outsider(state, marker):
    body = f"Hallo Anna,\n\n{marker}: die Wartung für Lotse wird teurer.\n\nGruß\nPetra"
    found = rules_of(run(state, hf.mail([hf.CLIENT_ANNA], "Lotse Wartung", body, n=100)))["internal-to-outside"]
    assert found.severity.label == "warn" and found.recipient == hf.CLIENT_ANNA


def test_an_intern_is_no_confidentiality_marker(state):
    body = "Hallo Anna,\n\nour intern Tim joins the Lotse call; he is an intern until May.\n\nGruß\nPetra"
    assert "internal-to-outside" not in rules_of(run(state, hf.mail([hf.CLIENT_ANNA], "Lotse Wartung", body, n=100)))


@pytest.mark.parametrize("spelt", ["utf-8", "punycode"])
def test_a_homoglyph_of_the_own_domain_holds_and_names_the_real_one(state, spelt):
    fake = "lindenh\u043ef.example"  # a Cyrillic o
    domain = fake if spelt == "utf-8" else fake.encode("idna").decode()
    raw = hf.mail([hf.BOSS], "Budget Quartal", "Hallo Thomas,\n\ndas Budget kommt morgen.\n\nPetra", n=100)
    raw = raw.replace(f"<{hf.BOSS}>".encode(), f"<t.keller@{domain}>".encode())
    d = run(state, raw)
    found = rules_of(d)["lookalike-domain"]
    assert d.verdict >= Verdict.HOLD
    assert found.recipient == f"t.keller@{domain}" and found.suggestion == hf.BOSS


@pytest.mark.parametrize("filename", ["Angebot_Bergwerk.pdf", "bergwerk-angebot-2026.pdf", "Granit_Plan.pdf"])
def test_other_client_named_in_an_attachment_name_with_separators_warns(state, filename):
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = hf.ME, hf.CLIENT_ANNA, "Lotse Wartung"
    msg["Message-ID"] = "<att-2@test.example>"
    msg.set_content("Hallo Anna,\n\nanbei die Unterlagen.\n\nGruß\nPetra")
    msg.add_attachment(b"%PDF-1.4\n%%EOF\n", maintype="application", subtype="pdf", filename=filename)
    assert rules_of(run(state, msg.as_bytes()))["other-client"].recipient == hf.CLIENT_ANNA


def test_other_client_named_in_a_hyphenated_compound_warns(state):
    body = "Hallo Anna,\n\ndas Granit-Team hat dieselbe Frage zur Wartung.\n\nGruß\nPetra"
    assert "other-client" in rules_of(run(state, hf.mail([hf.CLIENT_ANNA], "Lotse Wartung", body, n=100)))
    address = "Hallo Anna,\n\nschreib an granit@lindenhof.example, nicht an mich.\n\nGruß\nPetra"
    assert "other-client" not in rules_of(run(state, hf.mail([hf.CLIENT_ANNA], "Lotse Wartung", address, n=101)))


@pytest.mark.parametrize(
    "greeting",
    [
        "Hallo Anna,",
        "Hi Anna,",
        "Dear Ms Brandl,",
        "Sehr geehrte Frau Brandl,",
        "Bonjour Anna,",
        "Hola Anna,",
        "Beste Anna,",
        "Здравствуйте, Анна!",
    ],
)
def test_greeting_someone_else_is_reported_in_every_language(state, greeting):
    body = f"{greeting}\n\nder Meilenstein ist erreicht.\n\nPetra"
    found = rules_of(run(state, hf.mail([hf.CLIENT_THOMAS], "Granit Meilenstein", body, n=100)))["greeting-mismatch"]
    assert found.recipient == hf.CLIENT_THOMAS and found.suggestion == hf.CLIENT_ANNA


@pytest.mark.parametrize("greeting", ["Hi Tom,", "Hallo Thomas,", "Dear Mr Kern,", "Hallo zusammen,", "Dear team,"])
def test_greeting_the_recipient_by_a_short_form_or_a_group_is_fine(state, greeting):
    body = f"{greeting}\n\nder Meilenstein ist erreicht.\n\nPetra"
    assert "greeting-mismatch" not in rules_of(
        run(state, hf.mail([hf.CLIENT_THOMAS], "Granit Meilenstein", body, n=100))
    )


@pytest.mark.parametrize("allow", [f'addresses = ["{hf.CLIENT_THOMAS}"]', 'domains = ["bergwerk.example"]'])
def test_allow_silences_the_recipient_rules_but_not_what_the_mail_carries(state, allow):
    raw = hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, cc=[hf.COLLEAGUE], n=100)
    config = parse(hf.CONFIG_TEXT + f"\n[allow]\n{allow}\n")
    d = run(state, raw, config)
    assert "namesake" not in rules_of(d) and d.verdict <= Verdict.WARN
    assert rules_of(d)["internal-to-outside"].severity == Severity.WARN, "content rules still apply"


def test_trust_for_every_rule_is_for_the_recipient_rules_only(state):
    raw = hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, cc=[hf.COLLEAGUE], n=100)
    trust.trust(state, hf.CLIENT_THOMAS)
    d = run(state, raw)
    assert "namesake" not in rules_of(d) and "internal-to-outside" in rules_of(d)
    trust.trust(state, hf.CLIENT_THOMAS, "internal-to-outside")  # named: the person means it
    assert "internal-to-outside" not in rules_of(run(state, raw))


@pytest.mark.parametrize(
    ("action", "verdict"), [("off", Verdict.WARN), ("warn", Verdict.WARN), ("block", Verdict.BLOCK)]
)
def test_rule_action_turns_a_recipient_rule_off_or_sets_its_weight(state, action, verdict):
    raw = hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, n=100)
    config = parse(
        hf.CONFIG_TEXT + f'\n[rules.namesake]\naction = "{action}"\n[rules.internal-to-outside]\naction = "off"\n'
    )
    d = run(state, raw, config)
    assert ("namesake" in rules_of(d)) is (action != "off")
    assert d.verdict <= verdict if action == "off" else d.verdict == verdict


def test_a_contact_only_heard_from_is_compared_with_its_namesakes(tmp_path):
    """Someone who wrote to the user but was never written to is scored like any contact."""
    heard_from = "thomas.weber@lindenhof.example"
    state = hf.learned_state(tmp_path)
    heard = hf.mail([hf.ME], "Kantine", "Hallo Petra,\n\ndie Kantine ist zu.\n\nThomas", frm=heard_from, n=500)
    hf.learn_into(state, [heard])
    d = run(state, hf.mail([heard_from], "Personalkosten Abteilung", INTERNAL_NOTE, cc=[hf.COLLEAGUE], n=600))
    assert d.verdict >= Verdict.HOLD
    assert rules_of(d)["namesake"].suggestion == hf.BOSS
