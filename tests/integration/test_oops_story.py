"""`sendguard oops` after the story's mistake, read as the user would: one record with a deadline
that never moves, drafts that say only what is true for each case, in the user's own voice with
each person, in one language — German and English.

Petra Lang (tests/support/history_fixtures.py) meant to write to her boss Thomas Keller and
autocomplete picked the client contact Thomas Kern. Real sendguard-sendmail, msmtp, SMTP server.
"""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sendguard.act import queue as q
from sendguard.config import schema as config_mod
from sendguard.recover.oops import oops
from tests.support import history_fixtures as hf
from tests.support.oops_world import deliver, setup_world

NOW = 1796313600.0  # 2026-12-03 16:00 UTC

NOTE_DE = (
    "Hallo Thomas,\n\nzur Umstrukturierung: die Personalkosten der Abteilung müssen sinken, "
    "zwei Stellen fallen weg. Budget und Gehälter besprechen wir morgen.\n\nGruß\nPetra"
)
DPO = '\n[oops]\nmanager = "dsb@lindenhof.example"\n'


def parse(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[return-value]


def text_of(msg: email.message.EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def by_role(paths: list[str]) -> dict[str, email.message.EmailMessage]:
    out = {}
    for p in paths:
        role = Path(p).name.split(".oops-", 1)[1].split("-", 1)[0]
        out[role] = parse(Path(p))
    return out


def test_the_story_in_german_three_drafts_true_in_her_voice_one_language(world, tmp_path):
    setup_world(world, tmp_path, DPO)
    mistake = hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", NOTE_DE, msgid="mistake@lindenhof.example", n=300)
    mistake = mistake.replace(b"Subject:", b"Bcc: ablage@lindenhof.example\nSubject:", 1)
    entry_id = deliver(world, mistake)
    out = world.cli("oops", entry_id, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    record = data["record"]
    assert record["language"] == "de"
    assert record["unintended_recipients"] == [hf.CLIENT_THOMAS]
    # nobody said who was meant: the boss, presumed (the check's suggestion or the closest twin)
    assert record["intended_recipients"] == [hf.BOSS] and record["intended_guess"] is True
    assert any("--intended" in n for n in data["notes"])
    drafts = by_role(data["drafts"])
    assert set(drafts) == {"unintended", "intended", "manager"}
    # the record's measures name exactly the drafts written
    assert record["art_33_3"]["d_measures"].startswith(
        f"Von sendguard oops entworfen, zum Prüfen und Senden: die Bitte an {hf.CLIENT_THOMAS}, die Nachricht "
        f"ungelesen zu löschen und das zu bestätigen; die Nachricht, weitergeleitet an {hf.BOSS}, für den sie "
        "bestimmt war; die Fakten für dsb@lindenhof.example. Eine gesendete E-Mail lässt sich nicht zurückholen."
    )

    for msg in drafts.values():
        assert msg["From"] == "Petra Lang <p.lang@lindenhof.example>"
        body = text_of(msg)
        assert body.rstrip().endswith("Petra Lang")
        # one language: none of the rules' English, no English words of ours
        for english in ("This looks", "outside the organization", "warn", "hold", "the ", " and ", "Found"):
            assert english not in body, (english, body)
        assert "zurückgeholt" not in body and "zurückgerufen" not in body  # never claims a recall

    # the client contact: asked to delete it, in the voice she uses with him (Hallo Thomas / Gruß / du)
    wrong = drafts["unintended"]
    assert wrong["To"] == "Thomas Kern <thomas.kern@bergwerk.example>"
    assert wrong["Subject"] == "Versehentlich an dich gesendet: Personalkosten Abteilung"
    assert wrong["In-Reply-To"] == "<mistake@lindenhof.example>"
    body = text_of(wrong)
    assert body.startswith("Hallo Thomas,\n\nmeine Nachricht „Personalkosten Abteilung“ vom ")
    assert "war nicht für dich bestimmt; ich habe sie versehentlich an dich geschickt." in body
    assert "Bitte lösche sie ungelesen" in body and "dass du sie gelöscht hast" in body
    assert "\n\nGruß\nPetra Lang\n" in body
    assert " Sie " not in body and "Ihnen" not in body

    # the boss never got it: the draft forwards it, and says it went to the client instead
    boss = drafts["intended"]
    assert boss["To"] == "Thomas Keller <t.keller@lindenhof.example>"
    assert boss["Subject"] == "WG: Personalkosten Abteilung"
    body = text_of(boss)
    assert body.startswith("Hallo Thomas,\n\ndie angehängte Nachricht „Personalkosten Abteilung“ vom ")
    assert (
        "war für dich bestimmt. Ich habe sie versehentlich an Thomas Kern (thomas.kern@bergwerk.example) geschickt statt an dich."
        in body
    )
    assert "auch" not in body  # he did not get it "as well"
    assert "Eine gesendete E-Mail lässt sich nicht zurückholen." in body
    (attached,) = [p for p in boss.iter_attachments() if p.get_content_type() == "message/rfc822"]
    assert attached.get_content()["Message-ID"] == "<mistake@lindenhof.example>"
    assert "Personalkosten der Abteilung müssen sinken" in attached.get_content().get_content()
    assert attached.get_content()["Bcc"] is None  # a blind copy stays blind

    # the data protection officer: the facts, formal (no history with them), no du, no Sie
    dpo = drafts["manager"]
    assert dpo["To"] == "dsb@lindenhof.example"
    body = text_of(dpo)
    assert body.startswith("Guten Tag,\n\nzur Kenntnis: Mir ist ein Fehlversand passiert.")
    for fact in (
        "Betreff: Personalkosten Abteilung",
        f"An: {hf.CLIENT_THOMAS}",
        f"Versehentlich an: {hf.CLIENT_THOMAS}",
        f"Gemeint war: {hf.BOSS} (vermutet)",
        "Bemerkt: ",
        f"sendguard oops --json {entry_id}",
        "72 Stunden",
    ):
        assert fact in body, fact
    assert " du " not in body and " Sie " not in body
    assert "\n\nMit freundlichen Grüßen\nPetra Lang\n" in body

    # the record for the register: German through and through, the finding included
    text = world.cli("oops", entry_id).stdout
    record_part = text.split("Drafts (German)")[0]
    assert "Gefunden:" in record_part and "This looks" not in record_part and "[warn]" not in record_part
    assert "(von sendguard vermutet" in record_part


def test_one_incident_one_record_the_deadline_never_moves(world, tmp_path):
    setup_world(world, tmp_path, DPO)
    mistake = hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", NOTE_DE, msgid="m1@lindenhof.example", n=300)
    entry_id = deliver(world, mistake)
    config = config_mod.load(world.config_path)
    drafts_dir = tmp_path / "Drafts"
    first = oops(q.Queue.default(), entry_id, config, now=NOW, drafts_dir=drafts_dir)
    later = oops(q.Queue.default(), entry_id, config, now=NOW + 11 * 60, drafts_dir=drafts_dir)
    assert later.record["id"] == first.record["id"]
    assert later.record["noticed"] == first.record["noticed"] == "2026-12-03T16:00:00+00:00"
    assert later.record["deadline"] == first.record["deadline"] == "2026-12-06T16:00:00+00:00"
    assert later.drafts == first.drafts and len(list((drafts_dir / "cur").iterdir())) == 3
    # confirming who was meant rewrites the same drafts in place; the record says it is no guess now
    confirmed = oops(
        q.Queue.default(), entry_id, config, now=NOW + 20 * 60, drafts_dir=drafts_dir, intended=[hf.COLLEAGUE]
    )
    assert confirmed.drafts == first.drafts and len(list((drafts_dir / "cur").iterdir())) == 3
    assert confirmed.record["intended_recipients"] == [hf.COLLEAGUE] and not confirmed.record["intended_guess"]
    assert parse(confirmed.drafts[1])["To"] == "Mia Sommer <m.sommer@lindenhof.example>"
    assert confirmed.record["deadline"] == first.record["deadline"]
    # a draft the user sent (and the mail program removed) is not written again
    confirmed.drafts[0].unlink()
    again = oops(q.Queue.default(), entry_id, config, now=NOW + 30 * 60, drafts_dir=drafts_dir)
    assert len(again.drafts) == 2 and any("no longer in the drafts folder" in n for n in again.notes)
    assert again.record["intended_recipients"] == [hf.COLLEAGUE]  # what the user confirmed is kept
    # the incident log has it once
    logged = [json.loads(line) for line in world.cli("log", "--json", "tag:oops").stdout.splitlines()]
    assert [row["id"] for row in logged] == [entry_id]


def test_noticed_and_the_list_of_open_incidents(world, tmp_path):
    setup_world(world, tmp_path)
    entry_id = deliver(
        world, hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", NOTE_DE, msgid="m2@x.example", n=300)
    )
    left = datetime.now(UTC) - timedelta(hours=6)  # it left six hours ago, noticed an hour later
    q.Queue.default().get(entry_id).save(delivered=left.isoformat(timespec="seconds"))
    noticed = (datetime.now().astimezone() - timedelta(hours=5)).replace(microsecond=0)
    out = world.cli("oops", entry_id, "--json", "--noticed", noticed.isoformat())
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)["record"]
    assert datetime.fromisoformat(record["noticed"]) == noticed
    assert datetime.fromisoformat(record["deadline"]) == noticed + timedelta(hours=72)
    again = json.loads(world.cli("oops", entry_id, "--json").stdout)["record"]
    assert (again["noticed"], again["deadline"]) == (record["noticed"], record["deadline"])
    listed = world.cli("oops", "--list")
    assert listed.returncode == 0
    (line,) = listed.stdout.splitlines()
    assert line.startswith(entry_id) and ("66 h" in line or "67 h" in line) and "Personalkosten" in line
    rows = [json.loads(r) for r in world.cli("oops", "--list", "--json").stdout.splitlines()]
    assert [r["id"] for r in rows] == [entry_id] and 66 * 3600 < rows[0]["seconds_left"] <= 67 * 3600
    # no manager configured: no draft with an empty To, one line on how to set one
    text = world.cli("oops", entry_id).stdout
    (note,) = [n for n in text.splitlines() if "manager" in n]
    assert "[oops]" in note
    assert "Fakten" not in again["art_33_3"]["d_measures"]  # no manager draft, none claimed
    bad = world.cli("oops", entry_id, "--noticed", "yesterday")
    assert bad.returncode == 64 and "ISO 8601" in bad.stderr and "Traceback" not in bad.stderr


def test_a_time_noticed_before_the_message_left_is_refused_and_changes_nothing(world, tmp_path):
    """It was taken as given: the record said the mistake was seen before it happened, and the
    deadline run from it was over already (the incident gone from `oops --list`)."""
    setup_world(world, tmp_path)
    entry_id = deliver(
        world, hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", NOTE_DE, msgid="m3@x.example", n=300)
    )
    bad = world.cli("oops", entry_id, "--noticed", "2026-01-01T10:00+00:00")
    assert bad.returncode == 64, bad.stderr
    first, hint = bad.stderr.splitlines()
    left = datetime.fromisoformat(q.Queue.default().get(entry_id).meta["delivered"])
    assert first == (
        "sendguard: error: --noticed 2026-01-01T10:00+00:00: that is before the message left "
        f"({left.astimezone().isoformat(timespec='minutes')})"
    )
    assert "after it left" in hint
    assert "oops" not in q.Queue.default().get(entry_id).meta  # no record, no drafts
    assert forgotten() == []  # and not taken out of the history
    assert world.cli("oops", "--list").stdout.startswith("no open incidents")
    ancient = world.cli("oops", entry_id, "--noticed", "0001-01-01T00:00+00:00")  # was a ValueError traceback
    assert ancient.returncode == 64 and "Traceback" not in ancient.stderr, ancient.stderr
    assert ancient.stderr.startswith("sendguard: error: --noticed 0001-01-01T00:00+00:00: that is before 1970\n")
    # a time typed to the minute it left is that moment: never before it
    minute = left.astimezone().replace(second=0)
    out = world.cli("oops", entry_id, "--json", "--noticed", minute.isoformat(timespec="minutes"))
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)["record"]
    assert datetime.fromisoformat(record["noticed"]) == left
    assert datetime.fromisoformat(record["deadline"]) == left + timedelta(hours=72)
    assert forgotten() == ["m3@x.example"]


def forgotten() -> list[str]:
    """The Message-IDs the history was told to forget."""
    import sqlite3

    from sendguard import paths
    from sendguard.history.store import path_in

    db = sqlite3.connect(path_in(paths.state_dir()))
    try:
        return [row[0] for row in db.execute("SELECT msgid FROM forgotten")]
    except sqlite3.OperationalError:  # the table is made on the first forget
        return []
    finally:
        db.close()


ENGLISH_HISTORY = [
    hf.mail(
        [hf.BOSS],
        "Staff costs",
        "Hi Thomas,\n\ncould you look at the staff costs?\n\nCheers\nPetra",
        n=i,
        msgid=f"e{i}@x",
    )
    for i in range(6)
] + [
    hf.mail(
        [hf.CLIENT_THOMAS],
        "Granit milestone",
        "Dear Mr Kern,\n\nthe Granit milestone is reached; acceptance follows.\n\nKind regards\nPetra Lang",
        n=10 + i,
        msgid=f"k{i}@x",
    )
    for i in range(4)
]
NOTE_EN = "Hi Thomas,\n\non the restructuring: staff costs must go down, two positions go.\n\nCheers\nPetra"


def test_the_story_in_english_each_person_in_her_voice(world, tmp_path):
    setup_world(world, tmp_path, DPO, messages=ENGLISH_HISTORY)
    entry_id = deliver(world, hf.mail([hf.CLIENT_THOMAS], "Restructuring", NOTE_EN, msgid="en-1@x", n=300))
    data = json.loads(world.cli("oops", entry_id, "--json", "--intended", hf.BOSS).stdout)
    assert data["record"]["language"] == "en" and data["record"]["intended_guess"] is False
    drafts = by_role(data["drafts"])
    assert set(drafts) == {"unintended", "intended", "manager"}
    facts = text_of(drafts["manager"])
    assert facts.startswith("Hello,\n\nFor your information: I sent an e-mail to the wrong recipient.")
    assert f"Meant for: {hf.BOSS}\n" in facts and "presumed" not in facts  # given, not guessed
    assert "Wrongly to: thomas.kern@bergwerk.example" in facts and "within 72 hours of noticing" in facts
    wrong = text_of(drafts["unintended"])
    assert drafts["unintended"]["Subject"] == "Sent to you by mistake: Restructuring"
    assert wrong.startswith('Dear Mr Kern,\n\nMy message "Restructuring" of ')
    assert "was not meant for you; I sent it to you by mistake." in wrong
    assert wrong.endswith("\n\nKind regards\nPetra Lang\n")
    boss = text_of(drafts["intended"])
    assert drafts["intended"]["Subject"] == "Fwd: Restructuring"
    assert boss.startswith('Hi Thomas,\n\nThe attached message "Restructuring" of ')
    assert "I sent it to Thomas Kern (thomas.kern@bergwerk.example) by mistake instead of to you." in boss
    assert "also" not in boss and boss.endswith("\n\nCheers\nPetra Lang\n")
    for body in (wrong, boss, facts):
        for german in ("Hallo", "Gruß", "Grüße", "Sie ", " du "):
            assert german not in body


def test_when_the_boss_got_it_too_the_draft_says_who_else_did(world, tmp_path):
    setup_world(world, tmp_path)
    raw = hf.mail([hf.BOSS, hf.CLIENT_THOMAS], "Personalkosten Abteilung", NOTE_DE, msgid="both@x", n=300)
    entry_id = deliver(world, raw)
    data = json.loads(world.cli("oops", entry_id, "--json", "--wrong", hf.CLIENT_THOMAS, "--intended", hf.BOSS).stdout)
    boss = by_role(data["drafts"])["intended"]
    assert boss["Subject"] == "Fehlversand: Personalkosten Abteilung"
    assert not any(True for _ in boss.iter_attachments())  # he has it: nothing to forward
    body = text_of(boss)
    assert "meine Nachricht „Personalkosten Abteilung“ vom " in body
    assert "an dich ist versehentlich auch an Thomas Kern (thomas.kern@bergwerk.example) gegangen." in body
    assert "statt" not in body


def test_a_manager_who_is_the_intended_person_gets_one_draft_not_two(world, tmp_path):
    setup_world(world, tmp_path, f'\n[oops]\nmanager = "{hf.BOSS}"\n')
    entry_id = deliver(world, hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", NOTE_DE, msgid="b@x", n=300))
    data = json.loads(world.cli("oops", entry_id, "--json", "--intended", hf.BOSS).stdout)
    assert set(by_role(data["drafts"])) == {"unintended", "intended"}
    assert any("manager" in n and hf.BOSS in n for n in data["notes"])


def test_to_someone_outside_the_organization_the_draft_does_not_name_who_got_it(world, tmp_path):
    """Meant for a client, sent to another client's contact: the forward told the one client the
    other's contact and address, one more disclosure. Inside the organization it still names them."""
    setup_world(world, tmp_path)
    note = "Hallo Anna,\n\ndie Wartung für Lotse ist am Freitag, anbei die Preise.\n\nGruß\nPetra"
    entry_id = deliver(world, hf.mail([hf.CLIENT_THOMAS], "Lotse Wartung", note, msgid="lotse@x", n=300))
    data = json.loads(world.cli("oops", entry_id, "--json", "--intended", hf.CLIENT_ANNA).stdout)
    anna = by_role(data["drafts"])["intended"]
    body = text_of(anna)
    assert "Ich habe sie versehentlich an jemand anderen geschickt statt an dich." in body
    assert "Ich bitte den Empfänger in einer eigenen Nachricht" in body
    assert "kern" not in body.lower() and "bergwerk" not in body.lower()
    assert data["record"]["unintended_recipients"] == [hf.CLIENT_THOMAS]  # the record names them
    # Two outside recipients got it too, and the client it was meant for was one of them.
    raw = hf.mail([hf.CLIENT_ANNA, hf.CLIENT_THOMAS, "x@elsewhere.example"], "Lotse Wartung", note, msgid="l2@x", n=301)
    entry_id = deliver(world, raw)
    wrong = ["--wrong", hf.CLIENT_THOMAS, "--wrong", "x@elsewhere.example"]
    data = json.loads(world.cli("oops", entry_id, "--json", *wrong, "--intended", hf.CLIENT_ANNA).stdout)
    body = text_of(by_role(data["drafts"])["intended"])
    assert "an dich ist versehentlich auch an andere Empfänger gegangen." in body
    assert "Ich bitte die Empfänger in einer eigenen Nachricht" in body
    assert "kern" not in body.lower() and "elsewhere" not in body.lower()
