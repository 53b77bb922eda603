"""After a mistake left through the team's milter: the administrator forgets it from the
sender's history (``forget --as``) and writes the record and drafts (``oops --as``).

The milter's state directory is built by the milter's own code: ``learn --as`` seeds Petra's
history, the policy the workers run holds her message to the client's Thomas, and her
identical resend confirms it (the "Sent anyway" case). The commands run as the installed
``sendguard``; the worker test drives the real worker loop over pipes.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import os
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sendguard.act import queue as q
from sendguard.config.schema import load
from sendguard.milter import senders
from sendguard.milter.policy import ACCEPT, REJECT, Policy, Transaction
from sendguard.model import Verdict
from tests.conftest import sendguard_exe
from tests.support import history_fixtures as hf
from tests.support.milter import PipedWorker, answer

INTERNAL_NOTE = (
    "Hallo Thomas,\n\nzur Umstrukturierung: die Personalkosten der Abteilung müssen sinken, "
    "zwei Stellen fallen weg. Budget und Gehälter besprechen wir morgen.\n\nGruß\nPetra"
)


def team_config(state: Path, extra: str = "") -> str:
    """Petra's organization and clients, nobody's identity: the milter's config."""
    world = hf.CONFIG_TEXT.split("\n[organization]", 1)[1]
    return (
        f"\n[organization]{world}\n[log]\nnotmuch = false\n\n[milter]\n"
        f'hold = "reject"\nstate_dir = "{state}"\nnotify = false\n{extra}'
    )


@dataclass
class Team:
    root: Path
    config_path: Path
    state: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sendguard_exe(), "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={k: v for k, v in os.environ.items() if k != "SENDGUARD_CONFIG"},
        )

    def policy(self) -> Policy:
        return Policy(load(self.config_path), self.state)

    def learned(self, msgid: str, sender: str = hf.ME) -> bool:
        db = sqlite3.connect(senders.sender_dir(self.state, sender) / "history.sqlite")
        try:
            return db.execute("SELECT 1 FROM messages WHERE msgid = ?", (msgid,)).fetchone() is not None
        finally:
            db.close()

    def sent_to(self, addr: str, sender: str = hf.ME) -> int:
        db = sqlite3.connect(senders.sender_dir(self.state, sender) / "history.sqlite")
        try:
            row = db.execute("SELECT sent FROM contacts WHERE addr = ?", (addr,)).fetchone()
        finally:
            db.close()
        return int(row[0]) if row else 0


@pytest.fixture
def team(tmp_path) -> Team:
    state = tmp_path / "milter"
    config = tmp_path / "team.toml"
    config.write_text(team_config(state))
    t = Team(tmp_path, config, state)
    sent = hf.write_maildir(tmp_path / "Sent", hf.history_messages())
    out = t.cli("learn", "--as", hf.ME, str(sent))
    assert out.returncode == 0, out.stderr
    return t


def tx(raw: bytes, sender: str = hf.ME) -> Transaction:
    return Transaction(
        sender=sender, envelope_from=sender, recipients=[hf.CLIENT_THOMAS], raw=raw, queue_id="4ABC123DEF"
    )


def wrong_thomas(msgid: str) -> bytes:
    return hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, msgid=msgid, n=100)


def sent_anyway(policy: Policy, msgid: str = "mistake@lindenhof.example") -> str:
    """Held, then confirmed by the identical resend: it went out and was learned. The id."""
    held = answer(policy, tx(wrong_thomas(msgid)))
    assert held.action == REJECT, held
    confirmed = answer(policy, tx(b"Received: by mx id 9XYZ; now\n" + wrong_thomas(msgid)))
    assert confirmed.action == ACCEPT and confirmed.entry_id == held.entry_id
    return held.entry_id


