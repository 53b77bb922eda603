"""``sendguard learn``, ``trust`` and ``evaluate`` through the real command line."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import make_message, sendguard_exe
from tests.support import history_fixtures as hf


def sg(tmp_path, *args):  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text(hf.CONFIG_TEXT)
    return subprocess.run(
        [sendguard_exe(), "--config", str(config), *args], capture_output=True, text=True, timeout=120
    )


def test_learn_is_idempotent_and_quiet_off_a_terminal(tmp_path):
    maildir = hf.write_maildir(tmp_path / "sent", hf.history_messages())
    first = sg(tmp_path, "learn", str(maildir))
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"learned {len(hf.history_messages())} new messages")
    assert "learning" not in first.stderr  # no progress bar without a terminal
    second = sg(tmp_path, "learn", str(maildir))
    assert second.stdout.startswith("learned 0 new messages")


def test_learn_without_sources_is_a_usage_error(tmp_path):
    result = sg(tmp_path, "learn")
    assert result.returncode == 64 and result.stderr.startswith("sendguard: error: nothing to learn")


def test_learn_missing_path_is_a_usage_error(tmp_path):
    result = sg(tmp_path, "learn", str(tmp_path / "nope"))
    assert result.returncode == 64 and "no such file" in result.stderr


def test_learned_history_changes_the_check(tmp_path):
    body = (
        "Hallo Thomas,\n\nzur Umstrukturierung: die Personalkosten der Abteilung müssen sinken.\n"
        "Budget und Gehälter besprechen wir morgen.\n\nGruß\nPetra"
    )
    msg = tmp_path / "msg.eml"
    msg.write_bytes(hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", body, cc=[hf.COLLEAGUE], n=100))
    assert sg(tmp_path, "check", str(msg)).returncode == 0
    sg(tmp_path, "learn", str(hf.write_maildir(tmp_path / "sent", hf.history_messages())))
    held = sg(tmp_path, "check", str(msg))
    assert held.returncode == 2 and f"did you mean {hf.BOSS}?" in held.stdout
    trusted = sg(tmp_path, "trust", hf.CLIENT_THOMAS)
    assert trusted.returncode == 0 and "trusted" in trusted.stdout
    assert sg(tmp_path, "check", str(msg)).returncode <= 1
    assert hf.CLIENT_THOMAS in sg(tmp_path, "trust", "--list").stdout


def test_trust_rejects_unknown_rules(tmp_path):
    result = sg(tmp_path, "trust", "--rule", "no-such-rule", hf.CLIENT_THOMAS)
    assert result.returncode == 64 and "no such rule" in result.stderr


def test_evaluate_catches_the_swap_and_holds_no_real_mail(tmp_path):
    from sendguard import paths
    from sendguard.decide.evaluate import evaluate

    score = evaluate(hf.history_messages(), hf.config(), seed=0)
    # the newest 30 % of the 34 sent messages; of those, the ones with a confusable contact are swapped
    assert score.replayed == 10 and score.false_holds == 0
    assert score.swapped >= 1 and score.caught == score.swapped
    assert not paths.state_dir().exists() or not any(paths.state_dir().iterdir())  # learned into a temp dir


def test_evaluate_reports_both_numbers(tmp_path):
    maildir = hf.write_maildir(tmp_path / "sent", hf.history_messages())
    result = sg(tmp_path, "evaluate", str(maildir))
    assert result.returncode == 0, result.stderr
    assert "held for nothing" in result.stdout and "swapped in" in result.stdout
    assert "judgement:" in result.stdout  # the operating point the fit expects


def test_learn_from_a_notmuch_query(tmp_path):
    import pytest

    pytest.importorskip("notmuch2")
    mail_root = hf.notmuch_mail_root(tmp_path / "mail", "sent")
    result = sg(tmp_path, "learn", "--notmuch", "subject:Granit", "--notmuch-db", str(mail_root))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("learned 9 new messages")


def on_a_terminal(tmp_path, *args) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Run sendguard with stderr on a pseudo-terminal; (exit code, what the terminal showed)."""
    import os
    import pty
    import select
    import time

    config = tmp_path / "config.toml"
    config.write_text(hf.CONFIG_TEXT)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sendguard_exe(), "--config", str(config), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env={**os.environ, "COLUMNS": "80"},
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal: everything has been read
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return proc.wait(timeout=60), shown.decode("utf-8", "replace")


def percentages(shown: str) -> set[int]:
    import re

    return {int(p) for p in re.findall(r"(\d+)%", shown)}


