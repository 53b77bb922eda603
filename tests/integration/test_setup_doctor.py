"""``sendguard setup`` and ``sendguard doctor`` against real files, real msmtp and real learning."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import make_message, sendguard_exe
from tests.support.hooks import run_printed_learn


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sendguard_exe(), *args], capture_output=True, text=True, timeout=60, check=False)


def home() -> Path:
    return Path(os.environ["HOME"])


def config_file() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "sendguard" / "config.toml"


def write_msmtprc(port: int = 2525) -> Path:
    rc = home() / ".msmtprc"
    rc.write_text(
        textwrap.dedent(f"""\
        defaults
        auth off
        tls off

        account work
        host 127.0.0.1
        port {port}
        from d.wolff@nordwerk.example

        account private
        host 127.0.0.1
        from dw@gmail.com

        account default : work
        """)
    )
    rc.chmod(0o600)
    return rc


def test_setup_writes_a_private_valid_starter_config_from_msmtp():
    write_msmtprc()
    proc = run("setup")
    assert proc.returncode == 0, proc.stderr
    text = config_file().read_text()
    assert 'addresses = ["d.wolff@nordwerk.example", "dw@gmail.com"]' in text
    assert 'domains = ["nordwerk.example"]' in text, "a freemail domain is never the organization"
    assert stat.S_IMODE(config_file().stat().st_mode) == 0o600
    assert stat.S_IMODE(config_file().parent.stat().st_mode) == 0o700
    assert run("config", "validate").returncode == 0


def test_setup_signs_with_the_name_on_the_sent_mail_and_leaves_a_manager_to_set():
    write_msmtprc()
    sent = home() / "Mail" / "Sent" / "cur"
    sent.mkdir(parents=True)
    for i in range(3):
        msg = make_message(to="kai@nordwerk.example", sender='"Wolff, Daniel" <d.wolff@nordwerk.example>')
        (sent / f"{i}:2,S").write_bytes(msg)
    (sent / "other:2,S").write_bytes(make_message(sender="Someone Else <else@example.org>"))
    proc = run("setup")
    assert proc.returncode == 0, proc.stderr
    text = config_file().read_text()
    assert 'name = "Wolff, Daniel"' in text
    assert "[oops]" in text and 'manager = ""' in text
    assert "[oops] manager" in proc.stdout
    assert run("config", "validate").returncode == 0


def test_setup_never_overwrites_an_existing_config():
    write_msmtprc()
    config_file().parent.mkdir(parents=True)
    config_file().write_text('# mine\n[organization]\ndomains = ["mine.example"]\n')
    before = config_file().read_bytes()
    proc = run("setup")
    assert proc.returncode == 0, proc.stderr
    assert config_file().read_bytes() == before
    assert "never overwrites" in proc.stdout


def test_setup_prints_the_absolute_sendmail_path_for_each_mail_program():
    write_msmtprc()
    (home() / ".muttrc").write_text('set sendmail="/usr/bin/msmtp"\n')
    proc = run("setup")
    sendmail = sendguard_exe("sendguard-sendmail")
    assert os.path.isabs(sendmail)
    assert f'set sendmail = "{sendmail}"' in proc.stdout
    assert "now sends through set sendmail = /usr/bin/msmtp" in proc.stdout
    assert f"git config --global sendemail.sendmailCmd {sendmail}" in proc.stdout
    assert f"outgoing = {sendmail}" in proc.stdout


def sent_maildir(root: Path, outside: tuple[str, ...] = ("kundenfirma.example",)) -> Path:
    """Four weeks of sent mail: to each outside domain, a colleague and a freemail address."""
    maildir = root / "Sent"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i in range(4):
        for to in (*(f"anna{i}@{d}" for d in outside), "kai@nordwerk.example", "x@gmail.com"):
            msg = make_message(
                to=to, subject=f"Falke {i}", sender="D Wolff <d.wolff@nordwerk.example>", body=f"Hello,\n\nnote {i}.\n"
            )
            (maildir / "cur" / f"{i}-{to}:2,S").write_bytes(msg)
    return maildir


def test_setup_proposes_client_domains_from_the_learned_history(tmp_path):
    write_msmtprc()
    assert run("setup").returncode == 0
    maildir = sent_maildir(tmp_path)
    learned = run("learn", str(maildir))
    assert learned.returncode == 0, learned.stderr
    proc = run("--config", str(tmp_path / "new.toml"), "setup", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "[clients.kundenfirma]" in proc.stdout
    assert 'domains = ["kundenfirma.example"]' in proc.stdout
    assert 'gmail.com"]' not in proc.stdout.split("[clients", 1)[1], "freemail is never a client"
    assert not (tmp_path / "new.toml").exists(), "--dry-run writes nothing"


def test_setup_then_learn_proposes_the_clients_and_add_clients_keeps_comments(tmp_path):
    """The README's order: setup (no history yet, so no clients), learn, then the line learn prints."""
    write_msmtprc()
    assert run("setup").returncode == 0
    assert "\n[clients." not in config_file().read_text()
    with config_file().open("a") as out:
        out.write('# my own note, kept\n[clients.acme]\ndomains = ["acme.example"]  # the old one\n')
    learned = run("learn", str(sent_maildir(tmp_path, ("kundenfirma.example", "acme.example", "birkholz.example"))))
    assert learned.returncode == 0, learned.stderr
    tail = learned.stdout.split("Clients in your history that the config lacks:\n", 1)[1].splitlines()
    assert sorted(tail[:2]) == [
        "  birkholz: birkholz.example (4 mails sent)",
        "  kundenfirma: kundenfirma.example (4 mails sent)",
    ], "one line each, and not acme: the config has it"
    assert tail[2:] == ["Add them (your config's comments are kept): sendguard setup --add-clients"]
    before = config_file().read_text()
    added = run("setup", "--add-clients")
    assert added.returncode == 0, added.stderr
    assert 'added [clients.kundenfirma]  domains = ["kundenfirma.example"]   (4 mails sent)' in added.stdout
    after = config_file().read_text()
    assert after.startswith(before), "the user's text, comments included, is kept as it was"
    assert "[clients.kundenfirma]" in after and "[clients.birkholz]" in after
    assert after.count("[clients.acme]") == 1
    assert run("config", "validate").returncode == 0
    again = run("learn", str(tmp_path / "Sent"))
    assert "lacks" not in again.stdout, "nothing left to propose"
    assert "No client to add" in run("setup", "--add-clients").stdout


