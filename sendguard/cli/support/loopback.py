"""A loopback SMTP server and an msmtp account pointing at it.

One implementation for everything that needs real mail to leave without leaving the machine:
``sendguard demo``, the tests (msmtp → this server) and ``bench/``. The server is aiosmtpd on
127.0.0.1 only; it records what it receives, exactly as received, and can refuse recipients.
Never imported on the send path.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller


class Received(NamedTuple):
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


READY_TIMEOUT = 30.0  # seconds a starting server may take to answer; it normally takes milliseconds


class LoopbackSMTP:
    """aiosmtpd on 127.0.0.1; ``received`` lists every message, ``refuse`` addresses get
    ``refusal`` (a 550)."""

    host = "127.0.0.1"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.refuse: set[str] = set()
        self.refusal = "550 no such user here"
        self._controller: Controller | None = None

    def start(self) -> LoopbackSMTP:
        from aiosmtpd.controller import Controller

        server = self

        class Handler:
            async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]  # noqa: N802
                if address in server.refuse:
                    return server.refusal
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, smtp, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
                server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
                return "250 Message accepted for delivery"

        # aiosmtpd gives a starting server 5 s to answer its own test connection, and says "the
        # system is too busy" when that runs out: on a loaded 2-core CI machine it can.
        self._controller = Controller(Handler(), hostname=self.host, port=self.port, ready_timeout=READY_TIMEOUT)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> LoopbackSMTP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_msmtprc(path: Path, port: int, sender: str, logfile: Path | None = None) -> Path:
    """An msmtp config (0600, as msmtp demands) whose default account is the loopback server."""
    log = f"logfile {logfile}\n" if logfile else ""
    path.write_text(
        f"defaults\nauth off\ntls off\n{log}\naccount default\nhost 127.0.0.1\nport {port}\nfrom {sender}\n"
    )
    path.chmod(0o600)
    return path


def world_config(msmtprc: Path, sender: str = "me@nordwerk.example", msmtp: str = "msmtp") -> str:
    """The sendguard config of the small Nordwerk world the demo, tests and bench send from:
    the user at nordwerk.example, one client, msmtp pointed at ``msmtprc``, no desktop pop-ups
    and no notice mails (the server then receives only what the user sent)."""
    return (
        f'[identity]\naddresses = ["{sender}"]\n\n'
        '[organization]\ndomains = ["nordwerk.example"]\n\n'
        '[clients.kundenfirma]\ndomains = ["kundenfirma.example"]\nkeywords = ["Falke", "Kundenfirma"]\n\n'
        f'[transport]\ncommand = ["{msmtp}", "-C", "{msmtprc}"]\n\n'
        "[sendmail]\nnotify = false\nnotice_mail = false\n\n"
    )