@pytest.mark.parametrize("how", ["id", "message-id"])
def test_forget_as_takes_a_confirmed_mistake_out_of_the_senders_history(team, how):
    known = team.sent_to(hf.CLIENT_THOMAS)
    policy = team.policy()  # one worker's policy: its history stays open between messages
    entry_id = sent_anyway(policy)
    assert team.sent_to(hf.CLIENT_THOMAS) == known + 1, "the milter learned what it let through"
    next_one = wrong_thomas("next@lindenhof.example")
    assert answer(policy, tx(next_one)).verdict == Verdict.PASS, "the mistake now looks routine"

    out = team.cli("forget", "--as", hf.ME.upper(), entry_id if how == "id" else "<mistake@lindenhof.example>")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        f"forgot <mistake@lindenhof.example>: taken out of {hf.ME}'s history (1 contacts); never learned again\n"
    )
    assert team.sent_to(hf.CLIENT_THOMAS) == known
    # the running policy reads the history as it is now: held again
    assert answer(policy, tx(next_one)).action == REJECT
    # and learning never takes it in again: not the milter, not learn --as from the Sent folder
    policy.learn(hf.ME, wrong_thomas("mistake@lindenhof.example"), [hf.ME])
    sent = hf.write_maildir(team.root / "Sent2", [wrong_thomas("mistake@lindenhof.example")])
    out = team.cli("learn", "--as", hf.ME, str(sent))
    assert out.returncode == 0 and "learned 0 new messages" in out.stdout, out.stdout
    assert team.sent_to(hf.CLIENT_THOMAS) == known


def test_forget_as_while_a_workers_batch_holds_the_message(team, monkeypatch):
    """A worker learns what it let through once idle; the administrator's forget in between
    keeps it out of the batch's write."""
    from sendguard.milter import worker

    monkeypatch.setattr(worker, "LEARN_IDLE", 3600.0)  # learn at EOF only: the batch waits for us
    known = team.sent_to(hf.CLIENT_THOMAS)
    piped = PipedWorker(load(team.config_path), team.state)
    held = piped.ask(tx(wrong_thomas("batched@lindenhof.example")))
    assert held.action == REJECT
    assert team.policy().told(held.entry_id)  # the milter process, once it handed the 550 to Postfix
    resend = piped.ask(tx(b"Received: by mx; now\n" + wrong_thomas("batched@lindenhof.example")))
    assert resend.action == ACCEPT  # sent anyway; waiting in the batch

    out = team.cli("forget", "--as", hf.ME, held.entry_id)
    assert out.returncode == 0, out.stderr
    assert f"was not in {hf.ME}'s history; it will never be learned" in out.stdout

    piped.stop(120)  # the milter stops: the worker learns its batch and exits
    assert not piped.thread.is_alive()
    assert team.sent_to(hf.CLIENT_THOMAS) == known


def test_forget_as_says_what_is_wrong_in_one_line(team):
    entry_id = sent_anyway(team.policy())
    cases = [
        (["forget", "--as", "k.neu@lindenhof.example", entry_id], f"{entry_id} is a message of {hf.ME}, not of"),
        (["forget", "--as", hf.ME, "20991231-000000-ffffff"], "the milter kept no such message"),
        (["forget", "--as", "nobody@lindenhof.example", "<x@y.example>"], "the milter has no history for nobody@"),
        (["forget", "--as", " ", "<x@y.example>"], "--as needs the sender's address"),
    ]
    for args, said in cases:
        out = team.cli(*args)
        assert out.returncode == 64, (args, out.stdout)
        assert said in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not senders.sender_dir(team.state, "nobody@lindenhof.example").exists()


# -- oops --as ----------------------------------------------------------------------------------

MANAGER = "c.vogt@lindenhof.example"


def drafts_by_role(paths: list[str], record_id: str) -> dict[str, email.message.EmailMessage]:
    out = {}
    for path in paths:
        label = Path(path).name.split(":")[0].split(".", 2)[2]
        role = label.removeprefix("oops-").removesuffix(f"-{record_id}")
        out[role] = email.message_from_bytes(Path(path).read_bytes(), policy=email.policy.default)
    return out


