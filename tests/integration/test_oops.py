"""sendguard oops: after the fact, a breach-register record with the 72-hour deadline and
drafts in the message's language — honest that nothing can be recalled, and nothing sent."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from sendguard.act import events
from sendguard.act import queue as q
from sendguard.config import schema as config_mod
from sendguard.recover.oops import classify_recipients, oops
from sendguard.recover.oops_texts import language_of
from tests.conftest import make_message
from tests.support.hooks import run_printed_learn
from tests.support.wait import wait_until

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
NOW = 1795770000.0  # 2026-11-27 09:00 UTC

GERMAN = (
    "Sehr geehrte Frau Berg,\n\nanbei das Angebot für das Projekt Falke mit den Preisen. "
    "Bitte geben Sie mir bis Freitag Bescheid.\n\nMit freundlichen Grüßen\nDaniel Wolff\n"
)
ENGLISH = "Dear Anna,\n\nplease find the offer for the Falke project attached.\n\nKind regards\nDaniel\n"

EXTRA = """
[identity]
addresses = ["me@nordwerk.example"]
name = "Daniel Wolff"
[organization]
domains = ["nordwerk.example"]
name = "Nordwerk GmbH"
[oops]
manager = "chefin@nordwerk.example"
privacy_contact = "Datenschutz, dsb@nordwerk.example"
"""


def with_pdf(to: str, body: str, subject: str = "Angebot Falke") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Daniel Wolff <me@nordwerk.example>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = "<offer-1@nordwerk.example>"
    msg.set_content(body)
    msg.add_attachment(PDF, maintype="application", subtype="octet-stream", filename="preise.txt")
    return bytes(msg)


def config_text(world) -> str:  # type: ignore[no-untyped-def]
    # The world's config with our sections merged in (identity and organization replaced).
    base = world.config_path.read_text()
    kept = base.split("[clients.kundenfirma]", 1)[1]
    return EXTRA + "\n[clients.kundenfirma]" + kept


def mistake_and_its_drafts_sent(
    world,  # type: ignore[no-untyped-def]
    home: Path,
    subject: str = "Angebot Falke",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The German offer sent to the wrong Petra, ``oops --json`` on it (Anna was meant), and
    each of its drafts sent by mutt (tests.support.mua.mutt_sends_draft): oops's JSON."""
    from tests.support.mua import mutt_sends_draft

    world.config_path.write_text(config_text(world))
    world.send(with_pdf("petra@falsch.example", GERMAN, subject=subject), "-t")
    out = world.cli("oops", "--json", "--intended", "anna.berg@kundenfirma.example")
    assert out.returncode == 0, out.stderr
    report: dict[str, Any] = json.loads(out.stdout)
    for draft in report["drafts"]:
        mutt_sends_draft(world, home, draft, env)
    return report


@pytest.mark.parametrize(
    ("text", "declared", "expected"),
    [
        (GERMAN, "", "de"),
        (ENGLISH, "", "en"),
        ("Hallo Anna, anbei die Zahlen. Grüße", "", "de"),
        ("Hi Anna, the numbers are attached. Thanks", "", "en"),
        (ENGLISH, "de-DE", "de"),  # a declared Content-Language wins
        (GERMAN, "en", "en"),
    ],
)
def test_the_drafts_language_is_the_messages(text, declared, expected):
    assert language_of(text, declared) == expected


def test_unintended_are_the_given_ones_else_the_flagged_ones_else_the_outsiders():
    config = config_mod.parse('[organization]\ndomains = ["nordwerk.example"]\n')
    meta = {
        "envelope": ["bob@nordwerk.example", "anna@kundenfirma.example", "ana@kundenfirm.example"],
        "findings": [
            {
                "rule": "lookalike-domain",
                "severity": "warn",
                "recipient": "ana@kundenfirm.example",
                "suggestion": "anna@kundenfirma.example",
            },
            {"rule": "first-time-recipient", "severity": "info", "recipient": "bob@nordwerk.example"},
        ],
    }
    # the check's suggestion is who was meant, presumed until the user confirms it
    assert classify_recipients(meta, config, [], []) == (
        ["ana@kundenfirm.example"],
        ["anna@kundenfirma.example"],
        True,
    )
    assert classify_recipients({**meta, "findings": []}, config, [], []) == (
        ["anna@kundenfirma.example", "ana@kundenfirm.example"],
        [],
        True,
    )
    assert classify_recipients(meta, config, ["Bob@Nordwerk.example"], ["x@y.example"]) == (
        ["bob@nordwerk.example"],
        ["x@y.example"],
        False,
    )


