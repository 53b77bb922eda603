"""Helpers for the mail-program matrix (tests/test_mua_*.py): drive the real programs.

Each helper runs the real mail program with its own HOME and config pointing at the world's
``sendguard-sendmail`` by absolute path, with ``SENDGUARD_CONFIG`` in the environment, exactly as
a user's setup would (see ../shared/notes/integration.md for how each program calls sendmail).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

HOLD_EXTERNAL = '[rules.external-recipient]\naction = "hold"\n'
"""Config extra that holds every mail to outside the organization: a deterministic hold."""


def need(program: str) -> str:
    path = shutil.which(program)
    if not path:
        pytest.skip(f"{program} is not installed (apt-get install {program})")
    return path


def unix(data: bytes) -> bytes:
    """SMTP's CRLF aside."""
    return data.replace(b"\r\n", b"\n")


def queue_rows(world) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    proc = world.cli("queue", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def held_row(world) -> dict:  # type: ignore[no-untyped-def,type-arg]
    rows = [r for r in queue_rows(world) if r["state"] == "held"]
    assert len(rows) == 1, rows
    return rows[0]


def header_names(data: bytes) -> list[str]:
    head = unix(data).split(b"\n\n", 1)[0]
    return [line.split(b":", 1)[0].decode().lower() for line in head.split(b"\n") if line and line[:1] not in b" \t"]


def write_muttrc(world, home: Path) -> Path:  # type: ignore[no-untyped-def]
    """A muttrc as hooks/muttrc suggests, plus what batch mode in a test needs."""
    home.mkdir(exist_ok=True)
    rc = home / "muttrc"
    rc.write_text(
        f'set sendmail="{world.sendmail}"\n'
        'set record="" copy=no postpone=no\n'
        'set realname="Me" from="me@nordwerk.example" use_from=yes\n'
    )
    return rc


def run_mutt(program: str, world, home: Path, to: str, subject: str, body: str,  # type: ignore[no-untyped-def]
             bcc: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """Send one message with mutt or neomutt in batch mode (no terminal, body on stdin)."""
    exe = need(program)
    rc = write_muttrc(world, home)
    argv = [exe, *(["-n"] if program == "neomutt" else []), "-F", str(rc), "-s", subject]
    if bcc:
        argv += ["-b", bcc]
    argv += ["--", to]
    env = world.env()
    env["HOME"] = str(home)
    return subprocess.run(argv, input=body.encode(), capture_output=True, env=env, timeout=60, check=False)