def voice(draft: email.message.EmailMessage) -> tuple[str, str, str, str, str]:
    """What says who writes to whom and how: From, To, Subject, greeting, closing and name."""
    lines = [line for line in draft.get_body().get_content().splitlines() if line.strip()]
    return str(draft["From"]), str(draft["To"]), str(draft["Subject"]), lines[0], "\n".join(lines[-2:])


def test_oops_as_writes_the_local_record_and_drafts_in_the_senders_name(tmp_path, world):
    """The same drafts as Petra's own `oops` for the same mistake, from the milter's copy."""
    from tests.support.oops_world import deliver, setup_world

    extra = f'\n[oops]\nmanager = "{MANAGER}"\n'
    state = tmp_path / "milter"
    config = tmp_path / "team.toml"
    config.write_text(team_config(state, extra))
    team = Team(tmp_path, config, state)
    assert (
        team.cli("learn", "--as", hf.ME, str(hf.write_maildir(tmp_path / "Sent", hf.history_messages()))).returncode
        == 0
    )
    known = team.sent_to(hf.CLIENT_THOMAS)
    policy = team.policy()
    entry_id = sent_anyway(policy)

    # one time for both, an hour ago: the copies left two hours ago (never noticed before that)
    noticed = time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() - 3600))
    two_hours_ago = datetime.fromtimestamp(time.time() - 7200, UTC).isoformat(timespec="seconds")
    q.Queue(state / "queue").get(entry_id).save(delivered=two_hours_ago)
    out = team.cli("oops", "--as", hf.ME, entry_id, "--json", "--noticed", noticed)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    record = got["record"]
    assert record["id"] == entry_id and record["language"] == "de"
    assert record["unintended_recipients"] == [hf.CLIENT_THOMAS] and record["intended_recipients"] == [hf.BOSS]
    where = state / "oops" / entry_id
    assert got["record_file"] == str(where / "record.txt")
    assert entry_id in (where / "record.txt").read_text()
    assert json.loads((where / "record.json").read_text())["deadline"] == record["deadline"]
    assert all(Path(p).is_relative_to(where / "drafts") for p in got["drafts"])
    team_drafts = drafts_by_role(got["drafts"], entry_id)
    assert set(team_drafts) == {"unintended", "intended", "manager"}
    assert not any("Traceback" in line for line in got["notes"])

    # forgotten from her history as her own oops does: the next such mail is held again
    assert team.sent_to(hf.CLIENT_THOMAS) == known
    assert answer(policy, tx(wrong_thomas("next@lindenhof.example"))).action == REJECT

    # again: the same record id, noticed time, deadline and drafts (the contract of oops)
    again = json.loads(team.cli("oops", "--as", hf.ME, entry_id, "--json").stdout)
    assert {k: again["record"][k] for k in ("id", "noticed", "deadline")} == {
        k: record[k] for k in ("id", "noticed", "deadline")
    }
    assert sorted(again["drafts"]) == sorted(got["drafts"])

    # Petra's own oops for the same mistake, on her machine with the same history
    setup_world(world, tmp_path / "petra", extra=extra)
    local_id = deliver(world, wrong_thomas("mistake@lindenhof.example"))
    q.Queue.default().get(local_id).save(delivered=two_hours_ago)
    local = world.cli("oops", local_id, "--json", "--noticed", noticed)
    assert local.returncode == 0, local.stderr
    local_drafts = drafts_by_role(json.loads(local.stdout)["drafts"], local_id)
    assert set(local_drafts) == set(team_drafts)
    for role, draft in team_drafts.items():
        assert voice(draft) == voice(local_drafts[role]), role
    assert voice(team_drafts["unintended"])[0] == f"Petra Lang <{hf.ME}>"


