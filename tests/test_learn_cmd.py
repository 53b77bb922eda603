"""``sendguard learn``, ``trust`` and ``evaluate`` through the real command line."""

from __future__ import annotations

import subprocess

from tests import history_fixtures as hf
from tests.conftest import sendguard_exe


def sg(tmp_path, *args):  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text(hf.CONFIG_TEXT)
    return subprocess.run([sendguard_exe(), "--config", str(config), *args], capture_output=True, text=True)


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
    body = ("Hallo Thomas,\n\nzur Umstrukturierung: die Personalkosten der Abteilung müssen sinken.\n"
            "Budget und Gehälter besprechen wir morgen.\n\nGruß\nPetra")
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


def test_evaluate_reports_both_numbers(tmp_path):
    maildir = hf.write_maildir(tmp_path / "sent", hf.history_messages())
    result = sg(tmp_path, "evaluate", str(maildir))
    assert result.returncode == 0, result.stderr
    assert "held for nothing" in result.stdout and "swapped in" in result.stdout


def test_learn_from_a_notmuch_query(tmp_path):
    import pytest

    notmuch2 = pytest.importorskip("notmuch2")
    mail_root = tmp_path / "mail"
    hf.write_maildir(mail_root / "sent", hf.history_messages())
    db = notmuch2.Database.create(str(mail_root), config=notmuch2.Database.CONFIG.EMPTY)
    for f in sorted((mail_root / "sent" / "cur").iterdir()):
        db.add(str(f))
    db.close()
    result = sg(tmp_path, "learn", "--notmuch", "subject:Granit", "--notmuch-db", str(mail_root))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("learned 9 new messages")
