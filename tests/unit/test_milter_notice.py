"""Who hears about a quarantined message: the person who logged in (senders.notice_address)."""

from __future__ import annotations

import shlex

from sendguard.config.schema import parse
from sendguard.milter import senders
from sendguard.milter.policy import QUARANTINE, Policy, Transaction
from tests.conftest import make_message

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
    assert policy.judge(tx).action == QUARANTINE
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

    from sendguard.milter.policy import _submit

    status = tmp_path / "status"
    # the child's own signal mask, as the kernel reports it
    copy = f"import shutil, sys; sys.stdin.read(); shutil.copy('/proc/self/status', {str(status)!r})"
    command = [sys.executable, "-c", copy]  # not sh: dash clears the mask it inherits
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    try:
        _submit(command, b"notice")
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
    (line,) = [x for x in status.read_text().splitlines() if x.startswith("SigBlk:")]
    blocked = int(line.split()[1], 16)
    assert not blocked & (1 << (signal.SIGTERM - 1))
