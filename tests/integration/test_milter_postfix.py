"""``sendguard milter`` behind a real Postfix: msmtp and smtplib submit, aiosmtpd receives.

Postfix runs on loopback ports with its own config, queue and log (tests/support/postfix.py);
what the client is told is asserted as the client sees it (msmtp's stderr, smtplib's exception).
"""

from __future__ import annotations

import functools
import json
import os
import smtplib
import subprocess

import pytest

from sendguard.act.queue import Queue
from sendguard.incidents import log_dir
from tests.conftest import make_message
from tests.support.mua import unix
from tests.support.postfix import Team, wait_until

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("transport", ["unix", "inet"])
def test_a_passing_message_goes_through_postfix_unchanged(tmp_path, smtp_server, transport):
    with Team(tmp_path, smtp_server, transport=transport) as team:
        message = make_message(to="kollege@nordwerk.example", subject="Lunch")
        proc = team.msmtp(message, "me@nordwerk.example", "kollege@nordwerk.example")
        assert proc.returncode == 0, proc.stderr
        (got,) = team.delivered(1)
        assert got.rcpt_tos == ["kollege@nordwerk.example"]
        assert b"X-Sendguard" not in got.data
        body = message.split(b"\n\n", 1)[1]
        assert got.data.replace(b"\r\n", b"\n").endswith(body)


def test_a_hold_is_a_550_with_the_reason_and_the_way_out_and_a_resend_confirms(tmp_path, smtp_server):
    extra = '[rules.external-recipient]\naction = "hold"\n'
    with Team(tmp_path, smtp_server, extra=extra) as team:
        message = make_message()
        proc = team.msmtp(message, "me@nordwerk.example", "anna@kundenfirma.example")
        assert proc.returncode != 0
        err = proc.stderr.decode()
        assert "550" in err and "5.7.1" in err, err
        assert "anna@kundenfirma.example" in err
        assert "550 5.7.1 Held; send again within 10 min to send anyway. anna@kundenfirma.example" in err
        assert team.mail() == []
        # the mail program sends it again: new Date and Message-ID, otherwise the same
        again = message.replace(b"09:00:00", b"09:01:30").replace(b"<test-", b"<retry-")
        proc = team.msmtp(again, "me@nordwerk.example", "anna@kundenfirma.example")
        assert proc.returncode == 0, proc.stderr
        (got,) = team.sent(1)
        assert b"X-Sendguard: confirmed by the sender (external-recipient)" in got.data
        # the confirmation is used once
        third = team.msmtp(again, "me@nordwerk.example", "anna@kundenfirma.example")
        assert third.returncode != 0 and b"550" in third.stderr


def test_a_hold_whose_worker_died_before_its_550_is_held_again_on_the_retry_not_sent(
    tmp_path, smtp_server, monkeypatch
):
    """The check worker kept the held copy and died before its 550 went out: the client got a
    451. Its identical retry must not confirm a hold nobody saw; it gets the 550 (same copy),
    and the notice the dead worker never sent; only the resend after that sends it."""
    import re

    from sendguard import faults

    monkeypatch.setenv(faults.ENV, "after-kept")  # the milter's workers die right after keeping a copy
    extra = '[rules.external-recipient]\naction = "hold"\n'
    with Team(tmp_path, smtp_server, extra=extra) as team:
        message = make_message()
        proc = team.msmtp(message, "me@nordwerk.example", "anna@kundenfirma.example")
        assert proc.returncode != 0 and b"451 4.3.0" in proc.stderr, proc.stderr
        retry = team.msmtp(message, "me@nordwerk.example", "anna@kundenfirma.example")
        assert retry.returncode != 0 and b"550 5.7.1 Held;" in retry.stderr, retry.stderr
        assert team.mail() == []
        (entry_id,) = set(re.findall(r"\(sendguard ([0-9a-f-]+)\)", retry.stderr.decode()))
        assert [e.id for e in Queue(team.state / "queue").entries()] == [entry_id], "one copy"
        (notice,) = team.notices(1, "Held, not sent")
        assert f"Id: {entry_id}" in " ".join(unix(notice.data).decode().split())
        resend = team.msmtp(message, "me@nordwerk.example", "anna@kundenfirma.example")
        assert resend.returncode == 0, resend.stderr
        (got,) = team.sent(1)
        assert b"X-Sendguard: confirmed by the sender (external-recipient)" in got.data