def test_oops_as_prints_where_the_record_and_drafts_are(team):
    entry_id = sent_anyway(team.policy())
    out = team.cli("oops", "--as", hf.ME, entry_id)
    assert out.returncode == 0, out.stderr
    where = team.state / "oops" / entry_id
    assert f"in {hf.ME}'s name, not sent — give them to {hf.ME} to check and send:" in out.stdout
    assert f"Record: {where}/record.txt" in out.stdout
    assert f"{hf.ME}'s history has forgotten this message" in out.stdout
    listed = team.cli("oops", "--as", hf.ME, "--list", "--json")
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [entry_id]
    assert team.cli("oops", "--as", "k.neu@lindenhof.example", "--list", "--json").stdout == ""


def test_oops_as_for_a_sender_whose_name_is_unknown_says_the_drafts_are_unsigned(tmp_path):
    state = tmp_path / "milter"
    config = tmp_path / "team.toml"
    config.write_text(team_config(state, '\n[rules.external-recipient]\naction = "hold"\n'))
    team = Team(tmp_path, config, state)
    newcomer = "k.neu@lindenhof.example"
    raw = hf.mail([hf.CLIENT_THOMAS], "Angebot", "Hallo,\n\nanbei das Angebot.\n", frm=newcomer, msgid="n@x.example")
    raw = raw.replace(f"Petra Lang <{newcomer}>".encode(), newcomer.encode())
    policy = team.policy()
    held = answer(policy, tx(raw, sender=newcomer))
    assert held.action == REJECT
    assert answer(policy, tx(raw, sender=newcomer)).action == ACCEPT
    out = team.cli("oops", "--as", newcomer, "--json")  # "last": the one that left
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["record"]["id"] == held.entry_id
    assert any("not signed" in note for note in got["notes"]), got["notes"]
    assert any("no draft for a manager" in note for note in got["notes"])


def test_oops_as_says_what_is_wrong_in_one_line(team):
    policy = team.policy()
    only_held = hf.mail([hf.CLIENT_THOMAS], "Personalkosten", INTERNAL_NOTE, msgid="only-held@lindenhof.example", n=101)
    held = answer(policy, tx(only_held)).entry_id
    assert held
    entry_id = sent_anyway(policy)
    cases = [
        (["oops", "--as", hf.ME, held], f"message {held} was held and not sent again: it did not leave"),
        (["oops", "--as", "k.neu@lindenhof.example", entry_id], f"{entry_id} is a message of {hf.ME}, not of"),
        (["oops", "--as", "k.neu@lindenhof.example"], "the milter kept no message of k.neu@lindenhof.example"),
        (["oops", "--as", hf.ME, "20991231-000000-ffffff"], "the milter kept no such message"),
    ]
    for args, said in cases:
        out = team.cli(*args)
        assert out.returncode == 64, (args, out.stdout, out.stderr)
        assert said in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (team.state / "oops" / held).exists()