def test_learning_one_big_mbox_moves_the_progress_bar(tmp_path):
    import mailbox

    box = mailbox.mbox(tmp_path / "archive.mbox")
    for raw in hf.history_messages():
        box.add(raw)
    box.flush()
    box.close()
    code, shown = on_a_terminal(tmp_path, "learn", str(tmp_path / "archive.mbox"))
    assert code == 0, shown
    assert "learning" in shown and 100 in percentages(shown)
    assert percentages(shown) - {0, 100}, shown  # it moved while reading the one file


def test_learning_a_notmuch_query_shows_the_progress_bar(tmp_path):
    import pytest

    pytest.importorskip("notmuch2")
    mail_root = hf.notmuch_mail_root(tmp_path / "mail", "sent")
    code, shown = on_a_terminal(tmp_path, "learn", "--notmuch", "subject:Granit", "--notmuch-db", str(mail_root))
    assert code == 0, shown
    assert "learning" in shown and percentages(shown) - {0, 100}, shown


def test_learn_skips_what_is_not_a_regular_file(tmp_path):
    """A FIFO in a mail folder made learn (and evaluate) wait for a writer forever."""
    import os

    maildir = hf.write_maildir(tmp_path / "sent", hf.history_messages())
    os.mkfifo(maildir / "cur" / "a-fifo")
    learned = sg(tmp_path, "learn", str(maildir))
    assert learned.returncode == 0, learned.stderr
    assert learned.stdout.startswith(f"learned {len(hf.history_messages())} new messages")
    device = sg(tmp_path, "learn", os.devnull)
    assert device.returncode == 64 and f"{os.devnull}: not a file or a directory" in device.stderr


def test_evaluate_of_sent_mail_alone_asks_for_the_inbox(tmp_path):
    own = [m for m in hf.history_messages() if f"<{hf.ME}>".encode() in m.split(b"\n", 1)[0]]
    everything = sg(tmp_path, "evaluate", str(hf.write_maildir(tmp_path / "all", hf.history_messages())))
    sent_only = sg(tmp_path, "evaluate", str(hf.write_maildir(tmp_path / "sent", own)))
    assert everything.returncode == sent_only.returncode == 0, everything.stderr + sent_only.stderr
    assert "no received mail was given" not in everything.stdout
    assert "no received mail was given" in sent_only.stdout and "~/Mail/INBOX" in sent_only.stdout


def test_evaluate_says_the_inbox_given_held_no_received_mail(tmp_path):
    """An empty inbox, or one holding only the user's own mail, is named, not "was not given"."""
    own = [m for m in hf.history_messages() if f"<{hf.ME}>".encode() in m.split(b"\n", 1)[0]]
    sent = hf.write_maildir(tmp_path / "sent", own)
    empty = hf.write_maildir(tmp_path / "INBOX", [])
    with_empty = sg(tmp_path, "evaluate", str(sent), str(empty))
    assert with_empty.returncode == 0, with_empty.stderr
    assert f"no received mail: {empty} holds no messages, so who writes to you" in with_empty.stdout
    assert "was given" not in with_empty.stdout
    copy = hf.write_maildir(tmp_path / "copy", own)
    own_only = sg(tmp_path, "evaluate", str(sent), str(copy))
    assert own_only.returncode == 0, own_only.stderr
    assert "no received mail: every message given is from [identity] addresses" in own_only.stdout