def test_a_message_the_check_dies_on_every_time_gets_a_550_that_says_so_at_the_third_try(
    tmp_path, smtp_server, monkeypatch
):
    """Not "temporary failure" for days: twice a 451, then a 550 the sender can read, and the
    message kept on the server, never sent unchecked."""
    import re

    from sendguard import faults

    monkeypatch.setenv(faults.ENV, "milter-worker-check")  # every check worker dies on every message
    with Team(tmp_path, smtp_server) as team:
        message = make_message(to="kollege@nordwerk.example")
        for _ in range(2):
            proc = team.msmtp(message, "me@nordwerk.example", "kollege@nordwerk.example")
            assert proc.returncode != 0 and b"451 4.3.0" in proc.stderr, proc.stderr
        again = message.replace(b"<test-", b"<again-")  # the mail program's resend: a new Message-ID
        proc = team.msmtp(again, "me@nordwerk.example", "kollege@nordwerk.example")
        err = proc.stderr.decode()
        assert proc.returncode != 0, err
        assert (
            "550 5.7.1 sendguard could not check this message: the check process died (3 tries); it was not sent" in err
        )
        (entry_id,) = re.findall(r"\(sendguard ([0-9a-f-]+)\)", err)[-1:]
        (kept,) = Queue(team.state / "queue").entries()
        assert kept.id == entry_id and kept.state == "blocked"
        (notice,) = team.notices(1, "Not sent, could not be checked")
        assert notice.rcpt_tos == ["me@nordwerk.example"]
        assert f"Id: {entry_id}" in " ".join(unix(notice.data).decode().split())
        assert team.mail() == []


def test_the_failures_of_a_message_count_across_a_crash_and_a_restart_of_the_milter(tmp_path, smtp_server, monkeypatch):
    """A client that retries for ever is not told 451 for ever because the milter restarted
    between its tries (Restart=always after a crash, a systemd restart, an upgrade)."""
    from sendguard import faults

    monkeypatch.setenv(faults.ENV, "milter-worker-check")  # every check worker dies on every message
    with Team(tmp_path, smtp_server) as team:
        message = make_message(to="kollege@nordwerk.example")
        for restart in (team.milter.kill, team.milter.stop):  # SIGKILL, then SIGTERM as systemd sends it
            proc = team.msmtp(message, "me@nordwerk.example", "kollege@nordwerk.example")
            assert proc.returncode != 0 and b"451 4.3.0" in proc.stderr, proc.stderr
            restart()
            team.milter.start()
        proc = team.msmtp(message, "me@nordwerk.example", "kollege@nordwerk.example")
        assert b"550 5.7.1 sendguard could not check this message: the check process died (3 tries)" in proc.stderr
        assert [e.state for e in Queue(team.state / "queue").entries()] == ["blocked"]
        assert team.mail() == []