def _healthy(world) -> None:  # type: ignore[no-untyped-def]
    (home() / ".muttrc").write_text(f'set sendmail="{world.sendmail}"\n')


def test_doctor_exits_0_when_all_is_well(world):
    _healthy(world)
    proc = world.cli("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All well" in proc.stdout
    lines = {line.split()[1]: line.split()[0] for line in proc.stdout.splitlines() if line[:1] and line[0] in "owF"}
    assert lines["config"] == "ok" and lines["transport"] == "ok" and lines["state"] == "ok"
    assert "warn  history" in proc.stdout and "sendguard learn" in proc.stdout
    assert "1 client configured, 1 with keywords" in proc.stdout  # the world's one client, kundenfirma
    assert lines["notmuch"] == "ok", "notmuch is optional: without it, no warning to act on"


def test_doctor_says_where_a_hold_aerc_cannot_show_is_mailed(world):
    _healthy(world)
    world.config_path.write_text(world.config_path.read_text().replace("notice_mail = false", "notice_mail = true"))
    proc = world.cli("doctor")
    assert "a hold your mail program cannot show is mailed to me@nordwerk.example" in proc.stdout, proc.stdout
    world.config_path.write_text(world.config_path.read_text().replace('addresses = ["me@nordwerk.example"]', ""))
    proc = world.cli("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = [line for line in proc.stdout.splitlines() if "notice mail" in line]
    assert line.split()[0] == "warn" and "no [identity] address" in line
    assert "addresses = [...] under [identity]" in proc.stdout


def test_doctor_names_a_mail_program_that_sends_past_sendguard(world):
    (home() / ".muttrc").write_text('set sendmail="/usr/bin/msmtp"\n')
    proc = world.cli("doctor")
    assert proc.returncode == 1
    assert "FAIL  mail: mutt" in proc.stdout
    assert f'set sendmail = "{world.sendmail}"' in proc.stdout


def test_doctor_fails_on_a_state_dir_others_can_read(world):
    _healthy(world)
    state = Path(os.environ["XDG_DATA_HOME"]) / "sendguard"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    proc = world.cli("doctor")
    assert proc.returncode == 1
    assert f"chmod 700 {state}" in proc.stdout


def test_doctor_fails_on_a_broken_transport_config(world):
    _healthy(world)
    world.msmtprc.write_text("account default\nhost 127.0.0.1\nbogus_option on\n")
    proc = world.cli("doctor")
    assert proc.returncode == 1
    assert "FAIL  transport" in proc.stdout and "bogus_option" in proc.stdout


def test_doctor_reports_a_broken_config_with_its_line(world):
    _healthy(world)
    world.config_path.write_text('[sendmail]\nhold_acton = "queue"\n')
    proc = world.cli("doctor")
    assert proc.returncode == 1
    assert "FAIL  config" in proc.stdout and "config.toml:2" in proc.stdout


def test_setup_timer_lines_install_a_service_whose_command_runs():
    import shutil

    if not shutil.which("systemctl"):
        import pytest

        pytest.skip("no systemctl: setup prints no timer lines")
    write_msmtprc()
    out = run("setup").stdout
    lines = out.split("systemd (", 1)[1].splitlines()[1:4]  # mkdir, sed, cp (not systemctl)
    script = "\n".join(line.strip() for line in lines)
    subprocess.run(["bash", "-euc", script], check=True, env={**os.environ}, timeout=30)
    units = home() / ".config" / "systemd" / "user"
    service = (units / "sendguard-queue.service").read_text()
    (exec_start,) = [line.split("=", 1)[1] for line in service.splitlines() if line.startswith("ExecStart=")]
    assert exec_start == f"{sendguard_exe()} queue run"
    assert (units / "sendguard-queue.timer").exists()
    assert subprocess.run(exec_start.split(), timeout=60).returncode == 0


def test_doctor_reaches_a_real_notmuch_database(world, tmp_path, monkeypatch):
    notmuch2 = __import__("pytest").importorskip("notmuch2")
    _healthy(world)
    mail = tmp_path / "mail"
    (mail / "cur").mkdir(parents=True)
    config = tmp_path / "notmuch-config"
    config.write_text(f"[database]\npath={mail}\n")
    notmuch2.Database.create(str(mail), config=notmuch2.Database.CONFIG.EMPTY).close()
    monkeypatch.setenv("NOTMUCH_CONFIG", str(config))
    proc = world.cli("doctor")
    assert "ok    notmuch" in proc.stdout and "database reachable (0 messages" in proc.stdout, proc.stdout


def _doctor_line(proc: subprocess.CompletedProcess[str], name: str) -> str:
    """The check's line, its columns' padding folded to single spaces."""
    (line,) = [line for line in proc.stdout.splitlines() if line[6:].startswith(name)]
    return " ".join(line.split())


def test_doctor_sees_unindexed_records_and_a_broken_incident_log_and_its_fix_works(world):
    __import__("pytest").importorskip("notmuch2")
    from sendguard import paths
    from sendguard.act import queue as q
    from sendguard.config import schema as config_mod
    from sendguard.incidents import log_dir, pending_dir
    from sendguard.incidents.record import record

    _healthy(world)
    assert _doctor_line(world.cli("doctor"), "incident log").startswith("ok incident log 0 records indexed")
    config = config_mod.load(world.config_path)
    for subject in ("one", "two"):  # written as the send path does, with no indexer started
        entry, lock = q.Queue.default().create(make_message(subject=subject), {"state": q.HELD, "subject": subject})
        lock.release()
        record(entry, "held", config)
    an_hour_ago = __import__("time").time() - 3600
    for marker in pending_dir(paths.state_dir()).iterdir():
        os.utime(marker, (an_hour_ago, an_hour_ago))
    proc = world.cli("doctor")
    assert proc.returncode == 0, proc.stdout  # a warning: the records are safe on disk
    assert _doctor_line(proc, "incident log").startswith("warn incident log 2 record(s) written but not indexed")
    assert "→ sendguard log" in proc.stdout
    assert world.cli("log", "--wait", "60").returncode == 0  # indexes them
    assert _doctor_line(world.cli("doctor"), "incident log").startswith("ok incident log 2 records indexed")

    database = log_dir(paths.state_dir()) / ".notmuch"
    for part in database.rglob("*"):
        if part.is_file():
            part.write_bytes(b"not a xapian database")
    proc = world.cli("doctor")
    assert _doctor_line(proc, "incident log").startswith("warn incident log its notmuch database cannot be opened")
    fix = proc.stdout.split("→ mv ", 1)[1].splitlines()[0]
    subprocess.run(
        f"mv {fix}",
        shell=True,
        check=True,
        timeout=120,
        env=world.env(),  # the advice as printed
        executable="/bin/bash",
    )
    assert _doctor_line(world.cli("doctor"), "incident log").startswith("ok incident log 2 records indexed")


def _maildir(path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def test_setup_proposes_muttʼs_record_as_the_sent_folder():
    write_msmtprc()
    _maildir(home() / "Mail" / "Sent")  # a usual place, but mutt files elsewhere
    _maildir(home() / "mail" / "work" / "Gesendet")
    (home() / ".muttrc").write_text('set folder = "~/mail/work"\nset record = "+Gesendet"\n')
    proc = run("setup")
    assert proc.returncode == 0, proc.stderr
    text = config_file().read_text()
    assert 'maildir = "~/mail/work/Gesendet"' in text and "mutt's record" in text
    assert run("config", "validate").returncode == 0
    # and what to learn next: that folder, and the one mail arrives in
    assert "Then: sendguard learn ~/mail/work/Gesendet ~/Mail/INBOX" in proc.stdout


def test_setup_proposes_aercs_copy_to_and_suggests_it_for_an_existing_config():
    write_msmtprc()
    _maildir(home() / "Maildir" / "Sent Items")
    accounts = Path(os.environ["XDG_CONFIG_HOME"]) / "aerc" / "accounts.conf"
    accounts.parent.mkdir(parents=True)
    accounts.write_text(f"[work]\nsource = maildir://{home()}/Maildir\noutgoing = msmtp\ncopy-to = Sent Items\n")
    config_file().parent.mkdir(parents=True)
    config_file().write_text('[organization]\ndomains = ["nordwerk.example"]\n')
    proc = run("setup")
    assert proc.returncode == 0, proc.stderr
    assert 'maildir = "~/Maildir/Sent Items"' in proc.stdout and "aerc's copy-to" in proc.stdout


def test_setup_tells_aerc_users_where_a_held_message_is_explained():
    """aerc shows only "exit status 75": the lines setup prints say how to see why, inside aerc."""
    write_msmtprc()
    accounts = Path(os.environ["XDG_CONFIG_HOME"]) / "aerc" / "accounts.conf"
    accounts.parent.mkdir(parents=True)
    accounts.write_text(f"[work]\nsource = maildir://{home()}/Maildir\noutgoing = msmtp\n")
    proc = run("setup")
    assert proc.returncode == 0, proc.stderr
    aerc = proc.stdout.split("  aerc (", 1)[1].split("\n\n", 1)[0]
    review = Path(sendguard_exe())
    assert f"outgoing = {review.with_name('sendguard-sendmail')}" in aerc
    assert f"#   :term {review} review" in aerc, aerc


def test_setup_leaves_the_sent_folder_commented_out_when_there_is_none():
    write_msmtprc()
    (home() / ".muttrc").write_text('set record = "~/sent-mbox"\n')  # an mbox file: no maildir
    (home() / "sent-mbox").write_text("")
    assert run("setup").returncode == 0
    assert '# maildir = "~/Mail/Sent"' in config_file().read_text()


def test_setup_on_a_terminal_asks_who_gets_the_facts_after_a_mistake():
    import pty
    import select
    import time

    write_msmtprc()
    pid, fd = pty.fork()
    if pid == 0:  # the child: setup on a terminal, as a person runs it
        os.execv(sendguard_exe(), [sendguard_exe(), "setup"])
    out = b""
    answered = False
    deadline = time.monotonic() + 60
    while True:
        if not select.select([fd], [], [], max(deadline - time.monotonic(), 0))[0]:
            os.kill(pid, 9)  # waited a minute for a prompt or an end: fail, never hang
            break
        try:
            data = os.read(fd, 4096)
        except OSError:  # the terminal closed: setup is done
            break
        if not data:
            break
        out += data
        if b"nobody)" in out and not answered:
            os.write(fd, b"dsb@nordwerk.example\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out.decode(errors="replace")
    assert answered
    assert 'manager = "dsb@nordwerk.example"' in config_file().read_text()
    assert run("config", "validate").returncode == 0


def test_setup_reads_the_name_from_the_sent_folder_mutt_files_into():
    write_msmtprc()
    sent = _maildir(home() / "mail" / "work" / "Gesendet")
    (home() / ".muttrc").write_text('set folder = "~/mail/work"\nset record = "+Gesendet"\n')
    (sent / "cur" / "1:2,S").write_bytes(make_message(sender="Dana Wolff <d.wolff@nordwerk.example>"))
    assert run("setup").returncode == 0
    assert 'name = "Dana Wolff"' in config_file().read_text()


def test_setup_and_doctor_say_how_to_reach_sendguard_off_path_and_the_way_works(tmp_path):
    """A checkout's venv is off PATH, yet every held message says `sendguard release ID`."""
    write_msmtprc()
    exe = Path(sendguard_exe())
    local_bin = home() / ".local" / "bin"
    bare = {**os.environ, "PATH": f"{local_bin}{os.pathsep}/usr/bin{os.pathsep}/bin"}

    def doctor_row() -> str:
        proc = subprocess.run([str(exe), "doctor"], capture_output=True, text=True, env=bare, timeout=60, check=False)
        return next(line for line in proc.stdout.splitlines() if "sendguard on PATH" in line)

    setup = subprocess.run([str(exe), "setup"], capture_output=True, text=True, env=bare, timeout=60, check=False)
    assert "`sendguard` is not on PATH" in setup.stdout
    assert doctor_row().startswith("warn")
    fix = next(line.strip() for line in setup.stdout.splitlines() if "ln -s" in line)
    command = fix.split("   (")[0]
    subprocess.run(["sh", "-c", command], env=bare, check=True, timeout=30)
    assert doctor_row().startswith("ok")
    on_path = subprocess.run(["sendguard", "--version"], capture_output=True, text=True, env=bare, timeout=60)
    assert on_path.returncode == 0, on_path.stderr


def test_setup_says_a_new_local_bin_is_on_path_only_after_logging_in_again():
    """Debian's ~/.profile adds ~/.local/bin to PATH only if it exists at login: right after the
    mkdir that setup proposes, `sendguard` is still "command not found" in that shell."""
    write_msmtprc()
    exe = Path(sendguard_exe())
    bare = {**os.environ, "PATH": f"/usr/bin{os.pathsep}/bin"}
    setup = subprocess.run([str(exe), "setup"], capture_output=True, text=True, env=bare, timeout=60, check=False)
    fix = next(line.strip() for line in setup.stdout.splitlines() if "ln -s" in line)
    assert "not on your PATH yet: log in again" in fix and 'export PATH="$HOME/.local/bin:$PATH"' in fix


def test_the_commands_the_starter_config_names_in_its_header_work():
    """A checkout installs no man pages: `man 5 sendguard.toml` says "No manual entry" there."""
    write_msmtprc()
    assert run("setup").returncode == 0
    header = [line for line in config_file().read_text().splitlines() if line.startswith("#")][:3]
    commands = [c for line in header for c in re.findall(r"`(sendguard [^`]+)`", line)]
    assert "sendguard man config" in commands
    env = {**os.environ, "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"}
    for command in commands:
        args = command.split()[1:]
        proc = subprocess.run([sendguard_exe(), *args], capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode in (0, 1), f"{command}: {proc.stderr}"  # doctor: 1 until mail programs use it
        assert proc.stdout.strip(), command
    assert (
        "[identity]"
        in subprocess.run(
            [sendguard_exe(), "man", "config"], capture_output=True, text=True, env=env, timeout=60
        ).stdout
    )


def test_doctor_asks_for_received_mail_and_says_when_the_budget_changed(world, tmp_path):
    from tests.support import history_fixtures as hf
    from tests.support.wait import wait_until

    mail = [make_message(to=f"kollege{n}@nordwerk.example", subject=f"Plan {n}") for n in range(3)]
    assert world.cli("learn", str(hf.write_maildir(tmp_path / "Sent", mail))).returncode == 0

    def history() -> str:
        proc = world.cli("doctor")
        return next(line for line in proc.stdout.splitlines() if line.split()[1:2] == ["history"])

    # sent mail alone: doctor asks for the inbox too
    assert history().startswith("warn") and "nothing received" in history()
    fix = world.cli("doctor").stdout.split("nothing received", 1)[1]
    assert "sendguard learn ~/Mail/INBOX" in fix
    inbox = [make_message(to="me@nordwerk.example", sender="Kollege <kollege0@nordwerk.example>", subject="Re: Plan")]
    assert world.cli("learn", str(hf.write_maildir(tmp_path / "INBOX", inbox))).returncode == 0
    assert history().startswith("ok")
    world.write_config("[judgement]\nfalse_holds = 0.02\n")
    line = history()
    assert line.startswith("warn") and "fitted for a budget of 1.0%, [judgement] false_holds is now 2.0%" in line
    sent = world.send(make_message(to="kollege0@nordwerk.example", subject="Plan 9"), "--", "kollege0@nordwerk.example")
    assert sent.returncode == 0, sent.stderr
    assert wait_until(lambda: history().startswith("ok")), history()


def _received(subject: str, date: str) -> bytes:
    """Mail a colleague sent the user on ``date`` (RFC 5322)."""
    raw = make_message(to="me@nordwerk.example", sender="Kollege <kollege0@nordwerk.example>", subject=subject)
    return raw.replace(b"Fri, 27 Nov 2026 09:00:00 +0000", date.encode())


def _history_line(world) -> str:  # type: ignore[no-untyped-def]
    return next(line for line in world.cli("doctor").stdout.splitlines() if line.split()[1:2] == ["history"])


def _first_learned_weeks_ago(weeks: int) -> None:
    """As if the sources noted so far had been learned again and again since ``weeks`` ago (what
    a timer or notmuch hook does), without waiting for it."""
    import json
    import sqlite3
    import time

    from sendguard.history import arrivals
    from sendguard.history.store import path_in

    db = sqlite3.connect(path_in(Path(os.environ["XDG_DATA_HOME"]) / "sendguard"))
    with db:
        (value,) = db.execute("SELECT value FROM meta WHERE key = ?", (arrivals.KEY,)).fetchone()
        noted = {key: [*row[:3], time.time() - weeks * 7 * 86400, row[4]] for key, row in json.loads(value).items()}
        db.execute("UPDATE meta SET value = ? WHERE key = ?", (json.dumps(noted), arrivals.KEY))
    db.close()


def test_doctor_tells_an_inbox_nobody_wrote_to_from_one_nobody_learns(world, tmp_path):
    """The received mail learned stops eight weeks before the mail sent. A quiet inbox, or mail
    left unlearned? The inbox learned from tells: learned again and again, and its folders
    unchanged since, or mail in it that came after it was learned."""
    from tests.support import history_fixtures as hf

    sent = [make_message(to=f"kollege{n}@nordwerk.example", subject=f"Plan {n}") for n in range(3)]  # 27 Nov
    assert world.cli("learn", str(hf.write_maildir(tmp_path / "Sent", sent))).returncode == 0
    inbox = hf.write_maildir(tmp_path / "INBOX", [_received("Re: Plan", "Thu, 01 Oct 2026 09:00:00 +0000")])
    assert world.cli("learn", str(inbox)).returncode == 0
    line = _history_line(world)  # learned once: it may be an old copy, not where mail arrives
    assert line.startswith("warn") and "whom you heard from since, and their threads, are unknown" in line, line

    _first_learned_weeks_ago(6)
    assert world.cli("learn", str(inbox)).returncode == 0  # the timer's hourly run
    line = _history_line(world)  # learned all along, nothing came: nobody wrote, nothing to fix
    assert line.startswith("ok") and f"nothing new came into {inbox} (learned since 20" in line, line

    (inbox / "new" / "1800000000.1.host").write_bytes(_received("Budget", "Fri, 02 Oct 2026 09:00:00 +0000"))
    line = _history_line(world)  # ... until the learning stops while mail comes in
    assert line.startswith("warn"), line
    assert "the newest mail received in it is from 2026-10-01, the newest you sent from 2026-11-27" in line
    assert f"mail came in after it was learned, and was not: 1 into {inbox}, learned 20" in line
    assert "sendguard-learn.timer" in world.cli("doctor").stdout.split(line, 1)[1].splitlines()[1]

    assert world.cli("learn", str(inbox)).returncode == 0  # learned: quiet again, as of this run
    assert _history_line(world).startswith("ok")

    old = next((inbox / "cur").iterdir())
    old.rename(old.with_name(old.name.replace(":2,S", ":2,RS")))  # read mail flagged: not new, but a change
    line = _history_line(world)  # what went on there cannot be told: learning may be missing mail
    assert line.startswith("warn") and "whom you heard from since, and their threads, are unknown" in line, line
    assert "mail came in after" not in line


def test_doctor_counts_what_a_notmuch_query_learned_from_found_since(world, tmp_path):
    import email.utils

    import notmuch2

    from tests.support import history_fixtures as hf

    sent = [make_message(to=f"kollege{n}@nordwerk.example", subject=f"Plan {n}") for n in range(3)]
    assert world.cli("learn", str(hf.write_maildir(tmp_path / "Sent", sent))).returncode == 0
    root = tmp_path / "mail"
    hf.write_maildir(root / "INBOX", [_received("Re: Plan", "Thu, 01 Oct 2026 09:00:00 +0000")])
    db = notmuch2.Database.create(str(root), config=notmuch2.Database.CONFIG.EMPTY)
    for f in (root / "INBOX" / "cur").iterdir():
        db.add(str(f))
    db.close()
    learn = ("learn", "--notmuch", "folder:INBOX", "--notmuch-db", str(root))
    assert world.cli(*learn).returncode == 0
    _first_learned_weeks_ago(3)
    assert world.cli(*learn).returncode == 0  # as the notmuch hook learns after each `notmuch new`
    line = _history_line(world)
    assert line.startswith("ok") and "nothing new came into folder:INBOX" in line, line

    now = email.utils.formatdate(localtime=False)  # arrived after the learning, as notmuch dates it
    mine = make_message(to="kollege1@nordwerk.example", subject="Filed copy").replace(
        b"Fri, 27 Nov 2026 09:00:00 +0000", now.encode()
    )
    new = [_received("Budget", now), mine]  # the user's own copy is not mail received
    for n, raw in enumerate(new):
        (root / "INBOX" / "new" / f"18000000{n}.host").write_bytes(raw)
    db = notmuch2.Database(str(root), mode=notmuch2.Database.MODE.READ_WRITE, config=notmuch2.Database.CONFIG.EMPTY)
    for n in range(len(new)):
        db.add(str(root / "INBOX" / "new" / f"18000000{n}.host"))
    db.close()
    line = _history_line(world)
    assert line.startswith("warn") and "mail came in after it was learned, and was not: 1 into folder:INBOX" in line


def test_doctor_on_a_config_path_that_does_not_exist_says_so_and_how_to_get_one(tmp_path):
    """ "fix the lines named above" named no line: the file is not there (a typo in --config)."""
    missing = tmp_path / "nope.toml"
    proc = run("--config", str(missing), "doctor")
    assert proc.returncode == 1
    first, fix = proc.stdout.splitlines()[:2]
    assert first.startswith("FAIL  config") and str(missing) in first
    assert "lines named above" not in fix
    command = fix.split("there: ")[1].split()
    assert command[0] == "sendguard"
    assert run(*command[1:]).returncode == 0  # the advice works: a starter config is written there
    assert run("--config", str(missing), "doctor").stdout.startswith("ok    config")


def test_every_command_reads_the_config_sendguard_sendmail_reads(world):
    """SENDGUARD_CONFIG is how a mail program's sendguard-sendmail gets a config of its own:
    doctor, check, release and queue run then judge and deliver under that file, not another."""
    broken = world.root / "dotfiles-sendguard.toml"
    broken.write_text('[sendmail]\nhold_acton = "queue"\n')
    env = {**world.env(), "SENDGUARD_CONFIG": str(broken)}
    sent = world.send(make_message(), "anna@kundenfirma.example", env=env)
    assert sent.returncode == 78 and b"hold_acton" in sent.stderr

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sendguard_exe(), *args], capture_output=True, text=True, env=env, timeout=120)

    doctor = cli("doctor")
    assert doctor.returncode == 1
    assert f"FAIL  config                {broken}:2" in doctor.stdout, doctor.stdout
    assert cli("config", "validate").returncode == 78
    # the file mail is judged under: its [rules] hold what the default config would let pass
    broken.write_text(world.config_path.read_text() + '[rules.external-recipient]\naction = "hold"\n')
    msg = world.root / "msg.eml"
    msg.write_bytes(make_message())
    assert cli("check", str(msg)).returncode == 2
    assert cli("--config", str(world.config_path), "check", str(msg)).returncode == 0  # --config still wins


def test_doctor_finds_a_damaged_history_and_its_fix_works(world, tmp_path):
    """A damaged history holds every mail a rule reading it checks, as not checkable: doctor
    names the file and what sqlite found, and the command it gives makes mail pass again."""
    from sendguard.history.store import path_in
    from tests.support import history_fixtures as hf

    mail = [make_message(to=f"kollege{n}@nordwerk.example", subject=f"Plan {n}") for n in range(40)]
    assert world.cli("learn", str(hf.write_maildir(tmp_path / "Sent", mail))).returncode == 0
    state = Path(os.environ["XDG_DATA_HOME"]) / "sendguard"
    history = path_in(state)
    hf.damage_table(history)
    out = tmp_path / "out.eml"
    out.write_bytes(make_message(to="kollege1@nordwerk.example", subject="Plan 41"))
    held = world.cli("check", "--json", str(out))
    assert '"hold"' in held.stdout and "malformed" in held.stdout, held.stdout
    assert "`sendguard doctor` checks the history it read." in held.stdout

    proc = world.cli("doctor")
    assert proc.returncode == 1
    line, fix = next(
        (line, after)
        for line, after in zip(proc.stdout.splitlines(), proc.stdout.splitlines()[1:])
        if line.split()[1:2] == ["history"]
    )
    assert line.startswith("FAIL") and f"{history} is damaged (" in line and "held as not checkable" in line
    command = fix.split("→ ", 1)[1].split("   (", 1)[0]
    assert command.startswith(f"mkdir {state}/damaged && mv {history}* {state}/damaged/ && sendguard learn ")
    sent = tmp_path / "Sent"
    done = run_printed_learn(command, sent, sendguard_exe(), world.env())
    assert done.returncode == 0, done.stderr
    assert (state / "damaged" / history.name).exists()
    checked = world.cli("check", "--json", str(out))
    assert "malformed" not in checked.stdout and '"pass"' in checked.stdout, checked.stdout
    line = next(line for line in world.cli("doctor").stdout.splitlines() if line.split()[1:2] == ["history"])
    assert not line.startswith("FAIL"), line


@pytest.mark.parametrize("kind", ["a directory", "a FIFO"])
def test_doctor_names_what_stands_where_the_history_belongs_and_its_fix_works(world, tmp_path, kind):
    """Not "nothing learned yet": nothing can be learned into it (learn and the delivery
    observer fail), and a FIFO must not hang the check of a mail that reads it."""
    from sendguard.history.store import path_in
    from tests.support import history_fixtures as hf

    state = Path(os.environ["XDG_DATA_HOME"]) / "sendguard"
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    history = path_in(state)
    if kind == "a directory":
        history.mkdir()
    else:
        os.mkfifo(history, 0o600)
    out = tmp_path / "out.eml"
    out.write_bytes(make_message(to="kollege1@nordwerk.example", subject="Plan 41"))
    checked = world.cli("check", "--json", str(out))  # timeout=120 in world.cli: a hang fails here
    assert checked.returncode in (0, 1), checked.stderr

    proc = world.cli("doctor")
    assert proc.returncode == 1, proc.stdout
    rows = proc.stdout.splitlines()
    line, fix = next((line, after) for line, after in zip(rows, rows[1:]) if line.split()[1:2] == ["history"])
    assert line.startswith("FAIL") and f"{history} is {kind}, not a file" in line, line
    assert "nothing learned yet" not in line
    command = fix.split("→ ", 1)[1].split("   (", 1)[0]
    assert command.startswith(f"mkdir {state}/damaged && mv {history}* {state}/damaged/ && sendguard learn ")
    mail = [make_message(to=f"kollege{n}@nordwerk.example", subject=f"Plan {n}") for n in range(40)]
    sent = hf.write_maildir(tmp_path / "Sent", mail)
    done = run_printed_learn(command, sent, sendguard_exe(), world.env())
    assert done.returncode == 0, done.stderr
    assert history.is_file()
    line = next(line for line in world.cli("doctor").stdout.splitlines() if line.split()[1:2] == ["history"])
    assert not line.startswith("FAIL"), line
