"""The milter's notice mails: who hears about a held message (the person who logged in,
senders.notice_address), what they are told, once, and that message text cannot forge a header."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.config.schema import parse
from sendguard.milter import senders
from sendguard.milter.policy import QUARANTINE, Policy, Transaction
from tests.conftest import make_message
from tests.support.milter import answer

BASE = '[organization]\ndomains = ["nordwerk.example"]\n\n[log]\nnotmuch = false\n\n'
PETRA = "petra@nordwerk.example"
SHARED = "Team@nordwerk.example"  # a shared mailbox in MAIL FROM


def test_the_login_is_who_wrote_it_when_it_is_an_address(tmp_path):
    assert senders.notice_address(tmp_path, PETRA, SHARED) == PETRA


def test_without_a_login_the_envelope_sender_as_it_was_written(tmp_path):
    assert senders.notice_address(tmp_path, SHARED.lower(), SHARED) == SHARED
    assert senders.notice_address(tmp_path, "", "") == ""  # the null sender: nobody to tell


def test_a_login_that_is_no_address_reaches_the_address_its_history_sends_from(tmp_path):
    policy = Policy(parse(BASE), tmp_path)
    # unknown so far: the envelope sender
    assert senders.notice_address(tmp_path, "dwolff", SHARED) == SHARED
    # what the milter let through for the login dwolff, sent as d.wolff@ (twice) and once as the team
    for frm, to in (("d.wolff", "kollege"), ("d.wolff", "chefin"), ("team", "kollege")):
        raw = make_message(to=f"{to}@nordwerk.example", sender=f"D. Wolff <{frm}@nordwerk.example>")
        policy.learn("dwolff", raw, [f"{frm}@nordwerk.example"])
    assert senders.notice_address(tmp_path, "dwolff", SHARED) == "d.wolff@nordwerk.example"
    assert senders.notice_address(tmp_path, "dwolff", "") == "d.wolff@nordwerk.example"


def test_the_quarantine_notice_goes_to_the_login_not_the_shared_mailbox(tmp_path):
    out = tmp_path / "notice.eml"
    command = ["sh", "-c", f"cat > {shlex.quote(str(out))}"]
    config = parse(
        BASE
        + '[rules.external-recipient]\naction = "hold"\n\n[milter]\nhold = "quarantine"\n'
        f"notice_command = {command!r}\n".replace("'", '"')
    )
    jobs: list = []  # type: ignore[type-arg]
    policy = Policy(config, tmp_path / "milter", later=jobs.append)
    tx = Transaction(PETRA, SHARED, ["anna@kundenfirma.example"], make_message(sender=SHARED), "4ABC123DEF")
    assert answer(policy, tx).action == QUARANTINE
    assert not out.exists()  # not on the reply path
    (job,) = jobs
    job()
    head = out.read_bytes().split(b"\n\n", 1)[0]
    assert f"To: {PETRA}".encode() in head.splitlines()
    assert b"Subject: Held for review: Falke status" in head.splitlines()


def test_learn_as_a_bare_login_with_address_makes_that_address_theirs(tmp_path):
    import subprocess

    from tests.conftest import sendguard_exe
    from tests.support import history_fixtures as hf

    state = tmp_path / "milter"
    config = tmp_path / "sendguard.toml"
    config.write_text(BASE + f'[milter]\nstate_dir = "{state}"\n')
    sent = hf.write_maildir(tmp_path / "Sent", hf.history_messages())

    def learn(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sendguard_exe(), "--config", str(config), "learn", *args, str(sent)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    refused = learn("--address", hf.ME)
    assert refused.returncode == 64 and "--as" in refused.stderr
    assert learn("--as", "dwolff", "--address", "petra").returncode == 64
    # without --address, a bare login's own mail is not known as theirs
    assert learn("--as", "kdorn").returncode == 0
    assert senders.notice_address(state, "kdorn", SHARED) == SHARED
    done = learn("--as", "dwolff", "--address", hf.ME.upper())
    assert done.returncode == 0, done.stderr
    assert senders.notice_address(state, "dwolff", SHARED) == hf.ME


def test_the_notice_sendmail_stops_on_sigterm_even_from_a_worker_that_blocks_it(tmp_path):
    import signal
    import sys

    from sendguard.milter.notices import submit

    status = tmp_path / "status"
    # the child's own signal mask, as the kernel reports it
    copy = f"import shutil, sys; sys.stdin.read(); shutil.copy('/proc/self/status', {str(status)!r})"
    command = [sys.executable, "-c", copy]  # not sh: dash clears the mask it inherits
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    try:
        submit(command, b"notice")
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
    (line,) = [x for x in status.read_text().splitlines() if x.startswith("SigBlk:")]
    blocked = int(line.split()[1], 16)
    assert not blocked & (1 << (signal.SIGTERM - 1))


def _reject_policy(tmp_path, extra: str = ""):  # type: ignore[no-untyped-def]
    """A policy that holds mail to outside with a 550, its notices written to files in order."""
    out = tmp_path / "notices"
    out.mkdir()
    script = f"n=$(ls {shlex.quote(str(out))} | wc -l); cat > {shlex.quote(str(out))}/$n.eml"
    command = ["sh", "-c", script]
    config = parse(
        BASE
        + '[rules.external-recipient]\naction = "hold"\n\n[oops]\nprivacy_contact = "dsb@nordwerk.example"\n\n'
        f"[milter]\nnotice_command = {command!r}\n".replace("'", '"')
        + extra
    )
    jobs: list = []  # type: ignore[type-arg]
    return Policy(config, tmp_path / "milter", later=jobs.append), jobs, out


def _sent(out) -> list[tuple[dict[str, str], str]]:  # type: ignore[no-untyped-def]
    import email
    import email.policy

    mails = []
    for path in sorted(out.iterdir(), key=lambda p: int(p.stem)):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        mails.append(({k: str(v) for k, v in msg.items()}, msg.get_content()))
    return mails


def test_a_550_hold_mails_the_sender_every_reason_the_way_out_and_the_id(tmp_path):
    from sendguard.milter.policy import REJECT

    policy, jobs, out = _reject_policy(tmp_path)
    body = "Hello Anna,\n\nplease find attached the offer.\n\nRegards\nMe\n"  # two reasons
    outcome = answer(policy, Transaction(PETRA, PETRA, ["anna@kundenfirma.example"], make_message(body=body)))
    assert outcome.action == REJECT
    assert list(out.iterdir()) == []  # not on the reply path
    for job in jobs:
        job()
    ((head, text),) = _sent(out)
    assert head["To"] == PETRA and head["Subject"] == "Held, not sent: Falke status"
    assert head["Auto-Submitted"] == "auto-generated"
    assert f"Id:      {outcome.entry_id}" in text
    assert "To:      anna@kundenfirma.example" in text
    (entry,) = policy.queue.entries()
    reasons = [f["message"] for f in entry.meta["findings"] if f["severity"] != "info"]
    assert len(reasons) >= 2
    flat = " ".join(text.split())
    for reason in reasons:  # each in full, where the 550 is cut at the terminal's width
        assert " ".join(reason.split()).rstrip(".") in flat, (reason, text)
    assert "send it again unchanged before " in flat and "within 10 min" in flat
    assert "it went out then" in flat and "mail administrator" in flat and "dsb@nordwerk.example" in flat
    assert "With the id they can write the record and the drafts" in flat and "`" not in text


def test_the_resend_that_confirms_sends_no_second_hold_notice_but_says_it_went_out(tmp_path):
    from sendguard.milter.policy import ACCEPT, REJECT

    policy, jobs, out = _reject_policy(tmp_path)
    message = make_message()
    first = answer(policy, Transaction(PETRA, PETRA, ["anna@kundenfirma.example"], message))
    again = message.replace(b"09:00:00", b"09:02:00").replace(b"<test-", b"<r-")
    second = answer(policy, Transaction(PETRA, PETRA, ["anna@kundenfirma.example"], again))
    assert (first.action, second.action) == (REJECT, ACCEPT)
    for job in jobs:
        job()
    subjects = [head["Subject"] for head, _ in _sent(out)]
    assert subjects == ["Held, not sent: Falke status", "Sent anyway after a hold: Falke status"]
    (_, text) = _sent(out)[1]
    assert text.startswith("Sent anyway at ") and f"Id:      {first.entry_id}" in text
    # what the administrator can do with that id (sendguard oops --as, forget --as), in plain words
    flat = " ".join(text.split())
    assert "give the id above" in flat and "make sendguard forget it" in flat and "72 hours" in flat
    assert "`" not in text and max(len(line) for line in text.splitlines()) <= 80


def test_a_copy_held_again_mails_no_second_notice_once_the_first_went_out(tmp_path):
    """The 550 never reached Postfix (the worker was timed out after answering, say), but the
    notice did go out: the retry is held again with the same copy, and the sender is not mailed
    the same hold twice."""
    from sendguard.milter.policy import ACCEPT, REJECT

    policy, jobs, out = _reject_policy(tmp_path)
    message = make_message()
    tx = Transaction(PETRA, PETRA, ["anna@kundenfirma.example"], message)
    first = policy.judge(tx)  # kept; its 550 never handed over (no told)
    (job,) = jobs
    job()  # the notice, after the reply
    (entry,) = policy.queue.entries()
    assert isinstance(entry.meta["notice_sent_at"], float) and not entry.meta["told"]
    assert entry.meta["events"][-1]["event"] == "hold notice mailed to the sender"
    retry = answer(policy, tx)
    assert retry.action == REJECT and retry.entry_id == first.entry_id, "held again"
    assert len(jobs) == 1, "no second notice"
    again = message.replace(b"09:00:00", b"09:02:00").replace(b"<test-", b"<r-")
    assert answer(policy, tx._replace(raw=again)).action == ACCEPT
    for job in jobs[1:]:
        job()
    subjects = [head["Subject"] for head, _ in _sent(out)]
    assert subjects == ["Held, not sent: Falke status", "Sent anyway after a hold: Falke status"]


def test_a_copy_held_again_whose_notice_failed_mails_it_then(tmp_path):
    import subprocess

    from sendguard.milter.policy import REJECT

    policy, jobs, out = _reject_policy(tmp_path)
    sendmail = policy.config.milter.notice_command
    policy.config.milter.notice_command = ["sh", "-c", "cat >/dev/null; exit 75"]  # EX_TEMPFAIL
    tx = Transaction(PETRA, PETRA, ["anna@kundenfirma.example"], make_message())
    first = policy.judge(tx)
    with pytest.raises(subprocess.CalledProcessError):
        jobs[0]()
    (entry,) = policy.queue.entries()
    assert "notice_sent_at" not in entry.meta
    policy.config.milter.notice_command = sendmail
    retry = answer(policy, tx)
    assert retry.action == REJECT and retry.entry_id == first.entry_id
    (_, again) = jobs
    again()
    assert [head["Subject"] for head, _ in _sent(out)] == ["Held, not sent: Falke status"]


def test_notify_false_sends_no_notice(tmp_path):
    from sendguard.milter.policy import ACCEPT, REJECT

    policy, jobs, out = _reject_policy(tmp_path, "notify = false\n")
    message = make_message()
    assert answer(policy, Transaction(PETRA, PETRA, ["anna@kundenfirma.example"], message)).action == REJECT
    assert answer(policy, Transaction(PETRA, PETRA, ["anna@kundenfirma.example"], message)).action == ACCEPT
    assert jobs == []


def test_a_notice_that_cannot_be_sent_costs_nothing_but_itself(tmp_path):
    """sendmail missing: the hold stands, its copy is kept, the next message is judged as ever."""
    from sendguard.milter.policy import REJECT
    from sendguard.milter.worker import Notices

    config = parse(
        BASE + '[rules.external-recipient]\naction = "hold"\n\n[milter]\nnotice_command = ["/nonexistent/sendmail"]\n'
    )
    after = Notices()
    policy = Policy(config, tmp_path, later=after.submit)
    outcome = answer(policy, Transaction(PETRA, PETRA, ["anna@kundenfirma.example"], make_message()))
    after.stop(30)
    assert outcome.action == REJECT and not after.thread.is_alive()
    assert [e.id for e in policy.queue.entries()] == [outcome.entry_id]


HEADERS = [
    b"From", b"To", b"Subject", b"Date", b"Message-ID", b"Auto-Submitted", b"X-Sendguard-Notice",
    b"MIME-Version", b"Content-Type", b"Content-Transfer-Encoding",
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(subject=st.text(), reason=st.text(), recipient=st.text())
def test_no_message_text_makes_a_header_or_reaches_the_body_as_a_control_character(subject, reason, recipient):
    import re

    from sendguard.act import notice_texts as notices

    meta = {
        "subject": subject,
        "recipients": [recipient],
        "findings": [{"severity": "hold", "message": reason, "suggestion": recipient}],
    }
    for mail in (
        notices.held(PETRA, meta, "ID1", window=600, now=0),
        notices.sent_anyway(PETRA, meta, "ID1", now=0),
        notices.quarantined(PETRA, meta, "ID1", "4ABC"),
    ):
        head, _, body = mail.partition(b"\n\n")
        assert b"\r" not in head
        names = [line.split(b":", 1)[0] for line in head.split(b"\n") if line[:1] not in (b" ", b"\t")]
        assert names == HEADERS
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", body.decode())


@pytest.mark.parametrize(
    "subject",
    ["Falke\r\nBcc: evil@example.org", "Falke\nTo: evil@example.org", "\x1b]0;pwned\x07 Angebot\u202e für Anna"],
)
def test_a_hostile_subject_adds_no_header_and_no_control_character(tmp_path, subject):
    from sendguard.act import notice_texts as notices

    meta = {
        "subject": subject,
        "recipients": ["anna@kundenfirma.example"],
        "findings": [{"severity": "hold", "message": f"held: {subject}", "suggestion": None}],
        "created": "2026-12-05T14:00:00+00:00",
    }
    for mail in (
        notices.held(PETRA, meta, "ID1", window=600, now=0),
        notices.sent_anyway(PETRA, meta, "ID1", now=0),
        notices.quarantined(PETRA, meta, "ID1", "4ABC"),
    ):
        head, _, body = mail.partition(b"\n\n")
        names = [line.split(b":", 1)[0] for line in head.split(b"\n") if line[:1] not in (b" ", b"\t")]
        assert names == HEADERS
        text = body.decode()
        assert not any(c in text for c in "\x1b\x07\r\u202e"), text


@pytest.mark.parametrize("to", ["a@b.example, evil@example.org", "Petra <p@b.example>", "", "x\n@y"])
def test_a_notice_goes_to_one_plain_address_or_nowhere(to):
    from sendguard.act import notice_texts as notices

    with pytest.raises(ValueError):
        notices.held(to, {"subject": "x"}, "ID1", window=600, now=0)


def test_a_worker_runs_notices_only_once_its_reply_is_out_and_off_its_own_thread():
    import threading

    from sendguard.milter.worker import Notices

    ran: list[str] = []
    after = Notices()
    after.submit(lambda: ran.append(threading.current_thread().name))
    assert ran == []  # still judging: nothing goes out before the reply
    after.start()
    after.stop(30)
    assert ran == ["sendguard-notices"]


@given(subject=st.text(), recipient=st.text(), deadline=st.text(), draft=st.binary())
@settings(max_examples=200, deadline=None)  # the first example imports the notices: 0.85 s at load 9
def test_the_oops_mail_keeps_every_text_in_its_place_and_every_draft_whole(subject, recipient, deadline, draft):
    """oops --as --mail: nothing from the message makes a header or a part; drafts come back whole."""
    import email
    import email.policy
    import re

    from sendguard.act import notice_texts as notices

    record = {
        "id": "ID1",
        "subject": subject,
        "recipients": [recipient],
        "unintended_recipients": [recipient],
        "deadline": deadline,
    }
    drafts = [
        ("oops-unintended-ID1", draft),
        ("../../x y", b"To: a@b.example\nSubject: " + subject.encode() + b"\n\nx\n"),
    ]
    mail = notices.oops_mail(PETRA, record, drafts)
    head, _, body = mail.partition(b"\n\n")
    assert b"\r" not in head
    names = [line.split(b":", 1)[0] for line in head.split(b"\n") if line[:1] not in (b" ", b"\t")]
    assert names == HEADERS
    parsed = email.message_from_bytes(mail, policy=email.policy.default)
    text, *attached = parsed.iter_parts()
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text.get_content())
    assert [p.get_filename() for p in attached] == ["oops-unintended-ID1.eml", ".._.._x_y.eml"]
    boundary = parsed.get_boundary().encode()
    assert [piece.split(b"\n\n", 1)[1] for piece in mail.split(b"\n--" + boundary)[2:-1]] == [d for _, d in drafts]
