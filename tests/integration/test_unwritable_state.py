"""A state dir sendguard cannot write (``chattr +i``, a read-only mount, another owner): every
command says so in one line naming the path and exits 73, doctor tries a write and says what to
fix, and nothing prints a traceback. Root passes chmod, so as root the dir is made immutable."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from sendguard import paths
from tests.conftest import make_message, sendguard_exe

CANTCREAT = 73


@pytest.fixture
def unwritable_state(tmp_path):
    """The (empty) state dir, made unwritable for this test's user."""
    root = paths.state_dir(create=True)
    if os.getuid() == 0:
        if not shutil.which("chattr"):
            pytest.skip("root passes chmod, and chattr is not installed (e2fsprogs)")
        made = subprocess.run(["chattr", "+i", str(root)], capture_output=True, text=True, check=False)
        if made.returncode != 0:
            pytest.skip(f"chattr +i does not work here: {made.stderr.strip()}")
        undo = ["chattr", "-i", str(root)]
    else:
        root.chmod(0o500)
        undo = ["chmod", "700", str(root)]
    try:
        yield root
    finally:
        subprocess.run(undo, check=True)


def run(exe: str, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([exe, *args], input=stdin, capture_output=True, timeout=60, check=False)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


COMMANDS = [
    ["learn", "MAILDIR"],
    ["trust", "anna@kundenfirma.example"],
    ["forget", "<m1@nordwerk.example>"],
    ["queue", "list"],
    ["queue", "run"],
    ["release", "20261127-090000-abcdef"],
    ["discard", "20261127-090000-abcdef"],
    ["log", "tag:held"],
    ["undo"],
    ["oops"],
    ["review"],
    ["sendmail", "-t"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_every_command_names_the_unwritable_state_in_one_line(unwritable_state, tmp_path, args):
    maildir = tmp_path / "Sent"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1:2,S").write_bytes(make_message())
    args = [str(maildir) if a == "MAILDIR" else a for a in args]
    proc = run(sendguard_exe(), *args, stdin=make_message())
    assert proc.returncode == CANTCREAT, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"sendguard: error: cannot write {unwritable_state}")
    assert (f"chattr -i {unwritable_state}" if os.getuid() == 0 else f"chmod u+rwx {unwritable_state}") in line


def test_sendmail_keeps_nothing_sends_nothing_and_says_why_in_one_line(unwritable_state):
    proc = run(sendguard_exe("sendguard-sendmail"), "-t", stdin=make_message())
    assert proc.returncode == CANTCREAT
    (line,) = proc.stderr.splitlines()
    assert str(unwritable_state) in line and "not sent, your mail program still has it" in line


def test_doctor_tries_a_write_and_says_what_to_fix(unwritable_state):
    proc = run(sendguard_exe(), "doctor")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.startswith("FAIL  state dir")]
    assert f"{unwritable_state} cannot be written" in lines[at]
    assert "→" in lines[at + 1] and str(unwritable_state) in lines[at + 1]


def test_commands_that_keep_nothing_still_work(unwritable_state, tmp_path):
    message = tmp_path / "m.eml"
    message.write_bytes(make_message())
    proc = run(sendguard_exe(), "check", str(message))
    assert proc.returncode in (0, 1, 2, 3), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.fixture
def file_for_state():  # type: ignore[no-untyped-def]
    """A file where the state dir belongs (a backup restored wrongly, a stray `>` redirect)."""
    root = paths.state_dir()
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_text("not a directory\n")
    return root


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_a_file_where_the_state_dir_belongs_is_named_with_its_fix(file_for_state, tmp_path, args):
    """It said "(File exists): make it writable", or for sendmail an internal NotADirectoryError."""
    maildir = tmp_path / "Sent"
    (maildir / "cur").mkdir(parents=True)
    args = [str(maildir) if a == "MAILDIR" else a for a in args]
    proc = run(sendguard_exe(), *args, stdin=make_message())
    assert proc.returncode == CANTCREAT, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"sendguard: error: cannot write {file_for_state}"), line
    assert f"(Not a directory): {file_for_state} is a file where a directory belongs: move it aside" in line
    assert file_for_state.read_text() == "not a directory\n"


def test_doctor_names_a_file_where_the_state_dir_belongs(file_for_state):
    """doctor itself ended in `incidents-pending: Not a directory` (exit 73) instead of its report."""
    proc = run(sendguard_exe(), "doctor")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.startswith("FAIL  state dir")]
    assert f"{file_for_state} cannot be written (Not a directory)" in lines[at]
    assert f"→ {file_for_state} is a file where a directory belongs: move it aside (mv " in lines[at + 1]
