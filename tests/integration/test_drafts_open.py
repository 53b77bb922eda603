"""How `sendguard oops` and `sendguard undo` say to open their drafts: in the mail program the
message was sent with. mutt and neomutt open a draft file (``-H``); aerc opens drafts only from
a folder of its own account (``:recall``), so they are copied into its Drafts folder unless
``[drafts] maildir`` already is one."""

from __future__ import annotations

import io
import os
import shlex
from pathlib import Path

from sendguard.sendpath.path import SendPath
from tests.conftest import make_message

TO = "anna@kundenfirma.example"


def sent_with(world, program: str) -> None:  # type: ignore[no-untyped-def]
    caller = {"program": program, "interactive": True, "stderr_tty": False}
    code = SendPath(world.config_path, io.StringIO(), caller=caller).run([TO], io.BytesIO(make_message(to=TO)))
    assert code == 0


def aerc_account(maildir: Path) -> None:
    accounts = Path(os.environ["XDG_CONFIG_HOME"]) / "aerc" / "accounts.conf"
    accounts.parent.mkdir(parents=True, exist_ok=True)
    accounts.write_text(f"[work]\nsource = maildir://{maildir}\noutgoing = /x/sendguard-sendmail\n")


def test_oops_for_a_neomutt_message_opens_its_drafts_with_neomutt(world):
    sent_with(world, "neomutt")
    proc = world.cli("oops")
    assert proc.returncode == 0, proc.stderr
    opens = [line.strip() for line in proc.stdout.splitlines() if " -H " in line]
    assert opens and all(line.startswith("neomutt -H ") for line in opens), proc.stdout
    for line in opens:
        assert Path(shlex.split(line)[2]).is_file()


def test_oops_for_an_aerc_message_copies_its_drafts_where_aerc_recalls_them(world):
    maildir = Path(os.environ["HOME"]) / "Mail"
    aerc_account(maildir)
    sent_with(world, "aerc")
    proc = world.cli("oops")
    assert proc.returncode == 0, proc.stderr
    assert " -H " not in proc.stdout, "aerc opens no draft file"
    (copy,) = [shlex.split(line.strip()) for line in proc.stdout.splitlines() if line.strip().startswith("mkdir -p ")]
    assert copy[2] == f"{maildir}/Drafts/cur" and copy[4] == "cp" and copy[-1] == f"{maildir}/Drafts/cur/"
    assert all(Path(path).is_file() for path in copy[5:-1]) and len(copy[5:-1]) >= 1
    assert "in aerc: :cf Drafts  then :recall on each draft" in proc.stdout
    assert '[drafts] maildir = "~/Mail/Drafts"' in proc.stdout


def test_with_drafts_in_aercs_own_folder_oops_says_only_where_to_recall_them(world):
    maildir = Path(os.environ["HOME"]) / "Mail"
    aerc_account(maildir)
    world.write_config('[drafts]\nmaildir = "~/Mail/Drafts"\n')
    sent_with(world, "aerc")
    proc = world.cli("oops")
    assert proc.returncode == 0, proc.stderr
    assert "in aerc: :cf Drafts  then :recall on each draft" in proc.stdout
    assert "cp " not in proc.stdout
    assert list((maildir / "Drafts" / "cur").iterdir()), "the drafts are there"


def test_undo_of_a_neomutt_message_reopens_it_with_neomutt(world):
    world.write_config("[delay]\nseconds = 60\n")
    sent_with(world, "neomutt")
    proc = world.cli("undo")
    assert proc.returncode == 0, proc.stderr
    (line,) = [line.strip() for line in proc.stdout.splitlines() if " -H " in line]
    assert line.startswith("neomutt -H ") and Path(shlex.split(line)[2]).is_file(), proc.stdout
    assert world.server.received == []
    # neomutt said "Mail sent" and filed its copy: the person is told that one never left
    assert "neomutt may have filed a copy in its Sent folder (record): it never left." in proc.stdout
