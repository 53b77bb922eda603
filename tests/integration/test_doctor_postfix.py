"""`sendguard doctor --postfix`: Postfix's own configuration read back with the real postconf.

A Postfix configuration directory is written per test from Debian's master.cf and the hooks/
snippets, with queue_directory in the test's directory, so the milter socket the submission
service names (/sendguard/milter.sock inside the chroot) is one the test can open.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import sendguard_exe

HOOKS = Path(__file__).resolve().parents[2] / "hooks"


def postfix_dir(tmp: Path, main_extra: str = "", master_change: tuple[str, str] = ("", "")) -> Path:
    if not (shutil.which("postconf") or shutil.which("postconf", path="/usr/sbin:/sbin")):
        pytest.skip("postfix is not installed (.ci/setup installs it)")
    conf = tmp / "postfix"
    conf.mkdir()
    master = Path("/etc/postfix/master.cf").read_text() + (HOOKS / "postfix-master.cf").read_text()
    if master_change[0]:
        assert master_change[0] in master
        master = master.replace(*master_change)
    (conf / "master.cf").write_text(master)
    (conf / "main.cf").write_text(
        (HOOKS / "postfix-main.cf").read_text() + f"queue_directory = {tmp / 'spool'}\n" + main_extra
    )
    (tmp / "spool" / "sendguard").mkdir(parents=True)
    return conf


def listening(tmp: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp / "spool" / "sendguard" / "milter.sock"))
    sock.listen(4)
    return sock


def doctor(tmp: Path, conf: Path, *extra: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``doctor --postfix-config conf``, with ``config`` (else a bare ``[milter]`` one in ``tmp``)."""
    if config is None:
        config = tmp / "sendguard.toml"
        config.write_text("[milter]\n")
    return subprocess.run(
        [sendguard_exe(), "--config", str(config), "doctor", "--postfix-config", str(conf), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def lines(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """check name -> its status and detail, from the doctor's columns."""
    out = {}
    for line in proc.stdout.splitlines():
        status, _, rest = line.partition("  ")
        if status.strip() in ("ok", "warn", "FAIL"):
            name, _, detail = rest.strip().partition("  ")
            out[name.strip()] = f"{status.strip()} {detail.strip()}"
    return out


def test_the_shipped_snippets_pass_and_the_milter_answers(tmp_path):
    conf = postfix_dir(tmp_path)
    with listening(tmp_path):
        proc = doctor(tmp_path, conf, "--listen", f"unix:{tmp_path / 'spool/sendguard/milter.sock'}")
    found = lines(proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert found["postfix submission/inet"].startswith("ok passes mail to the milter")
    assert found["milter"].startswith("ok answers at unix:")
    # the server's own sendmail is not checked by these snippets: said, not failed
    assert found["postfix local mail"].startswith("warn non_smtpd_milters")
    # an administrator's run is about the server: no user's mail programs in it
    assert "mail programs" not in found


def test_a_milter_default_of_accept_lets_mail_through_unchecked_and_fails(tmp_path):
    conf = postfix_dir(tmp_path, master_change=("-o milter_default_action=tempfail", "-o milter_default_action=accept"))
    with listening(tmp_path):
        proc = doctor(tmp_path, conf, "--listen", f"unix:{tmp_path / 'spool/sendguard/milter.sock'}")
    assert proc.returncode == 1
    assert lines(proc)["postfix submission/inet"].startswith("FAIL milter_default_action = accept")
    assert "→ milter_default_action = tempfail" in proc.stdout


def test_without_auth_authen_each_message_is_judged_by_its_mail_from(tmp_path):
    conf = postfix_dir(tmp_path, main_extra="milter_mail_macros = i {mail_addr}\n")
    proc = doctor(tmp_path, conf)
    assert lines(proc)["postfix submission/inet"].startswith("warn milter_mail_macros lacks {auth_authen}")


def test_a_milter_postfix_does_not_name_and_one_not_running_both_fail(tmp_path):
    conf = postfix_dir(tmp_path)
    other = f"unix:{tmp_path / 'elsewhere.sock'}"
    proc = doctor(tmp_path, conf, "--listen", other)
    found = lines(proc)
    assert proc.returncode == 1
    assert found["postfix"] == f"FAIL no smtpd service passes mail to the milter at {other}: nothing is checked"
    assert found["milter"].startswith(f"FAIL nothing answers at {other}")


def test_a_listen_spec_that_is_no_socket_is_one_clear_line(tmp_path):
    conf = postfix_dir(tmp_path)
    proc = doctor(tmp_path, conf, "--listen", "milter.sock")
    assert proc.returncode == 64 and "Traceback" not in proc.stderr
    assert "is not a milter socket" in proc.stderr


def test_the_milter_says_at_start_that_postfix_would_let_mail_through_unchecked(tmp_path):
    pytest.importorskip("Milter")
    from tests.support.postfix import MilterProcess

    milter = MilterProcess(sendguard_exe(), tmp_path / "sendguard.toml", tmp_path / "state", transport="inet")
    conf = postfix_dir(tmp_path, main_extra=f"smtpd_milters = {milter.postfix_spec}\nmilter_default_action = accept\n")
    (tmp_path / "sendguard.toml").write_text(f'[log]\nnotmuch = false\n\n[milter]\npostfix_config = "{conf}"\n')
    try:
        milter.start()
        log = milter.log()
    finally:
        milter.stop()
    # smtp/inet takes main.cf's smtpd_milters; the shipped submission entry names another socket
    assert "postfix: FAIL postfix smtp/inet: milter_default_action = accept: while the milter is down" in log
    # and it listens all the same: a warning in its log, not a milter that refuses to run
    assert "listening on inet:" in log


def test_a_damaged_sender_history_fails_with_the_way_to_rebuild_it(tmp_path):
    """Each sender's history the milter keeps: one damaged holds that sender's every mail."""
    from sendguard.history.store import path_in
    from sendguard.milter import senders
    from tests.support import history_fixtures as hf

    conf = postfix_dir(tmp_path)
    config = tmp_path / "sendguard.toml"
    state = tmp_path / "milter"
    config.write_text(f'[milter]\nstate_dir = "{state}"\n')

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sendguard_exe(), "--config", str(config), *args], capture_output=True, text=True, timeout=120, check=False
        )

    sent = hf.write_maildir(tmp_path / "Sent", hf.history_messages())
    assert run("learn", "--as", hf.ME, str(sent)).returncode == 0
    assert lines(run("doctor", "--postfix-config", str(conf)))["sender histories"].startswith("ok 1 in ")
    hf.damage_table(path_in(senders.sender_dir(state, hf.ME)))
    proc = run("doctor", "--postfix-config", str(conf))
    line = lines(proc)["sender histories"]
    assert proc.returncode == 1 and line.startswith(f"FAIL 1 of 1 damaged: {hf.ME} (")
    fix = proc.stdout.split("sender histories", 1)[1].split("→ ", 1)[1].splitlines()[0]
    move = fix.removeprefix("with the milter stopped: ").split(", then ", 1)[0]
    assert subprocess.run(move, shell=True, check=False).returncode == 0
    assert f"sendguard learn --as {hf.ME} THEIR-SENT-FOLDER" in fix
    assert run("learn", "--as", hf.ME, str(sent)).returncode == 0
    assert lines(run("doctor", "--postfix-config", str(conf)))["sender histories"].startswith("ok 1 in ")


def test_a_directory_where_a_sender_history_belongs_is_named_not_skipped(tmp_path):
    """It was left out of the count: nothing can be learned into it, so the milter learns nothing
    of that sender's mail."""
    from sendguard.history.store import path_in
    from sendguard.milter import senders

    conf = postfix_dir(tmp_path)
    config = tmp_path / "sendguard.toml"
    state = tmp_path / "milter"
    config.write_text(f'[milter]\nstate_dir = "{state}"\n')
    path_in(senders.sender_dir(state, "me@nordwerk.example", create=True)).mkdir()
    proc = doctor(tmp_path, conf, config=config)
    line = lines(proc)["sender histories"]
    assert proc.returncode == 1 and line.startswith(
        "FAIL 1 of 1 damaged: me@nordwerk.example (a directory, not a file)"
    )


def milter_state(tmp: Path, name: str) -> tuple[Path, Path, Path]:
    """(Postfix's configuration, sendguard's config, the milter's state directory ``name``)."""
    conf = postfix_dir(tmp)
    config = tmp / "sendguard.toml"
    state = tmp / name
    config.write_text(f'[milter]\nstate_dir = "{state}"\n')
    return conf, config, state


def learning_row(tmp: Path, conf: Path, config: Path) -> tuple[str, str]:
    """doctor --postfix's "learning" line and the line after it (the fix)."""
    rows = doctor(tmp, conf, config=config).stdout.splitlines()
    return next((row, after) for row, after in zip(rows, [*rows[1:], ""]) if row.split()[1:2] == ["learning"])


def stuck_journal(state: Path) -> tuple[Path, Path]:
    """(a journal tried as often as it may be and still waiting, where it would be set aside)."""
    from sendguard.milter import journal
    from sendguard.milter.journal import Journal

    held = Journal.create(state)
    held.append("me@nordwerk.example", (), b"Subject: x\n\nbody\n")
    held.release()
    stuck = held.path.with_name(held.path.name.replace(journal.SUFFIX, f"+{journal.TRIES}{journal.SUFFIX}"))
    held.path.rename(stuck)
    return stuck, state / journal.DIRECTORY / journal.FAILED


@pytest.mark.parametrize("state_name", ["milter", "milter state"])
def test_a_journal_the_milter_set_aside_is_named_with_how_to_learn_it_again(tmp_path, state_name):
    """After three attempts to learn it failed or killed the worker, the milter moves a journal
    to learning/failed/ and logs it once; doctor keeps saying so, and its command works as
    pasted (a space in the state directory's path too)."""
    from sendguard.milter import journal
    from sendguard.milter.journal import Journal

    conf, config, state = milter_state(tmp_path, state_name)

    def learning_line() -> tuple[str, str]:
        return learning_row(tmp_path, conf, config)

    assert learning_line()[0].startswith("ok  ")
    held = Journal.create(state)
    held.append("me@nordwerk.example", (), b"Subject: x\n\nbody\n")
    aside = held.set_aside()
    line, fix = learning_line()
    assert (
        line.startswith("warn") and f"1 journal(s) of what the milter let through set aside in {aside.parent}" in line
    )
    assert "not learned" in line
    command = fix.split("→ ", 1)[1].split(" (learned within", 1)[0].split("as the milter's user: ", 1)[1]
    assert subprocess.run(command, shell=True, check=False).returncode == 0
    assert [p.name for p in (state / journal.DIRECTORY).glob("*.journal")] == [aside.name]
    assert learning_line()[0].startswith("ok  ")


def test_journals_that_cannot_be_set_aside_are_named_with_the_fix(tmp_path):
    """learning/failed/ is a file: doctor said ok while the workers tried the journal again at
    every scan. It names the file and the command that makes room; pasted, the journal can be
    set aside and doctor says so as usual."""
    from sendguard.milter.journal import Journal

    conf, config, state = milter_state(tmp_path, "milter state")
    stuck, failed = stuck_journal(state)
    failed.write_text("in the way\n")

    def learning_line() -> tuple[str, str]:
        return learning_row(tmp_path, conf, config)

    line, fix = learning_line()
    assert line.startswith("warn") and f"cannot be set aside: {failed} is not a directory" in line, line
    command = fix.split("as root: ", 1)[1].split(" (the milter's user", 1)[0]
    assert subprocess.run(command, shell=True, check=False).returncode == 0
    again = Journal.adopt(stuck)
    assert again is not None
    again.set_aside()
    assert (
        learning_line()[0].startswith("warn")
        and "1 journal(s) of what the milter let through set aside" in (learning_line()[0])
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes any directory")
def test_journals_that_cannot_be_set_aside_for_the_permissions_are_named_with_the_fix(tmp_path):
    from sendguard.milter.journal import Journal

    conf, config, state = milter_state(tmp_path, "milter")
    stuck, failed = stuck_journal(state)
    failed.mkdir(mode=0o500)
    with pytest.raises(PermissionError):
        Journal.adopt(stuck).set_aside()  # type: ignore[union-attr]
    line, fix = learning_row(tmp_path, conf, config)
    assert line.startswith("warn") and f"cannot be set aside: {failed} cannot be made or written" in line, line
    command = fix.split("as root: ", 1)[1].split(" (the milter's user", 1)[0]
    assert subprocess.run(command, shell=True, check=False).returncode == 0  # its owner may run it too
    again = Journal.adopt(stuck)
    assert again is not None
    assert again.set_aside().parent == failed