def test_oops_writes_the_record_and_german_drafts_and_logs_it(world):
    world.config_path.write_text(config_text(world))
    raw = with_pdf("petra@falsch.example", GERMAN)
    assert world.send(raw, "-t").returncode == 0
    before = time.time()
    out = world.cli("oops", "last", "--json", "--intended", "anna.berg@kundenfirma.example")
    after = time.time()
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    record = data["record"]
    assert record["unintended_recipients"] == ["petra@falsch.example"]
    assert record["intended_recipients"] == ["anna.berg@kundenfirma.example"]
    noticed = datetime.fromisoformat(record["noticed"])
    assert datetime.fromisoformat(record["deadline"]) - noticed == timedelta(hours=72)
    assert before - 1 <= noticed.timestamp() <= after + 1  # noticed while oops ran (stamped in seconds)
    (attachment,) = record["attachments"]
    assert attachment["filename"] == "preise.txt"
    assert attachment["real_type"].startswith("application/pdf")  # libmagic, not the name
    assert attachment["size"] == len(PDF) and attachment["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert record["message_sha256"] == hashlib.sha256(raw).hexdigest()
    facts = record["art_33_3"]
    assert set(facts) == {"a_nature", "b_contact", "c_consequences", "d_measures"}
    assert facts["b_contact"] == "Datenschutz, dsb@nordwerk.example"
    # The record speaks the message's language, as the drafts do (its JSON keys never change).
    assert "preise.txt" in facts["a_nature"] and "nicht zurückholen" in facts["d_measures"]
    assert data["language"] == "de" and record["language"] == "de"

    drafts = [Path(p) for p in data["drafts"]]
    assert len(drafts) == 3 and all(p.exists() and p.name.endswith(":2,D") for p in drafts)
    parsed = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in drafts]
    to_wrong, to_intended, to_manager = parsed
    assert to_wrong["To"] == "petra@falsch.example"
    assert to_wrong["From"] == "Daniel Wolff <me@nordwerk.example>"
    assert to_wrong["In-Reply-To"] == "<offer-1@nordwerk.example>"
    assert b"ungelesen" in drafts[0].read_bytes()  # readable as it is in the file (mutt -H shows it raw)
    body = to_wrong.get_content()
    assert "ungelesen" in body and "bestätigen" in body and "Anhänge" in body
    # anna.berg never got it: the draft forwards it, attached
    assert to_intended["To"] == "anna.berg@kundenfirma.example" and to_intended["Subject"] == "WG: Angebot Falke"
    assert "nicht zurückholen" in to_intended.get_body(("plain",)).get_content()
    (forwarded,) = [p for p in to_intended.iter_attachments() if p.get_content_type() == "message/rfc822"]
    assert forwarded.get_content()["Message-ID"] == "<offer-1@nordwerk.example>"
    assert to_manager["To"] == "chefin@nordwerk.example"
    assert "72 Stunden" in to_manager.get_content() and "sha256" in to_manager.get_content()
    for msg in parsed:  # honest: never claims a recall
        text = (
            msg.get_body(("plain",))
            .get_content()
            .lower()
            .replace("cannot be recalled", "")
            .replace("cannot recall", "")
        )
        assert "zurückgerufen" not in text and "recall" not in text
    assert len(world.server.received) == 1  # only the original: oops sends nothing

    logged = [json.loads(line) for line in world.cli("log", "--json", "tag:oops").stdout.splitlines()]
    assert [row["id"] for row in logged] == [record["id"]]
    text = world.cli("oops", record["id"])
    assert "Frist:" in text.stdout and "kann keine E-Mail zurückholen" in text.stdout and "mutt -H" in text.stdout
    assert "Deadline to decide" in text.stdout  # the command's own words stay English


