"""paths.create_private_file: a new file is 0600; an existing one is not opened at all.

Closing any descriptor of a file drops every POSIX lock the process holds on it. sqlite keeps
its locks that way, so opening and closing the history file beside a connection another thread
has open took that connection's locks, and the milter's worker lost what it had just learned.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys

from sendguard import paths

TRY_LOCK = "import fcntl, os, sys; fcntl.lockf(os.open(sys.argv[1], os.O_RDWR), fcntl.LOCK_EX | fcntl.LOCK_NB)"


def test_a_new_file_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        paths.create_private_file(tmp_path / "history.sqlite")
    finally:
        os.umask(old)
    assert (tmp_path / "history.sqlite").stat().st_mode & 0o777 == 0o600


def test_an_existing_file_keeps_the_locks_this_process_holds_on_it(tmp_path):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"learned")
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        paths.create_private_file(path)
        other = subprocess.run([sys.executable, "-c", TRY_LOCK, str(path)], capture_output=True, check=False)
        assert other.returncode != 0 and b"BlockingIOError" in other.stderr, "the lock was dropped"
    finally:
        os.close(fd)
    assert path.read_bytes() == b"learned"
