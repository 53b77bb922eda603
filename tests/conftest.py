"""Shared fixtures. Every test runs in its own HOME and XDG tree (b4's autouse pattern), so no
test reads the developer's config, queue or history, and none depends on anything outside the repository.

Real parts: ``smtp_server`` is an aiosmtpd server on 127.0.0.1; ``world`` writes an msmtp
config pointing at it and a sendguard config whose transport is the real msmtp.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.support.isolated import private_dirs

BIN = Path(sys.executable).parent

# No per-example deadline for any property test: it is a wall-clock limit, so it measures the
# machine's load, not the code (an example of 0.1 ms failed at 280 ms while it waited for a
# core). What must stay fast is asserted in CPU time (test_bounded_checks.py). Inherits the
# rest from the profile Hypothesis chose (its "ci" profile when CI is set).
settings.register_profile("sendguard", deadline=None)
settings.load_profile("sendguard")


def sendguard_exe(name: str = "sendguard") -> str:
    """The installed console script, by absolute path (as mail programs are pointed at it)."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed")
    return found


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("home")
    for var, path in private_dirs(root).items():
        monkeypatch.setenv(var, path)
    for var in ("NOTMUCH_CONFIG", "SENDGUARD_CONFIG", "DISPLAY", "WAYLAND_DISPLAY", "MAILDIR", "EDITOR", "VISUAL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    # The text sendmail writes depends on the caller's locale (ASCII in C): the same for everyone.
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    # A resident checker per test HOME would outlive its test; tests/integration/test_resident.py turns it on.
    monkeypatch.setenv("SENDGUARD_RESIDENT", "0")
    return root


@pytest.fixture
def utc(monkeypatch):
    """The local time zone is UTC, whatever the machine's."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 that records what it gets (sendguard.cli.support.loopback)."""
    pytest.importorskip("aiosmtpd.controller")
    from sendguard.cli.support.loopback import LoopbackSMTP

    with LoopbackSMTP() as server:
        yield server


@dataclass
class World:
    """A user's setup: msmtp → smtp_server, a sendguard config, the installed executables."""

    root: Path
    config_path: Path
    msmtprc: Path
    server: Any
    sendguard: str
    sendmail: str

    def write_config(self, extra: str = "") -> None:
        from sendguard.cli.support.loopback import world_config

        base = world_config(self.msmtprc)
        self.config_path.write_text(base + textwrap.dedent(extra))

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SENDGUARD_CONFIG"] = str(self.config_path)
        return env

    def send(
        self, message: bytes, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[bytes]:
        """Run sendguard-sendmail as a mail program would."""
        return subprocess.run(
            [self.sendmail, *args],
            input=message,
            capture_output=True,
            env=env or self.env(),
            timeout=timeout,
            check=False,
        )

    def cli(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.sendguard, "--config", str(self.config_path), *args],
            input=input.decode() if input else None,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=120,
            check=False,
        )


@pytest.fixture
def world(tmp_path, smtp_server):
    if not shutil.which("msmtp"):
        pytest.skip("msmtp is not installed (apt-get install msmtp)")
    from sendguard.cli.support.loopback import write_msmtprc

    msmtprc = write_msmtprc(tmp_path / "msmtprc", smtp_server.port, "me@nordwerk.example", tmp_path / "msmtp.log")
    w = World(
        tmp_path,
        tmp_path / "config.toml",
        msmtprc,
        smtp_server,
        sendguard_exe("sendguard"),
        sendguard_exe("sendguard-sendmail"),
    )
    w.write_config()
    return w


def make_message(
    to: str = "anna@kundenfirma.example",
    subject: str = "Falke status",
    body: str = "Hello Anna,\n\nthe Falke rollout is on track.\n\nRegards\nMe\n",
    sender: str = "Me <me@nordwerk.example>",
    extra_headers: str = "",
) -> bytes:
    """A plain text message as a mail program would pipe it."""
    return (
        f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: Fri, 27 Nov 2026 09:00:00 +0000\n"
        f"Message-ID: <test-{_stable_id(to, subject, body)}@nordwerk.example>\n{extra_headers}"
        f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()


def _stable_id(*parts: object) -> str:
    """The same id for the same message in every run (hash() of a str is salted per process)."""
    import hashlib

    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