def test_english_message_gets_english_drafts_and_no_manager_draft_without_one(world, tmp_path):
    world.write_config()
    world.send(make_message(to="anna@kundenfirma.example", body=ENGLISH), "-t")
    config = config_mod.load(world.config_path)
    report = oops(q.Queue.default(), None, config, now=NOW, drafts_dir=tmp_path / "Drafts")
    assert report.language == "en"
    assert report.record["noticed"] == "2026-11-27T09:00:00+00:00"
    assert report.record["deadline"] == "2026-11-30T09:00:00+00:00"
    assert report.record["unintended_recipients"] == ["anna@kundenfirma.example"]  # outside the organization
    # Nobody intended is known and no manager configured: no draft with an empty To, but a
    # note saying how to set one.
    assert len(report.drafts) == 1
    assert any("[oops]" in n and "manager" in n for n in report.notes)
    wrong = email.message_from_bytes(report.drafts[0].read_bytes(), policy=email.policy.default)
    assert wrong["Subject"] == "Sent to you by mistake: Falke status"
    assert "without reading" in wrong.get_content() and "confirm" in wrong.get_content()
    assert all(p.parent == tmp_path / "Drafts" / "cur" for p in report.drafts)


def test_every_draft_is_dated_when_it_was_written(world, tmp_path):
    """A draft without a Date is listed by aerc with "???????" for its date."""
    world.config_path.write_text(config_text(world))
    world.send(with_pdf("petra@falsch.example", GERMAN), "-t")
    config = config_mod.load(world.config_path)
    kw = {"drafts_dir": tmp_path / "Drafts", "intended": ["anna.berg@kundenfirma.example"]}
    report = oops(q.Queue.default(), None, config, now=NOW, **kw)
    assert len(report.drafts) == 3
    for path in report.drafts:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert len(msg.get_all("Date", [])) == 1, path.name
        assert msg["Date"].datetime.timestamp() == NOW, msg["Date"]
    # Refreshed later, each draft says when it was written again.
    later = oops(q.Queue.default(), None, config, now=NOW + 600, **kw)
    for path in later.drafts:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert msg["Date"].datetime.timestamp() == NOW + 600


def test_the_note_without_a_manager_names_the_file_where_setting_one_works(world):
    """setup asks for the manager only when it writes a new config: the note must say where it goes."""
    world.write_config()
    world.send(make_message(to="anna@kundenfirma.example", body=ENGLISH), "-t")
    out = world.cli("oops").stdout
    note = next(line for line in out.splitlines() if "no draft for a manager" in line)
    assert str(world.config_path) in note and "setup asks" not in note
    with world.config_path.open("a") as f:
        f.write('\n[oops]\nmanager = "chefin@nordwerk.example"\n')
    again = world.cli("oops")
    assert "no draft for a manager" not in again.stdout, again.stdout + again.stderr
    assert "oops-manager-" in again.stdout


def test_oops_on_a_message_that_did_not_leave_says_so(world):
    world.write_config('[rules.external-recipient]\naction = "hold"\n[delay]\nseconds = 600\n')
    assert world.cli("oops").returncode != 0  # nothing left at all
    world.send(make_message(to="anna@kundenfirma.example"), "-t")
    held = q.Queue.default().entries()[0]
    out = world.cli("oops", held.id)
    assert out.returncode == 64 and "did not leave" in out.stderr and "Traceback" not in out.stderr
    world.send(make_message(to="bob@nordwerk.example"), "-t")
    waiting = [e for e in q.Queue.default().entries() if e.state == q.DELAYED][0]
    out = world.cli("oops", waiting.id)
    assert f"sendguard undo {waiting.id}" in out.stderr

    # Stop its undo worker, once it has started (a detached process: it writes worker.pid itself).
    def worker_pid() -> int | None:
        try:
            return int(json.loads((waiting.path / "worker.pid").read_text()))
        except (OSError, ValueError):  # not started, or not done writing it
            return None

    pid = wait_until(worker_pid, 20, 0.02)
    assert pid is not None, "the undo worker never started"
    os.kill(pid, 9)