def test_a_hold_mails_the_sender_a_notice_once_and_the_resend_that_confirms_says_it_went_out(tmp_path, smtp_server):
    """neomutt shows nothing when the server answers 550: the sender's mailbox is where the hold
    is seen. One notice per held message, every reason in full; the confirming resend sends no
    second one, only a line that it went out."""
    import re

    extra = '[rules.external-recipient]\naction = "hold"\n'
    with Team(tmp_path, smtp_server, extra=extra) as team:
        body = "Hello Anna,\n\nplease find attached the offer.\n\nRegards\nMe\n"  # two reasons
        message = make_message(subject="Falke offer", body=body)
        proc = team.msmtp(message, "me@nordwerk.example", "anna@kundenfirma.example")
        assert proc.returncode != 0 and b"550 5.7.1 Held;" in proc.stderr, proc.stderr
        (entry_id,) = re.findall(r"\(sendguard ([0-9a-f-]+)\)", proc.stderr.decode())[-1:]
        (notice,) = team.notices(1)
        assert notice.rcpt_tos == ["me@nordwerk.example"] and team.mail() == []
        text = " ".join(unix(notice.data).decode().split())
        assert "Subject: Held, not sent: Falke offer" in text
        assert f"Id: {entry_id}" in text and "anna@kundenfirma.example is client kundenfirma" in text
        assert "but the message has no attachment" in text  # the reason the 550 line had no room for
        assert "send it again unchanged before" in text
        again = message.replace(b"09:00:00", b"09:01:30").replace(b"<test-", b"<retry-")
        proc = team.msmtp(again, "me@nordwerk.example", "anna@kundenfirma.example")
        assert proc.returncode == 0, proc.stderr
        (got,) = team.sent(1)
        assert got.rcpt_tos == ["anna@kundenfirma.example"]
        (sent,) = team.notices(1, "Sent anyway after a hold: Falke offer")
        assert sent.rcpt_tos == ["me@nordwerk.example"] and f"Id:      {entry_id}".encode() in unix(sent.data)
        assert len(team.notices(subject="Held, not sent")) == 1
        assert "verdict=hold action=accept" in team.milter.log()


def test_with_notify_false_a_hold_mails_nobody(tmp_path, smtp_server):
    from tests.support import wait

    extra = 'notify = false\n[rules.external-recipient]\naction = "hold"\n'
    with Team(tmp_path, smtp_server, extra=extra) as team:
        message = make_message(subject="Falke offer")
        assert team.msmtp(message, "me@nordwerk.example", "anna@kundenfirma.example").returncode != 0
        assert team.msmtp(message, "me@nordwerk.example", "anna@kundenfirma.example").returncode == 0
        (got,) = team.sent(1)
        assert got.rcpt_tos == ["anna@kundenfirma.example"]
        wait_until(lambda: team.postfix.queue() == [], 60, "an empty Postfix queue")
        # a notice reaches the relay within a second or two (the test above); none comes here
        assert not wait.wait_until(lambda: team.notices(), 5), [n.data for n in team.notices()]


def test_smtplib_sees_the_same_rejection(tmp_path, smtp_server):
    extra = '[rules.external-recipient]\naction = "hold"\n'
    with Team(tmp_path, smtp_server, extra=extra) as team:
        with smtplib.SMTP("127.0.0.1", team.postfix.port, timeout=60) as client:
            with pytest.raises(smtplib.SMTPDataError) as caught:
                client.sendmail("me@nordwerk.example", ["anna@kundenfirma.example"], make_message())
        assert caught.value.smtp_code == 550
        (line,) = caught.value.smtp_error.decode().splitlines()  # one reason: one line
        assert line.startswith("5.7.1 Held; send again within 10 min to send anyway. anna@kundenfirma.example ")


def _petras_world() -> str:
    """The history fixtures' organization and clients, with nobody's identity: the milter's config."""
    from tests.support import history_fixtures as hf

    base = hf.CONFIG_TEXT.replace("[identity]", "[previous-identity]").split("[previous-identity]")[0]
    base += hf.CONFIG_TEXT.split("\n[organization]", 1)[1].join(["\n[organization]", ""])
    return base + '\n[log]\nnotmuch = false\n\n[milter]\nhold = "{hold}"\nstate_dir = "{state}"\n'


def _wrong_thomas() -> bytes:
    """Petra writes about the department's staff costs to the client's Thomas, not her boss."""
    from tests.support import history_fixtures as hf
    from tests.unit.test_rules_recipients import INTERNAL_NOTE

    return hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, cc=[hf.COLLEAGUE], n=100)