def test_a_notmuch_database_that_cannot_be_opened_is_bad_input_not_an_internal_error(tmp_path):
    """It exited 70, which means a bug in sendguard."""
    import os

    env = dict(os.environ, NOTMUCH_CONFIG=str(tmp_path / "no-such-notmuch-config"))
    config = tmp_path / "config.toml"
    config.write_text(hf.CONFIG_TEXT)
    proc = subprocess.run(
        [sendguard_exe(), "--config", str(config), "learn", "--notmuch", "*"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 65, proc.stderr
    assert proc.stderr.startswith("sendguard: error: the notmuch database cannot be opened")


@pytest.mark.parametrize("damage", ["not a database", "a directory", "a damaged table"])
def test_a_damaged_history_is_one_clear_error_not_a_traceback(tmp_path, damage):
    """learn, forget and trust opened the history for writing and ended in sqlite3's
    DatabaseError with a traceback; the fix is the one doctor gives."""
    from sendguard import paths
    from sendguard.history.store import path_in

    history = path_in(paths.state_dir(create=True))
    commands: list[tuple[str, ...]] = [("learn", str(hf.write_maildir(tmp_path / "sent", hf.history_messages())))]
    if damage == "a damaged table":  # opens as a database; learning reads a scribbled page
        mail = [make_message(to=f"kollege{n}@nordwerk.example", subject=f"Plan {n}") for n in range(40)]
        assert sg(tmp_path, "learn", str(hf.write_maildir(tmp_path / "colleagues", mail))).returncode == 0
        hf.damage_table(history)
        more = [make_message(to=f"neu{n}@kunde.example", subject=f"Plan {n}") for n in range(40)]
        commands = [("learn", str(hf.write_maildir(tmp_path / "more", more)))]
    else:
        if damage == "a directory":
            history.mkdir()
        else:
            history.write_bytes(b"not a database " * 100)
        commands += [("forget", "<a@b.example>"), ("trust", hf.CLIENT_THOMAS), ("trust", "--list")]
    for command in commands:
        proc = sg(tmp_path, *command)
        assert proc.returncode == 65, (command, proc.stderr)
        first, *hints = proc.stderr.splitlines()
        assert first.startswith(f"sendguard: error: the history {history} is damaged ("), (command, proc.stderr)
        assert f"mv {history}* " in hints[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("trust", "M\udcfcller@kunde.example"),
        ("forget", "<m\udcfc@nordwerk.example>"),
        ("learn", "--as", "m\udcfcller@kunde.example", "SENT"),
        ("learn", "--as", "login", "--address", "m\udcfcller@kunde.example", "SENT"),
        ("learn", "--notmuch", "from:M\udcfcller"),
    ],
    ids=lambda a: " ".join(w for w in a if w.startswith("-")) or a[0],
)
def test_a_word_that_is_not_utf8_is_one_clear_error(tmp_path, args):
    """A Latin-1 terminal's "Müller" (its byte 0xfc) reached sqlite, the milter's sender
    directory or notmuch as a str they cannot encode: UnicodeEncodeError, a traceback."""
    sent = hf.write_maildir(tmp_path / "sent", hf.history_messages())
    proc = sg(tmp_path, *[str(sent) if a == "SENT" else a for a in args])
    assert proc.returncode == 64, proc.stderr
    first, hint = proc.stderr.splitlines()
    assert first.startswith("sendguard: error: ") and "\\xfc" in first and first.endswith("' is not UTF-8 text")
    assert "UTF-8 locale" in hint


def as_a_user(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """sendguard run by a user who cannot read everything: this user when not root; as root
    (who reads every folder whatever its mode) as nobody, in a home nobody owns."""
    home = tmp / "home"
    home.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        for path in [tmp, *tmp.rglob("*")]:
            os.chown(path, 65534, 65534, follow_symlinks=False)
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    config = home / "config.toml"
    config.write_text(hf.CONFIG_TEXT)
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_RUNTIME_DIR": str(home / "run"),
    }
    return subprocess.run(
        [*prefix, sendguard_exe(), "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def reachable():  # type: ignore[no-untyped-def]
    """A directory another user can reach (pytest's tmp_path sits in root's 0700 one)."""
    path = Path(tempfile.mkdtemp(prefix="sendguard-learn-"))
    path.chmod(0o755)
    yield path
    for sub in [path, *path.rglob("*")]:  # the modes the test took away, back, so it can go
        with contextlib.suppress(OSError):
            sub.chmod(0o755 if sub.is_dir() else 0o644)
    shutil.rmtree(path, ignore_errors=True)


def test_a_folder_or_file_learn_cannot_read_is_named_and_fails_the_run(reachable):
    """os.walk skips a folder it cannot list unless asked: a whole Archive went unlearned in silence."""
    messages = hf.history_messages()
    mail = reachable / "Mail"
    hf.write_maildir(mail / "INBOX", messages[:3])
    hf.write_maildir(mail / "Archive", messages[3:6])
    hf.write_maildir(mail / "Sent", messages[6:8])
    (mail / "Archive").chmod(0)
    unreadable_file = sorted((mail / "Sent" / "cur").iterdir())[0]
    unreadable_file.chmod(0)
    result = as_a_user(reachable, "learn", str(mail))
    assert result.returncode == 65, (result.stdout, result.stderr)
    assert result.stdout.startswith("learned 4 new messages"), result.stdout  # all the rest is learned
    errors = [line for line in result.stderr.splitlines() if line.startswith("sendguard: error: ")]
    assert errors == [
        f"sendguard: error: {mail / 'Archive'}: cannot be read: Permission denied: nothing in it was learned",
        f"sendguard: error: {unreadable_file}: cannot be read: Permission denied: nothing in it was learned",
    ], result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_refuses_a_folder_it_cannot_read(reachable):
    """Figures measured on part of the mail, without a word, would be wrong figures."""
    messages = hf.history_messages()
    sent = hf.write_maildir(reachable / "Sent", messages)
    (sent / "cur").chmod(0)
    result = as_a_user(reachable, "evaluate", str(sent))
    assert result.returncode == 65, (result.stdout, result.stderr)
    assert f"{sent / 'cur'}: cannot be read: Permission denied" in result.stderr
    assert "Traceback" not in result.stderr