def test_a_message_the_queue_pruned_is_read_back_from_the_incident_log(world, tmp_path):
    import shutil

    world.config_path.write_text(config_text(world))
    raw = with_pdf("petra@falsch.example", GERMAN)
    assert world.send(raw, "-t").returncode == 0
    assert events.settle(q.Queue.default().root.parent)  # sendmail's detached observers logged it
    (entry,) = q.Queue.default().entries()
    shutil.rmtree(entry.path)  # as `queue run` does after [queue] keep_days
    config = config_mod.load(world.config_path)
    for ref in (None, entry.id, entry.id[:17]):
        report = oops(q.Queue.default(), ref, config, now=NOW, drafts_dir=tmp_path / "Drafts")
        assert report.entry.id == entry.id
        assert report.record["unintended_recipients"] == ["petra@falsch.example"]
        assert report.record["message_sha256"] == hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()
        assert report.record["attachments"][0]["real_type"].startswith("application/pdf")
        assert report.language == "de"
    assert q.Queue.default().entries() == []  # restored beside the queue, never into it
    assert world.cli("queue", "run").returncode == 0 and len(world.server.received) == 1
    rows = [json.loads(line) for line in world.cli("log", "--json", "tag:oops").stdout.splitlines()]
    assert {r["id"] for r in rows} == {entry.id}
    assert world.cli("oops", "20991231-000000-ffffff").returncode != 0


@pytest.mark.slow
def test_mutt_sends_an_oops_draft_as_written(world, tmp_path):
    from tests.support.mua import mutt_sends_draft

    world.config_path.write_text(config_text(world))
    world.send(with_pdf("petra@falsch.example", GERMAN), "-t")
    config = config_mod.load(world.config_path)
    report = oops(q.Queue.default(), None, config, now=NOW, drafts_dir=tmp_path / "Drafts")
    mutt_sends_draft(world, tmp_path / "mutthome", report.drafts[0])
    sent = world.server.received[-1]
    assert sent.rcpt_tos == ["petra@falsch.example"]
    received = email.message_from_bytes(sent.data, policy=email.policy.default)
    assert received["Subject"] == "Versehentlich an Sie gesendet: Angebot Falke"
    assert received["In-Reply-To"] == "<offer-1@nordwerk.example>"
    assert "ungelesen" in received.get_content() and "bestätigen" in received.get_content()


@pytest.mark.slow
def test_mutt_sends_the_forwarding_draft_with_the_original_attached(world, tmp_path):
    from tests.support.mua import mutt_sends_draft

    world.config_path.write_text(config_text(world))
    world.send(with_pdf("petra@falsch.example", GERMAN), "-t")
    config = config_mod.load(world.config_path)
    report = oops(
        q.Queue.default(), None, config, now=NOW, drafts_dir=tmp_path / "Drafts", intended=["bob@nordwerk.example"]
    )
    (forward,) = [p for p in report.drafts if ".oops-intended-" in p.name]
    mutt_sends_draft(world, tmp_path / "mutthome", forward)
    sent = world.server.received[-1]
    assert sent.rcpt_tos == ["bob@nordwerk.example"]
    received = email.message_from_bytes(sent.data, policy=email.policy.default)
    assert received["Subject"] == "WG: Angebot Falke"
    assert "war für Sie bestimmt" in received.get_body(("plain",)).get_content()
    (original,) = [p for p in received.iter_attachments() if p.get_content_type() == "message/rfc822"]
    inner = original.get_content()
    assert inner["Message-ID"] == "<offer-1@nordwerk.example>"
    (pdf,) = list(inner.iter_attachments())
    assert pdf.get_content() == PDF  # the original's attachment arrives intact