def test_oops_as_for_a_quarantined_message_once_the_administrator_released_it(tmp_path):
    from sendguard.milter.policy import QUARANTINE
    from sendguard.milter.postfix import _note_decision

    state = tmp_path / "milter"
    config = tmp_path / "team.toml"
    config.write_text(team_config(state).replace('hold = "reject"', 'hold = "quarantine"'))
    team = Team(tmp_path, config, state)
    assert (
        team.cli("learn", "--as", hf.ME, str(hf.write_maildir(tmp_path / "Sent", hf.history_messages()))).returncode
        == 0
    )
    held = answer(team.policy(), tx(wrong_thomas("q@lindenhof.example")))
    assert held.action == QUARANTINE
    out = team.cli("oops", "--as", hf.ME, held.entry_id)
    assert out.returncode == 64 and "waits in Postfix's hold queue: it did not leave" in out.stderr, out.stderr
    assert "sendguard discard --postfix 4ABC123DEF" in out.stderr
    assert _note_decision(load(config), "4ABC123DEF", "released") == []  # what release --postfix notes
    out = team.cli("oops", "--as", hf.ME, held.entry_id, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["record"]["unintended_recipients"] == [hf.CLIENT_THOMAS]


@pytest.mark.slow
def test_behind_postfix_the_id_from_the_notice_is_acted_on_while_the_milter_runs(tmp_path, smtp_server):
    """The whole story with real parts: Postfix, the milter and its worker processes, msmtp.
    Petra confirms a hold by sending again; the notice gives the id; the administrator runs
    ``oops --as`` with the milter running; her next such mail is held again (without it, the
    mistake learned would let it through: test_forget_as_takes_a_confirmed_mistake_out...)."""
    import re

    from tests.integration.test_milter_postfix import _petras_world
    from tests.support.mua import unix
    from tests.support.postfix import Team as PostfixTeam
    from tests.support.postfix import wait_until

    # one worker: what it learns, it learns in the order it let it through (the race below)
    with PostfixTeam(tmp_path, smtp_server, base_config=_petras_world(), extra="workers = 1\n") as team:
        sent = hf.write_maildir(tmp_path / "Sent", hf.history_messages())
        assert team.cli("learn", "--as", hf.ME, str(sent)).returncode == 0
        history = Team(tmp_path, team.config, team.state)
        known = history.sent_to(hf.CLIENT_THOMAS)
        wrong = wrong_thomas("mistake@lindenhof.example")
        proc = team.msmtp(wrong, hf.ME, hf.CLIENT_THOMAS)
        assert b"550 5.7.1 Held;" in proc.stderr, proc.stderr
        (entry_id,) = re.findall(r"\(sendguard ([0-9a-f-]+)\)", proc.stderr.decode())[-1:]
        assert team.msmtp(wrong, hf.ME, hf.CLIENT_THOMAS).returncode == 0  # sent anyway
        team.sent(1)
        (notice,) = team.notices(1, "Sent anyway after a hold:")
        text = " ".join(unix(notice.data).decode().split())
        assert f"Id: {entry_id}" in text and "With the id they can write the record" in text
        wait_until(lambda: history.sent_to(hf.CLIENT_THOMAS) == known + 1, 60, "the worker learning it")

        out = team.cli("oops", "--as", hf.ME, entry_id, "--json", "--mail")
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        assert got["record"]["unintended_recipients"] == [hf.CLIENT_THOMAS] and got["drafts"]
        assert history.sent_to(hf.CLIENT_THOMAS) == known
        # Postfix's sendmail -t took the recipient from the header, not from the drafts inside
        (mailed,) = team.notices(1, "Breach record and drafts:")
        assert mailed.rcpt_tos == [hf.ME] and got["mailed_to"] == hf.ME
        parts = list(email.message_from_bytes(unix(mailed.data), policy=email.policy.default).iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", *["message/rfc822"] * len(got["drafts"])]

        again = wrong_thomas("again@lindenhof.example")
        proc = team.msmtp(again, hf.ME, hf.CLIENT_THOMAS)
        assert b"550 5.7.1 Held;" in proc.stderr, "the workers read her history without the mistake"

        # forget --as racing the worker's learning: whichever comes first, it stays out
        second = hf.mail([hf.CLIENT_THOMAS], "Personalkosten Q1", INTERNAL_NOTE, msgid="second@lindenhof.example")
        proc = team.msmtp(second, hf.ME, hf.CLIENT_THOMAS)
        (second_id,) = re.findall(r"\(sendguard ([0-9a-f-]+)\)", proc.stderr.decode())[-1:]
        assert team.msmtp(second, hf.ME, hf.CLIENT_THOMAS).returncode == 0  # in the worker's batch now
        raced = team.cli("forget", "--as", hf.ME, second_id)
        assert raced.returncode == 0, raced.stderr
        # (measured: forget comes while the batch waits; learned-then-forgotten is the oops above)
        lunch = hf.mail(
            [hf.COLLEAGUE], "Mittag", "Hallo Mia,\n\nMittag um zwölf?\n\nPetra", msgid="lunch@lindenhof.example"
        )
        assert team.msmtp(lunch, hf.ME, hf.COLLEAGUE).returncode == 0
        wait_until(lambda: history.learned("lunch@lindenhof.example"), 60, "the worker learning what came after")
        assert not history.learned("second@lindenhof.example")
        assert history.sent_to(hf.CLIENT_THOMAS) == known


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the state directory to another user")
def test_root_is_sent_to_the_milters_user_and_changes_nothing(team):
    """Files root wrote (0600) the milter's own user could not read back."""
    entry_id = sent_anyway(team.policy())
    before = sorted((p, p.stat().st_mtime_ns) for p in team.state.rglob("*"))
    os.chown(team.state, 65534, 65534)
    try:
        for args in (["forget", "--as", hf.ME, entry_id], ["oops", "--as", hf.ME, entry_id]):
            out = team.cli(*args)
            assert out.returncode == 64 and out.stderr.count("\n") == 1, out.stderr
            assert f"{team.state} belongs to " in out.stderr and "run this as" in out.stderr
    finally:
        os.chown(team.state, 0, 0)
    assert sorted((p, p.stat().st_mtime_ns) for p in team.state.rglob("*")) == before


def test_oops_as_mail_sends_the_sender_alone_the_drafts_to_open_and_send(tmp_path, smtp_server):
    """msmtp -t as the notice command, aiosmtpd receiving: one mail, to Petra only; each draft
    attached byte for byte; a subject carrying CR LF (an encoded word) adds no header."""
    from sendguard.cli.support.loopback import write_msmtprc
    from tests.support.mua import unix

    rc = write_msmtprc(tmp_path / "msmtprc", smtp_server.port, "postmaster@lindenhof.example")
    extra = f'notice_command = ["msmtp", "-C", "{rc}", "-t"]\n\n[oops]\nmanager = "{MANAGER}"\n'
    state = tmp_path / "milter"
    config = tmp_path / "team.toml"
    config.write_text(team_config(state, extra))
    team = Team(tmp_path, config, state)
    sent = hf.write_maildir(tmp_path / "Sent", hf.history_messages())
    assert team.cli("learn", "--as", hf.ME, str(sent)).returncode == 0
    policy = team.policy()
    hostile = "=?utf-8?q?Personalkosten=0D=0ABcc:_evil@angreifer.example=0D=0A?="
    raw = wrong_thomas("mistake@lindenhof.example").replace(b"Personalkosten Abteilung", hostile.encode())
    assert answer(policy, tx(raw)).action == REJECT
    confirmed = answer(policy, tx(b"Received: by mx id 9XYZ; now\n" + raw))
    assert confirmed.action == ACCEPT

    out = team.cli("oops", "--as", hf.ME, confirmed.entry_id, "--mail", "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["mailed_to"] == hf.ME and len(got["drafts"]) == 3
    (mail,) = smtp_server.received
    assert mail.rcpt_tos == [hf.ME]
    data = unix(mail.data)
    head, _ = data.split(b"\n\n", 1)
    assert b"angreifer" not in head.replace(b"\n ", b" ").split(b"Subject:", 1)[0]
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["To"] == hf.ME and parsed.get_all("Bcc") is None and parsed.get_all("Cc") is None
    assert [h for h in parsed.keys() if h.lower() not in {"from", "to", "subject", "date", "message-id"}] == [
        "Auto-Submitted",
        "X-Sendguard-Notice",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    ], [k for k in parsed.keys()]
    text, *attached = parsed.iter_parts()
    words = " ".join(text.get_content().split())
    assert f"Deadline to decide on notifying the supervisory authority: {got['record']['deadline']}" in words
    assert f"Wrong: {hf.CLIENT_THOMAS}" in words and f"Id: {confirmed.entry_id}" in words
    assert [p.get_content_type() for p in attached] == ["message/rfc822"] * 3
    assert all(p.is_attachment() for p in attached)
    # byte for byte: what lies between the boundaries is each draft as written
    boundary = parsed.get_boundary().encode()
    pieces = data.split(b"\n--" + boundary)[2:-1]
    bodies = [piece.split(b"\n\n", 1)[1] for piece in pieces]
    assert bodies == [unix(Path(p).read_bytes()) for p in got["drafts"]]
    assert [str(p.get_content()["To"]) for p in attached] == [
        str(email.message_from_bytes(Path(p).read_bytes(), policy=email.policy.default)["To"]) for p in got["drafts"]
    ]

    # in words too; and a sender the milter has no address for is told in one line
    out = team.cli("oops", "--as", hf.ME, confirmed.entry_id, "--mail")
    assert out.returncode == 0, out.stderr
    assert f"Mailed to {hf.ME} alone: what happened, and the drafts attached to send as new." in out.stdout
    assert len(smtp_server.received) == 2
    alone = team.cli("oops", "--mail")
    assert alone.returncode == 64 and alone.stderr.count("\n") == 1, alone.stderr
    # a submission that fails: what was written is still said, then the error, exit 75
    config.write_text(team_config(state, 'notice_command = ["/nonexistent/sendmail"]\n'))
    failed = team.cli("oops", "--as", hf.ME, confirmed.entry_id, "--mail")
    assert failed.returncode == 75 and "Record: " in failed.stdout and "Mailed" not in failed.stdout
    assert failed.stderr.startswith(f"sendguard: error: the record and drafts could not be mailed to {hf.ME}: ")
    assert "Traceback" not in failed.stderr and len(smtp_server.received) == 2


def test_the_shell_completes_the_milters_senders_and_their_copies_that_left(team):
    """bash, as a user's would: ``--as`` offers the senders the milter keeps a history for,
    the ID after it that sender's copies that left (not the local queue's)."""
    import shutil

    from tests.integration.test_completion import complete_in_bash

    if not shutil.which("bash"):
        pytest.skip("bash is not installed")
    policy = team.policy()
    entry_id = sent_anyway(policy)
    held = answer(policy, tx(wrong_thomas("only-held@lindenhof.example"))).entry_id  # never left
    policy.learn("dwolff", wrong_thomas("d@lindenhof.example"), ["d.wolff@lindenhof.example"])
    config = ("--config", str(team.config_path))
    assert complete_in_bash(*config, "oops", "--as", "") == ["dwolff", hf.ME]
    assert complete_in_bash(*config, "forget", "--as", "p.") == [hf.ME]
    assert complete_in_bash(*config, "learn", "--as", "dw") == ["dwolff"]
    offered = complete_in_bash(*config, "oops", "--as", hf.ME, "")
    assert offered == [entry_id] and held not in offered
    assert complete_in_bash(*config, "forget", "--as", "dwolff", "") == []
    assert complete_in_bash("--config", str(team.root / "nowhere.toml"), "oops", "--as", "") == []


def test_oops_as_with_the_senders_history_damaged_writes_the_record_and_says_what_was_skipped(team):
    from sendguard.history.store import path_in
    from sendguard.milter import senders

    entry_id = sent_anyway(team.policy())
    history = path_in(senders.sender_dir(team.state, hf.ME))
    for part in history.parent.glob(history.name + "*"):
        part.unlink()
    history.write_bytes(b"not a database " * 100)
    out = team.cli("oops", "--as", hf.ME, entry_id)
    assert out.returncode == 0, out.stderr
    assert (team.state / "oops" / entry_id / "record.txt").exists()
    assert f"{hf.ME}'s history part was skipped: the history {history} is damaged (" in out.stdout
    assert "has forgotten" not in out.stdout
    assert (
        f"`sendguard doctor --postfix` says how to set it aside and seed it again; then `sendguard oops {entry_id} --as {hf.ME}`"
        in out.stdout
    )
