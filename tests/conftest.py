"""Shared fixtures. Every test runs in its own HOME and XDG tree (b4's autouse pattern), so no
test reads the developer's config, queue or history, and none depends on ../shared.

Real parts: ``smtp_server`` is an aiosmtpd server on 127.0.0.1; ``world`` writes an msmtp
config pointing at it and a sendguard config whose transport is the real msmtp.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


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
    for var, sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                     ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache"), ("XDG_RUNTIME_DIR", "run")):
        path = root / sub
        path.mkdir(mode=0o700)
        monkeypatch.setenv(var, str(path))
    for var in ("NOTMUCH_CONFIG", "SENDGUARD_CONFIG", "DISPLAY", "WAYLAND_DISPLAY", "MAILDIR", "EDITOR", "VISUAL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return root


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class SMTPServer:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 that records what it gets."""
    aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

    server = SMTPServer("127.0.0.1", 0)

    class Handler:
        async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):  # noqa: N802
            if address in server.refuse:
                return "550 no such user here"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, smtp, session, envelope):  # noqa: N802
            server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                            envelope.original_content))
            return "250 Message accepted for delivery"

    server.port = free_port()
    controller = aiosmtpd_controller.Controller(Handler(), hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@dataclass
class World:
    """A user's setup: msmtp → smtp_server, a sendguard config, the installed executables."""

    root: Path
    config_path: Path
    msmtprc: Path
    server: SMTPServer
    sendguard: str
    sendmail: str

    def write_config(self, extra: str = "") -> None:
        base = textwrap.dedent(f"""\
            [identity]
            addresses = ["me@nordwerk.example"]

            [organization]
            domains = ["nordwerk.example"]

            [clients.kundenfirma]
            domains = ["kundenfirma.example"]
            keywords = ["Falke", "Kundenfirma"]

            [transport]
            command = ["msmtp", "-C", "{self.msmtprc}"]

            [sendmail]
            notify = false
            """)
        self.config_path.write_text(base + textwrap.dedent(extra))

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SENDGUARD_CONFIG"] = str(self.config_path)
        return env

    def send(self, message: bytes, *args: str, env: dict[str, str] | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        """Run sendguard-sendmail as a mail program would."""
        return subprocess.run([self.sendmail, *args], input=message, capture_output=True,
                              env=env or self.env(), timeout=timeout, check=False)

    def cli(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.sendguard, "--config", str(self.config_path), *args],
                              input=input.decode() if input else None, capture_output=True, text=True,
                              env=self.env(), timeout=120, check=False)


@pytest.fixture
def world(tmp_path, smtp_server):
    if not shutil.which("msmtp"):
        pytest.skip("msmtp is not installed (apt-get install msmtp)")
    msmtprc = tmp_path / "msmtprc"
    msmtprc.write_text(textwrap.dedent(f"""\
        defaults
        auth off
        tls off
        logfile {tmp_path / 'msmtp.log'}

        account default
        host 127.0.0.1
        port {smtp_server.port}
        from me@nordwerk.example
        """))
    msmtprc.chmod(0o600)
    w = World(tmp_path, tmp_path / "config.toml", msmtprc, smtp_server,
              sendguard_exe("sendguard"), sendguard_exe("sendguard-sendmail"))
    w.write_config()
    return w


def make_message(to: str = "anna@kundenfirma.example", subject: str = "Falke status",
                 body: str = "Hello Anna,\n\nthe Falke rollout is on track.\n\nRegards\nMe\n",
                 sender: str = "Me <me@nordwerk.example>", extra_headers: str = "") -> bytes:
    """A plain text message as a mail program would pipe it."""
    return (f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: Fri, 27 Nov 2026 09:00:00 +0000\n"
            f"Message-ID: <test-{abs(hash((to, subject, body)))}@nordwerk.example>\n{extra_headers}"
            f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}").encode()