@pytest.mark.slow
def test_oops_again_after_sending_its_drafts_is_about_the_mistake_not_the_apology(world, tmp_path):
    """The drafts, sent, are the latest mail that left: oops again (to refresh, or to see the
    deadline) took the forward for a new mistake, the person it was meant for for the wrong one,
    and drafted the confidential original to the one who got it by mistake."""
    record = mistake_and_its_drafts_sent(world, tmp_path / "mutthome")["record"]
    assert len(world.server.received) == 4  # the mistake and its three drafts
    again = world.cli("oops")
    assert again.returncode == 0, again.stderr
    assert f"({record['id']})" in again.stdout.splitlines()[0]
    skipped = [line for line in again.stdout.splitlines() if "a draft of sendguard oops" in line]
    assert len(skipped) == 3, again.stdout
    listed = world.cli("oops", "--list").stdout.splitlines()
    assert [line.split()[0] for line in listed] == [record["id"]]
    # A mistake made after the apology is the latest again.
    world.send(make_message(to="zoe@elsewhere.example", body=ENGLISH), "-t")
    latest = json.loads(world.cli("oops", "--json").stdout)["record"]
    assert latest["id"] != record["id"] and latest["recipients"] == ["zoe@elsewhere.example"]


@pytest.mark.slow
def test_the_drafts_once_sent_are_never_learned(world, tmp_path):
    """The apology names the mistake's subject and the forward carries it whole: learned, they
    taught the history that the wrong person is one the user writes such mail to, so the same
    mistake went out unheld the next time (and the forward to the right person was held)."""
    import sqlite3

    from sendguard.history.forget import message_id
    from sendguard.history.store import path_in

    mistake_and_its_drafts_sent(world, tmp_path / "mutthome")
    sent = world.server.received[1:]
    assert len(sent) == 3
    world.cli("queue", "list")  # waits for the observers of the last delivery
    ids = [message_id(email.message_from_bytes(m.data)["Message-ID"]) for m in sent]
    db = sqlite3.connect(path_in(Path(os.environ["XDG_DATA_HOME"]) / "sendguard"))
    learned = [i for i in ids if db.execute("SELECT 1 FROM messages WHERE msgid = ?", (i,)).fetchone()]
    kept_out = [i for i in ids if db.execute("SELECT 1 FROM forgotten WHERE msgid = ?", (i,)).fetchone()]
    db.close()
    assert learned == [] and kept_out == ids
    # The copies the mail program filed in Sent are not learned either.
    sent_folder = tmp_path / "Sent"
    for sub in ("cur", "new", "tmp"):
        (sent_folder / sub).mkdir(parents=True)
    for n, m in enumerate(sent):
        (sent_folder / "cur" / f"{n}.copy:2,S").write_bytes(m.data.replace(b"\r\n", b"\n"))
    learn = world.cli("learn", str(sent_folder))
    assert learn.stdout.startswith("learned 0 new messages (3 already known or unusable)"), learn.stdout


@pytest.mark.slow
def test_drafts_a_mutt_in_the_c_locale_sent_are_known_by_their_folded_subject(world, tmp_path):
    """With no LANG, mutt sends the draft's "Gehälter" as "Geh??lter": the sent drafts were
    neither passed over by oops again nor kept out of the history."""
    import sqlite3

    from sendguard.history.forget import message_id
    from sendguard.history.store import path_in

    c_locale = {k: v for k, v in world.env().items() if k not in ("LANG", "LC_ALL", "LC_CTYPE", "LANGUAGE")}
    first = mistake_and_its_drafts_sent(world, tmp_path / "mutthome", subject="Gehälter Abteilung", env=c_locale)
    sent = world.server.received[1:]
    assert len(sent) == 3
    assert any(b"Geh??lter" in m.data for m in sent), "mutt in the C locale sends what it can"
    again = world.cli("oops")
    assert f"({first['record']['id']})" in again.stdout.splitlines()[0]
    ids = [message_id(email.message_from_bytes(m.data)["Message-ID"]) for m in sent]
    db = sqlite3.connect(path_in(Path(os.environ["XDG_DATA_HOME"]) / "sendguard"))
    learned = [i for i in ids if db.execute("SELECT 1 FROM messages WHERE msgid = ?", (i,)).fetchone()]
    db.close()
    assert learned == []