def test_each_sender_is_judged_by_their_own_history_seeded_by_learn_as(tmp_path, smtp_server):
    from tests.support import history_fixtures as hf

    with Team(tmp_path, smtp_server, base_config=_petras_world()) as team:
        sent = hf.write_maildir(tmp_path / "Sent", hf.history_messages())
        learned = team.cli("learn", "--as", hf.ME, str(sent))
        assert learned.returncode == 0, learned.stderr
        wrong = _wrong_thomas()
        proc = team.msmtp(wrong, hf.ME, hf.CLIENT_THOMAS, hf.COLLEAGUE)
        assert proc.returncode != 0
        err = proc.stderr.decode()
        # the last line, all that mutt shows, says it all
        last = [line for line in err.splitlines() if "server message: 550 " in line][-1]
        assert (
            f"550 5.7.1 Held; send again within 10 min to send anyway. {hf.CLIENT_THOMAS} may be the wrong "
            f"person; did you mean {hf.BOSS}?"
        ) in last, err
        # someone else, with no such history, sends the same text: nothing ties it to Thomas Keller
        other = wrong.replace(hf.ME.encode(), b"k.neu@lindenhof.example")
        proc = team.msmtp(other, "k.neu@lindenhof.example", hf.CLIENT_THOMAS, hf.COLLEAGUE)
        assert proc.returncode == 0, proc.stderr
        team.sent(1)


def test_the_sender_is_the_login_not_the_envelope_sender(tmp_path, smtp_server):
    """SMTP AUTH (Cyrus SASL, a sasldb) as Petra: her history judges, whatever MAIL FROM says;
    logged in as someone else with Petra's address in MAIL FROM, hers does not."""
    from sendguard.milter import senders
    from tests.support import history_fixtures as hf

    newcomer = "k.neu@lindenhof.example"
    users = {hf.ME: "petra-secret", newcomer: "kai-secret"}
    with Team(tmp_path, smtp_server, base_config=_petras_world(), sasl_users=users) as team:
        sent = hf.write_maildir(tmp_path / "Sent", hf.history_messages())
        learned = team.cli("learn", "--as", hf.ME, str(sent))
        assert learned.returncode == 0, learned.stderr
        # the login is checked for real: a wrong password is refused before any mail
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            team.submit_as(hf.ME, "wrong", b"Subject: x\n\nx\n", hf.ME, hf.BOSS)
        assert refused.value.smtp_code == 535
        wrong = _wrong_thomas()
        # logged in as Petra, the newcomer's address as the envelope and From: Petra's history holds it
        disguised = wrong.replace(hf.ME.encode(), newcomer.encode())
        with pytest.raises(smtplib.SMTPDataError) as caught:
            team.submit_as(hf.ME, "petra-secret", disguised, newcomer, hf.CLIENT_THOMAS, hf.COLLEAGUE)
        assert caught.value.smtp_code == 550
        last = caught.value.smtp_error.decode().splitlines()[-1]
        assert f"{hf.CLIENT_THOMAS} may be the wrong person; did you mean {hf.BOSS}?" in last
        assert f"sender={hf.ME} verdict=hold action=reject" in team.milter.log()
        # logged in as the newcomer, Petra's address as the envelope and From: his (empty) history
        team.submit_as(newcomer, "kai-secret", wrong, hf.ME, hf.CLIENT_THOMAS, hf.COLLEAGUE)
        (got,) = team.sent(1)
        assert got.mail_from == hf.ME
        assert f"sender={newcomer} verdict=pass action=accept" in team.milter.log()
        # and what went through is learned into the newcomer's history, not Petra's
        wait_until(
            lambda: (senders.sender_dir(team.state, newcomer) / "history.sqlite").exists(),
            60,
            "the newcomer's history",
        )


