"""``sendguard milter`` behind a real Postfix: msmtp and smtplib submit, aiosmtpd receives.

Postfix runs on loopback ports with its own config, queue and log (tests/support/postfix.py);
what the client is told is asserted as the client sees it (msmtp's stderr, smtplib's exception).
"""

from __future__ import annotations

import smtplib
import subprocess
import textwrap

import pytest

from sendguard.cli.support.loopback import write_msmtprc
from tests.conftest import make_message, sendguard_exe
from tests.support.postfix import MilterProcess, Postfix, skip_unless_postfix, wait_until

pytestmark = pytest.mark.slow

CONFIG = """\
[identity]
addresses = []

[organization]
domains = ["nordwerk.example"]

[clients.kundenfirma]
domains = ["kundenfirma.example"]
keywords = ["Falke", "Kundenfirma"]

[log]
notmuch = false

[milter]
hold = "{hold}"
"""


class Team:
    """Postfix with the milter in front of it, the relay it hands mail to, a way to submit."""

    def __init__(self, tmp_path, server, hold: str = "reject", extra: str = "") -> None:  # type: ignore[no-untyped-def]
        skip_unless_postfix()
        self.tmp = tmp_path
        self.server = server
        self.config = tmp_path / "sendguard.toml"
        self.config.write_text(CONFIG.format(hold=hold) + textwrap.dedent(extra))
        self.state = tmp_path / "milter"
        self.milter = MilterProcess(sendguard_exe(), self.config, self.state)
        self.postfix = Postfix(server.port, milter=self.milter.postfix_spec)

    def __enter__(self) -> Team:
        self.milter.start()
        try:
            self.postfix.start()
        except Exception:
            self.milter.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            print("--- maillog ---\n" + self.postfix.log() + "\n--- milter ---\n" + self.milter.log())
        self.postfix.stop()
        self.milter.stop()

    def msmtp(self, message: bytes, sender: str, *recipients: str) -> subprocess.CompletedProcess[bytes]:
        rc = write_msmtprc(self.tmp / f"msmtprc-{self.postfix.port}", self.postfix.port, sender)
        return subprocess.run(
            ["msmtp", "-C", str(rc), "-f", sender, "--", *recipients],
            input=message,
            capture_output=True,
            timeout=120,
            check=False,
        )

    def delivered(self, count: int) -> list:  # type: ignore[type-arg]
        wait_until(lambda: len(self.server.received) >= count, 60, f"{count} messages at the relay")
        return self.server.received


def test_a_passing_message_goes_through_postfix_unchanged(tmp_path, smtp_server):
    with Team(tmp_path, smtp_server) as team:
        message = make_message(to="kollege@nordwerk.example", subject="Lunch")
        proc = team.msmtp(message, "me@nordwerk.example", "kollege@nordwerk.example")
        assert proc.returncode == 0, proc.stderr
        (got,) = team.delivered(1)
        assert got.rcpt_tos == ["kollege@nordwerk.example"]
        assert b"X-Sendguard" not in got.data
        body = message.split(b"\n\n", 1)[1]
        assert got.data.replace(b"\r\n", b"\n").endswith(body)


def test_a_hold_is_a_550_with_the_reason_and_the_way_out_and_a_resend_confirms(tmp_path, smtp_server):
    extra = '[rules.external-recipient]\naction = "hold"\n'
    with Team(tmp_path, smtp_server, extra=extra) as team:
        message = make_message()
        proc = team.msmtp(message, "me@nordwerk.example", "anna@kundenfirma.example")
        assert proc.returncode != 0
        err = proc.stderr.decode()
        assert "550" in err and "5.7.1" in err, err
        assert "anna@kundenfirma.example" in err
        assert "Send it again unchanged within 10 minutes to send it anyway" in err
        assert smtp_server.received == []
        # the mail program sends it again: new Date and Message-ID, otherwise the same
        again = message.replace(b"09:00:00", b"09:01:30").replace(b"<test-", b"<retry-")
        proc = team.msmtp(again, "me@nordwerk.example", "anna@kundenfirma.example")
        assert proc.returncode == 0, proc.stderr
        (got,) = team.delivered(1)
        assert b"X-Sendguard: confirmed by the sender (external-recipient)" in got.data
        # the confirmation is used once
        third = team.msmtp(again, "me@nordwerk.example", "anna@kundenfirma.example")
        assert third.returncode != 0 and b"550" in third.stderr


def test_smtplib_sees_the_same_rejection(tmp_path, smtp_server):
    extra = '[rules.external-recipient]\naction = "hold"\n'
    with Team(tmp_path, smtp_server, extra=extra) as team:
        with smtplib.SMTP("127.0.0.1", team.postfix.port, timeout=60) as client:
            with pytest.raises(smtplib.SMTPDataError) as caught:
                client.sendmail("me@nordwerk.example", ["anna@kundenfirma.example"], make_message())
        assert caught.value.smtp_code == 550
        text = caught.value.smtp_error.decode()
        assert text.startswith("5.7.1 sendguard held this message:")
        assert "Send it again unchanged within 10 minutes" in text