def test_the_drafts_name_each_person_as_the_original_did(world, tmp_path):
    """The To field's encoded words were decoded before the list was read: an encoded
    "Müller, Hans" became the address "Müller" and the name "Hans"."""
    world.write_config()
    to = "=?utf-8?q?M=C3=BCller=2C_Hans?= <hans@kunde.example>, =?utf-8?q?boss=40nordwerk.example?= <anna@k.example>"
    world.send(make_message(to=to, body=ENGLISH), "-t")
    report = oops(q.Queue.default(), None, config_mod.load(world.config_path), now=NOW, drafts_dir=tmp_path / "D")
    drafts = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in report.drafts]
    by_address = {d["To"].addresses[0].addr_spec: d for d in drafts}
    assert set(by_address) == {"hans@kunde.example", "anna@k.example"}
    assert by_address["hans@kunde.example"]["To"].addresses[0].display_name == "Hans Müller"
    assert by_address["anna@k.example"]["To"].addresses[0].display_name == ""  # an address is no name


@pytest.mark.parametrize("option", ["--wrong", "--intended"])
def test_an_address_that_is_not_utf8_is_one_clear_error(world, option):
    """A Latin-1 terminal's byte 0xfc went into a draft's header: UnicodeEncodeError, a traceback."""
    assert world.send(make_message(to="anna@kundenfirma.example", body=ENGLISH), "-t").returncode == 0
    proc = world.cli("oops", option, "m\udcfcller@kunde.example")
    assert proc.returncode == 64, proc.stderr
    first, hint = proc.stderr.splitlines()
    assert first == f"sendguard: error: {option} 'm\\xfcller@kunde.example' is not UTF-8 text"
    assert "UTF-8 locale" in hint
    assert world.cli("oops", "--list").stdout.startswith("no open incidents")


def test_a_drafts_folder_that_cannot_be_written_is_one_line_naming_it(world, tmp_path):
    """It was a NotADirectoryError traceback."""
    not_a_folder = tmp_path / "drafts-is-a-file"
    not_a_folder.write_text("")
    world.write_config(f'[drafts]\nmaildir = "{not_a_folder}"\n')
    assert world.send(make_message(to="anna@kundenfirma.example", body=ENGLISH), "-t").returncode == 0
    proc = world.cli("oops")
    assert proc.returncode == 73
    assert proc.stderr == f"sendguard: error: {not_a_folder / 'tmp'}: Not a directory\n"


def test_the_drafts_are_signed_with_the_name_the_original_was_sent_under(world, tmp_path):
    """An encoded "Wolff, Daniel" was read as the address "Wolff" with no name: unsigned drafts."""
    world.write_config()
    sender = "=?utf-8?q?Wolff=2C_Daniel?= <me@nordwerk.example>"
    world.send(make_message(to="anna@kundenfirma.example", body=ENGLISH, sender=sender), "-t")
    report = oops(q.Queue.default(), None, config_mod.load(world.config_path), now=NOW, drafts_dir=tmp_path / "D")
    (draft,) = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in report.drafts]
    assert draft["From"].addresses[0].display_name == "Wolff, Daniel"
    assert draft["From"].addresses[0].addr_spec == "me@nordwerk.example"