def test_what_the_milter_lets_through_grows_the_senders_history(tmp_path, smtp_server):
    import sqlite3

    from sendguard.milter import senders

    with Team(tmp_path, smtp_server) as team:
        message = make_message(to="kollege@nordwerk.example", subject="Lunch")
        assert team.msmtp(message, "me@nordwerk.example", "kollege@nordwerk.example").returncode == 0
        store = senders.sender_dir(team.state, "me@nordwerk.example") / "history.sqlite"

        def learned() -> bool:
            if not store.exists():
                return False
            try:
                with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
                    row = db.execute("SELECT sent FROM contacts WHERE addr = 'kollege@nordwerk.example'").fetchone()
            except sqlite3.Error:  # being created right now
                return False
            return bool(row and row[0] == 1)

        wait_until(learned, 60, "the message in the sender's history")
        assert not senders.sender_dir(team.state, "kollege@nordwerk.example").exists()


def test_quarantine_puts_it_in_postfixs_hold_queue_and_the_admin_releases_or_discards(tmp_path, smtp_server):
    from sendguard.history.store import open_read_only
    from sendguard.milter import senders

    extra = '[rules.external-recipient]\naction = "hold"\n'
    with Team(tmp_path, smtp_server, hold="quarantine", extra=extra) as team:
        for n in (1, 2):
            message = make_message(subject=f"Falke offer {n}")
            with smtplib.SMTP("127.0.0.1", team.postfix.port, timeout=60) as client:
                client.sendmail("me@nordwerk.example", ["anna@kundenfirma.example"], message)  # 250: accepted, held
        wait_until(lambda: len([m for m in team.postfix.queue() if m["queue_name"] == "hold"]) == 2, 60, "2 held")
        # the sender hears about each hold; nothing went to Anna
        notices = team.delivered(2)
        assert sorted(n.rcpt_tos[0] for n in notices) == ["me@nordwerk.example"] * 2
        assert all(b"Held for review: Falke offer" in n.data for n in notices)
        listed = team.cli("queue", "list", "--postfix", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = {json.loads(line)["subject"]: json.loads(line) for line in listed.stdout.splitlines()}
        assert set(rows) == {"Falke offer 1", "Falke offer 2"}
        assert rows["Falke offer 1"]["recipients"] == ["anna@kundenfirma.example"]
        assert any("kundenfirma.example" in r for r in rows["Falke offer 1"]["reasons"])
        released = team.cli("release", "--postfix", rows["Falke offer 1"]["id"])
        assert released.returncode == 0, released.stderr
        dropped = team.cli("discard", "--postfix", rows["Falke offer 2"]["id"])
        assert dropped.returncode == 0, dropped.stderr
        (got,) = [m for m in team.delivered(3) if m.rcpt_tos == ["anna@kundenfirma.example"]]
        assert b"Subject: Falke offer 1" in got.data
        wait_until(lambda: team.postfix.queue() == [], 60, "an empty Postfix queue")
        assert len(smtp_server.received) == 3
        again = team.cli("release", "--postfix", rows["Falke offer 2"]["id"])
        assert again.returncode != 0 and "hold queue" in again.stderr
        # the decisions are on the milter's copies and in its incident log
        copies = {e.meta["subject"]: e for e in Queue(team.state / "queue").entries()}
        assert copies["Falke offer 1"].meta["postfix_decision"] == "released"
        assert copies["Falke offer 2"].meta["postfix_decision"] == "discarded"
        assert copies["Falke offer 1"].meta["events"][-1]["event"] == "released from Postfix's hold queue"

        # what the administrator let go is the sender's mail to Anna from now on; what they discarded is not
        def learned() -> bool:
            history = open_read_only(senders.sender_dir(team.state, "me@nordwerk.example"))
            if history is None:  # not there yet, or made and still empty
                return False
            sent = history.contact("anna@kundenfirma.example")
            return sent is not None and sent.sent == 1

        wait_until(learned, 60, "the released message in the sender's history")
        wait_until(lambda: not list((team.state / "learning").iterdir()), 60, "its journal learned and gone")
        records = [f.read_bytes() for f in (log_dir(team.state) / "cur").iterdir()]
        events = {
            (line.split(b": ", 1)[1], r.split(b"X-Sendguard-Id: ", 1)[1].split(b"\n", 1)[0])
            for r in records
            for line in r.splitlines()
            if line.startswith(b"X-Sendguard-Event: ")
        }
        for subject, event in (("Falke offer 1", b"released"), ("Falke offer 2", b"discarded")):
            assert (event, copies[subject].id.encode()) in events, events
        assert team.cli("queue", "list", "--postfix", "--json").stdout == ""


def test_a_copy_of_a_message_in_postfixs_hold_queue_outlives_keep_days(tmp_path, smtp_server):
    """The real hold queue (postqueue -j) decides which old copies stay; a year passes by the clock."""
    import time

    from sendguard.config.schema import load
    from sendguard.milter import retention

    extra = '[rules.external-recipient]\naction = "hold"\n'
    with Team(tmp_path, smtp_server, hold="quarantine", extra=extra) as team:
        for n in (1, 2):
            with smtplib.SMTP("127.0.0.1", team.postfix.port, timeout=60) as client:
                client.sendmail("me@nordwerk.example", ["anna@kundenfirma.example"], make_message(subject=f"Falke {n}"))
        wait_until(lambda: len(team.held()) == 2, 60, "2 held")
        config = load(team.config)
        a_year_later = time.time() + 365 * 86400
        assert retention.prune(team.state, config, a_year_later) == []
        copies = {e.meta["subject"]: e for e in Queue(team.state / "queue").entries()}
        dropped = team.cli("discard", "--postfix", copies["Falke 2"].meta["postfix_queue_id"])
        assert dropped.returncode == 0, dropped.stderr
        assert retention.prune(team.state, config, a_year_later) == [copies["Falke 2"].id]
        assert [e.meta["subject"] for e in Queue(team.state / "queue").entries()] == ["Falke 1"]
        assert len(team.held()) == 1


def test_the_quarantine_notice_goes_to_whoever_logged_in(tmp_path, smtp_server):
    """SMTP AUTH (a sasldb): Petra logs in with her address, D. Wolff with a bare login; both send
    as the team's shared mailbox. Each notice reaches the person, not the shared mailbox."""
    from sendguard.milter import senders

    petra, team_box = "petra@nordwerk.example", "team@nordwerk.example"
    users = {petra: "petra-secret", "dwolff": "dieter-secret"}
    extra = '[rules.external-recipient]\naction = "hold"\n'
    with Team(tmp_path, smtp_server, hold="quarantine", extra=extra, sasl_users=users) as team:
        team.submit_as(
            petra,
            "petra-secret",
            make_message(subject="Falke P", sender=team_box),
            team_box,
            "anna@kundenfirma.example",
        )
        (notice,) = team.delivered(1)
        assert notice.rcpt_tos == [petra] and b"Held for review: Falke P" in notice.data
        # the bare login's address: what the milter let through for him, from his own address
        wolff = "d.wolff@nordwerk.example"
        lunch = make_message(to="kollege@nordwerk.example", subject="Lunch", sender=wolff)
        team.submit_as("dwolff", "dieter-secret", lunch, wolff, "kollege@nordwerk.example")
        team.delivered(2)
        wait_until(lambda: senders.notice_address(team.state, "dwolff", team_box) == wolff, 60, "dwolff's history")
        team.submit_as(
            "dwolff",
            "dieter-secret",
            make_message(subject="Falke W", sender=team_box),
            team_box,
            "anna@kundenfirma.example",
        )
        notices = [m for m in team.delivered(3) if b"Held for review: Falke W" in m.data]
        assert [m.rcpt_tos for m in notices] == [[wolff]]
        assert "sender=dwolff verdict=hold action=quarantine" in team.milter.log()


def test_a_sigterm_stops_the_milter_after_its_workers_learned_what_they_held(tmp_path, smtp_server):
    import sqlite3

    from sendguard.milter import senders

    with Team(tmp_path, smtp_server) as team:
        message = make_message(to="kollege@nordwerk.example", subject="Lunch")
        assert team.msmtp(message, "me@nordwerk.example", "kollege@nordwerk.example").returncode == 0
        milter = team.milter.proc
        assert milter is not None
        workers = [int(p) for t in os.listdir(f"/proc/{milter.pid}/task") for p in open_children(milter.pid, t)]
        assert workers, "the milter runs check workers"
        team.milter.stop()  # SIGTERM, as systemd's stop and kill(1) send it
        assert milter.returncode == 0, team.milter.log()
        assert "sendguard-milter: stopped" in team.milter.log()
        assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")], "no worker outlives the milter"
        store = senders.sender_dir(team.state, "me@nordwerk.example") / "history.sqlite"
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            row = db.execute("SELECT sent FROM contacts WHERE addr = 'kollege@nordwerk.example'").fetchone()
        assert row == (1,), "learned before it exited"


def open_children(pid: int, task: str) -> list[str]:
    with open(f"/proc/{pid}/task/{task}/children") as f:
        return f.read().split()


def test_a_milter_killed_mid_message_costs_a_retry_never_the_message(tmp_path, smtp_server):
    with Team(tmp_path, smtp_server) as team:
        message = make_message(to="kollege@nordwerk.example", subject="Quarterly numbers").replace(b"\n", b"\r\n")
        head, rest = message.split(b"\r\n\r\n", 1)
        client = smtplib.SMTP("127.0.0.1", team.postfix.port, timeout=60)
        client.ehlo()
        assert client.mail("me@nordwerk.example")[0] == 250
        assert client.rcpt("kollege@nordwerk.example")[0] == 250
        assert client.docmd("DATA")[0] == 354
        client.send(head + b"\r\n\r\n")
        team.milter.kill()  # mid-message: the headers are in, the body is not
        client.send(rest + b"\r\n.\r\n")
        code, text = client.getreply()
        client.close()
        assert 400 <= code < 500, (code, text)  # milter_default_action = tempfail: the client keeps it
        assert team.postfix.queue() == []
        # the client tries again once the milter is back (systemd's Restart=always)
        team.milter.start()
        with smtplib.SMTP("127.0.0.1", team.postfix.port, timeout=60) as retry:
            retry.sendmail("me@nordwerk.example", ["kollege@nordwerk.example"], message)
        (got,) = team.delivered(1)
        assert b"Quarterly numbers" in got.data
        wait_until(lambda: team.postfix.queue() == [], 60, "an empty Postfix queue")
        assert len(smtp_server.received) == 1


def test_a_warning_adds_the_header_and_changes_nothing_else(tmp_path, smtp_server):
    extra = '[rules.external-recipient]\naction = "warn"\n'
    with Team(tmp_path, smtp_server, extra=extra) as team:
        message = make_message()
        proc = team.msmtp(message, "me@nordwerk.example", "anna@kundenfirma.example")
        assert proc.returncode == 0, proc.stderr
        (got,) = team.delivered(1)
        data = got.data.replace(b"\r\n", b"\n")
        assert b"\nX-Sendguard: warn: external-recipient\n" in data
        head, body = message.split(b"\n\n", 1)
        assert data.endswith(b"\n\n" + body)
        for line in head.split(b"\n"):
            assert b"\n" + line + b"\n" in data


def test_a_team_that_cannot_start_leaves_nothing_behind(tmp_path, smtp_server):
    team = Team(tmp_path, smtp_server, extra="no_such_key = 1\n")  # the milter refuses this config
    with pytest.raises(RuntimeError, match="exited"):
        with team:
            pass
    assert team.milter.proc is not None and team.milter.proc.poll() is not None
    assert not team.postfix.root.exists()


def test_a_failing_test_still_stops_postfix_and_removes_its_directory(tmp_path, smtp_server):
    with pytest.raises(AssertionError, match="on purpose"):
        with Team(tmp_path, smtp_server) as team:
            assert (team.postfix.root / "queue").is_dir()
            raise AssertionError("on purpose")
    assert team.postfix.proc is None and not team.postfix.root.exists()
    assert team.milter.proc is not None and team.milter.proc.poll() is not None


@pytest.mark.skipif(os.getuid() != 0, reason="postsuper needs root; the milter's user is another")
def test_root_releasing_from_postfixs_hold_queue_leaves_the_milters_files_to_the_milters_user(smtp_server):
    """postsuper is root's alone, so the administrator acts as root; what that notes on the
    milter's copies and in its incident log stays the milter's user's, who prunes them later."""
    import shutil
    import tempfile
    from pathlib import Path

    nobody = 65534
    base = Path(tempfile.mkdtemp(prefix="sendguard-owner-"))  # reachable for nobody, unlike tmp_path
    base.chmod(0o755)
    try:
        extra = '[rules.external-recipient]\naction = "hold"\n'
        with Team(base, smtp_server, hold="quarantine", extra=extra) as team:
            for n in (1, 2):
                with smtplib.SMTP("127.0.0.1", team.postfix.port, timeout=60) as client:
                    client.sendmail("me@nordwerk.example", ["anna@kundenfirma.example"], make_message(subject=f"F {n}"))
            wait_until(lambda: len(team.held()) == 2, 60, "2 held")
            # the milter's state as its own user has it (the milter here runs as root)
            for path in [team.state, *team.state.rglob("*")]:
                os.lchown(path, nobody, nobody)
            copies = {e.meta["subject"]: e for e in Queue(team.state / "queue").entries()}
            for action, subject in (("release", "F 1"), ("discard", "F 2")):
                done = team.cli(action, "--postfix", copies[subject].meta["postfix_queue_id"])
                assert done.returncode == 0 and done.stderr == "", done.stderr
            wait_until(lambda: team.postfix.queue() == [], 60, "an empty Postfix queue")
            for copy in copies.values():
                meta = copy.path / "meta.json"
                assert (meta.stat().st_uid, meta.stat().st_gid) == (nobody, nobody)
                assert meta.stat().st_mode & 0o777 == 0o600
            records = list((log_dir(team.state) / "cur").iterdir()) + list((log_dir(team.state) / "new").iterdir())
            assert records and all(r.stat().st_uid == nobody for r in records)
            # the milter's user reads the decisions back: a year on, both copies go
            script = (
                "import json, sys, time\nfrom pathlib import Path\nfrom sendguard.config.schema import load\n"
                "from sendguard.milter import retention\n"
                "gone = retention.prune(Path(sys.argv[2]), load(Path(sys.argv[1])), time.time() + 365 * 86400,"
                " held_ids=set)\nprint(json.dumps(sorted(gone)))\n"
            )
            pruned = _as_user(nobody, ["-c", script, str(team.config), str(team.state)], base)
            assert pruned.returncode == 0, pruned.stderr
            assert json.loads(pruned.stdout) == sorted(c.id for c in copies.values())
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _as_user(uid: int, args: list[str], home: object) -> subprocess.CompletedProcess[str]:
    """A Python that ``uid`` may run (the venv's may sit under root's home), on this sendguard."""
    import shutil
    import sys
    from pathlib import Path

    import sendguard

    source = str(Path(sendguard.__file__).resolve().parent.parent)
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": source}
    for python in (sys.executable, shutil.which("python3") or "", "/usr/bin/python3"):
        if not python:
            continue
        run = functools.partial(
            subprocess.run, user=uid, group=uid, extra_groups=[], env=env, capture_output=True, text=True, timeout=120
        )
        try:
            probe = run([python, "-c", "import sendguard.milter.retention, sendguard.config.schema"])
        except OSError:
            continue
        if probe.returncode == 0:
            return run([python, *args])  # type: ignore[no-any-return]
    pytest.skip(f"no Python that uid {uid} may run imports sendguard from {source}")