@pytest.mark.parametrize("how", ["suggestion", "edit"])
def test_after_a_fix_in_review_only_who_the_fix_brought_in_got_it_by_mistake(world, how):
    """The Cc that the original and the fixed message share was listed as unintended too: the
    person chose that Cc twice; only the recipient the fix put in can have got it by mistake."""
    from sendguard import paths
    from sendguard.recover.fix import replace_message, take_suggestion

    world.write_config()
    raw = make_message(to="anna@kundenfirrna.example", extra_headers="Cc: kai@partner.example\n")
    assert world.send(raw, "-t").returncode == 75  # a lookalike of the client's domain: held
    (row,) = [json.loads(line) for line in world.cli("queue", "list", "--json").stdout.splitlines()]
    config = config_mod.load(world.config_path)
    if how == "suggestion":  # review's s
        assert take_suggestion(q.Queue.default(), row["id"], config, paths.state_dir()).delivered
    else:  # review's e, then r
        fixed = raw.replace(b"To: anna@kundenfirrna.example", b"To: anna@kundenfirma.example")
        assert replace_message(q.Queue.default(), row["id"], fixed, config, paths.state_dir()).verdict == "pass"
        assert world.cli("release", row["id"]).returncode == 0
    (got,) = world.server.received
    assert sorted(got.rcpt_tos) == ["anna@kundenfirma.example", "kai@partner.example"]
    out = world.cli("oops", "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)["record"]
    assert sorted(record["recipients"]) == ["anna@kundenfirma.example", "kai@partner.example"]
    assert record["unintended_recipients"] == ["anna@kundenfirma.example"]
    assert "kai@partner.example" not in record["intended_recipients"]
    # --wrong still names anyone
    again = json.loads(world.cli("oops", "--json", "--wrong", "kai@partner.example").stdout)["record"]
    assert again["unintended_recipients"] == ["kai@partner.example"]


@pytest.mark.parametrize("damage", ["not a database", "a directory"])
def test_a_damaged_history_skips_the_history_part_and_the_record_is_written(world, tmp_path, damage):
    """oops refused its record (exit 65) while the history was damaged, though the record and
    the drafts need none of it: both are written, and it says what was skipped and why; once
    the history is set aside and learned again, oops again takes the message out of it."""

    from sendguard import paths
    from sendguard.history.store import open_read_only, path_in
    from tests.conftest import sendguard_exe
    from tests.support import history_fixtures as hf

    world.config_path.write_text(config_text(world))
    mistake = with_pdf("petra@falsch.example", GERMAN)
    mail = [make_message(to=f"kollege{n}@nordwerk.example", subject=f"Plan {n}") for n in range(5)]
    sent = hf.write_maildir(tmp_path / "Sent", [*mail, mistake])
    assert world.cli("learn", str(sent)).returncode == 0
    assert world.send(mistake, "-t").returncode == 0
    state = paths.state_dir()
    assert events.settle(state)  # the delivery observer is done with the history
    history = path_in(state)
    for part in history.parent.glob(history.name + "*"):
        part.unlink()
    if damage == "a directory":
        history.mkdir()
    else:
        history.write_bytes(b"not a database " * 100)

    out = world.cli("oops", "--json", "--intended", "anna.berg@kundenfirma.example")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["record"]["unintended_recipients"] == ["petra@falsch.example"]
    assert len(data["drafts"]) == 3 and all(Path(p).exists() for p in data["drafts"])
    assert data["history_skipped"].startswith(f"the history {history} is damaged (")
    text = world.cli("oops", data["record"]["id"])
    assert text.returncode == 0, text.stderr
    assert f"The history part was skipped: the history {history} is damaged (" in text.stdout
    assert "so this message is not taken out of it" in text.stdout
    assert "has forgotten" not in text.stdout
    fix = next(line for line in text.stdout.splitlines() if line.startswith("Set it aside and learn again: "))
    command = fix.removeprefix("Set it aside and learn again: ").split("; then `", 1)[0]
    done = run_printed_learn(command, sent, sendguard_exe(), world.env())
    assert done.returncode == 0, done.stderr
    store = open_read_only(state)
    assert store is not None and store.contact("petra@falsch.example") is not None, "learned again from Sent"

    again = world.cli("oops", "--json", data["record"]["id"])
    assert again.returncode == 0, again.stderr
    redone = json.loads(again.stdout)
    assert redone["record"]["id"] == data["record"]["id"]
    assert redone["record"]["deadline"] == data["record"]["deadline"]
    assert "history_skipped" not in redone
    store = open_read_only(state)
    contact = store.contact("petra@falsch.example") if store is not None else None
    assert contact is None or contact.sent == 0, "taken out of the history now"
