"""A real Postfix for tests: Debian's postfix, its own config, queue and data dirs, loopback ports.

Each instance lives in a fresh directory under /tmp (0755: Postfix's daemons run as the
``postfix`` user and must reach the queue), listens on a free port of 127.0.0.1, relays every
message to an aiosmtpd server (``relayhost``) and logs to a file there. ``postfix start-fg``
keeps its master daemon a child of the test, so it is stopped by pid, never by name. Several
instances (other tests, other people's test runs) never share a file or a port. The directory
exists from ``start()`` to ``stop()`` only, and a :class:`Team` that fails half-way through
starting stops what it started: nothing is left under /tmp.

``sasl_users`` turns on SMTP AUTH with Cyrus SASL and a sasldb of its own (``saslpasswd2``
from sasl2-bin), so the milter sees a real ``{auth_authen}``.

Needs root and the postfix package (.ci/setup installs it): ``skip_unless_postfix`` says so.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sendguard.cli.support.loopback import free_port
from tests.support import wait

POSTFIX = "/usr/sbin/postfix"
MASTER_CF = """\
{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def skip_unless_postfix(sasl: bool = False) -> None:
    if os.geteuid() != 0:
        pytest.skip("a real Postfix needs root")
    if not Path(POSTFIX).exists() or not shutil.which("postqueue"):
        pytest.skip("postfix is not installed (.ci/setup installs it)")
    if sasl and not shutil.which("saslpasswd2"):
        pytest.skip("saslpasswd2 is not installed (sasl2-bin; .ci/setup installs it)")


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until something accepts connections on 127.0.0.1:port (or the process died)."""
    _wait_for_listener(
        lambda: socket.create_connection(("127.0.0.1", port), timeout=1), f"127.0.0.1:{port}", timeout, proc
    )


def wait_for_socket(path: Path, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until something accepts connections on the unix socket ``path`` (or the process died)."""

    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.settimeout(1)
            sock.connect(str(path))
        except OSError:
            sock.close()
            raise
        return sock

    _wait_for_listener(connect, str(path), timeout, proc)


def _wait_for_listener(
    connect: Callable[[], socket.socket], where: str, timeout: float, proc: subprocess.Popen[bytes] | None
) -> None:
    def listening() -> bool:
        try:
            with connect():
                return True
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the process exited ({proc.returncode}) before listening on {where}") from None
            return False

    if not wait.wait_until(listening, timeout):
        raise TimeoutError(f"nothing listens on {where} after {timeout} s")


class Postfix:
    """One Postfix instance relaying to ``relay_port``, optionally with a milter at ``milter_port``."""

    def __init__(
        self, relay_port: int, milter: str = "", extra: str = "", sasl_users: dict[str, str] | None = None
    ) -> None:
        # Named now (callers write the config path into theirs), made by start(): an instance
        # that never starts leaves no directory behind.
        self.root = Path(tempfile.gettempdir()) / f"sendguard-postfix-{uuid.uuid4().hex[:12]}"
        self.conf = self.root / "conf"
        self.port = free_port()
        self.relay_port = relay_port
        self.milter = milter
        self.extra = extra
        self.sasl_users = dict(sasl_users or {})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def hostname(self) -> str:
        return f"postfix-{self.port}.sendguard.test"

    @property
    def maillog(self) -> Path:
        return self.root / "maillog"

    def write_config(self) -> None:
        self.root.mkdir(mode=0o755)
        self.root.chmod(0o755)  # whatever the umask: the postfix user must reach the queue
        self.conf.mkdir()
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        shutil.chown(data, "postfix")
        (self.root / "queue").mkdir(mode=0o755, exist_ok=True)  # postfix-script fills it in
        milter = (
            f"smtpd_milters = {self.milter}\n"
            "milter_default_action = tempfail\n"
            "milter_protocol = 6\n"
            "milter_connect_timeout = 5s\n"
            "milter_command_timeout = 10s\n"
            "milter_content_timeout = 30s\n"
            if self.milter
            else ""
        )
        (self.conf / "main.cf").write_text(
            "compatibility_level = 3.6\n"
            f"queue_directory = {self.root / 'queue'}\n"
            f"data_directory = {data}\n"
            f"maillog_file = {self.maillog}\n"
            f"maillog_file_prefixes = {self.root}\n"
            "inet_interfaces = loopback-only\n"
            "inet_protocols = ipv4\n"
            f"myhostname = {self.hostname}\n"
            "mydomain = sendguard.test\n"
            "mydestination =\n"
            "mynetworks = 127.0.0.0/8\n"
            f"relayhost = [127.0.0.1]:{self.relay_port}\n"
            "smtp_dns_support_level = disabled\n"
            "smtpd_relay_restrictions = permit_mynetworks, reject\n"
            "alias_maps =\nalias_database =\n"
            "queue_run_delay = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\n"
            "smtp_connection_cache_on_demand = no\n"
            f"{milter}{self.write_sasl()}{self.extra}"
        )
        (self.conf / "master.cf").write_text(MASTER_CF.format(port=f"127.0.0.1:{self.port}"))

    def write_sasl(self) -> str:
        """Cyrus SASL for smtpd: PLAIN and LOGIN against a sasldb of ``sasl_users``; main.cf lines."""
        if not self.sasl_users:
            return ""
        sasl = self.conf / "sasl"  # Debian's Postfix reads $config_directory/sasl/, upstream's this setting
        sasl.mkdir(mode=0o755)
        db = sasl / "sasldb2"
        (sasl / "smtpd.conf").write_text(
            f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: {db}\n"
        )
        for login, password in self.sasl_users.items():
            # a bare login is in the realm smtpd asks Cyrus for by default: its myhostname
            user, _, realm = login.rpartition("@") if "@" in login else (login, "", self.hostname)
            subprocess.run(
                ["saslpasswd2", "-f", str(db), "-p", "-c", *(["-u", realm] if realm else []), user],
                input=password.encode(),
                capture_output=True,
                timeout=60,
                check=True,
            )
        shutil.chown(db, "postfix")  # smtpd reads it after dropping root
        db.chmod(0o600)
        return textwrap.dedent(
            f"""\
            smtpd_sasl_auth_enable = yes
            smtpd_sasl_type = cyrus
            smtpd_sasl_path = smtpd
            cyrus_sasl_config_path = {sasl}
            smtpd_sasl_security_options = noanonymous
            """
        )

    def start(self) -> Postfix:
        try:
            self.write_config()
            self.proc = subprocess.Popen(
                [POSTFIX, "-c", str(self.conf), "start-fg"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for_port(self.port, proc=self.proc)
        except BaseException:
            log = self.log()
            self.stop()
            raise RuntimeError(f"postfix did not start:\n{log}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            subprocess.run([POSTFIX, "-c", str(self.conf), "stop"], capture_output=True, timeout=60, check=False)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Postfix:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except OSError:
            return "(no maillog)"

    def queue(self) -> list[dict[str, object]]:
        """``postqueue -j``: every message in this instance's queues."""
        out = subprocess.run(
            ["postqueue", "-c", str(self.conf), "-j"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_until(predicate, timeout: float = 30.0, what: str = "the condition") -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    if not wait.wait_until(predicate, timeout):
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class MilterProcess:
    """``sendguard milter`` as a child process, its stderr kept in a file.

    ``transport="unix"`` (the deployment hooks/ recommend): a socket in a fresh setgid directory
    of group ``postfix`` under /tmp, the milter started with umask 007, so Postfix's daemons (user
    ``postfix``) may connect and nobody else may. ``"inet"``: a free port on 127.0.0.1.
    """

    def __init__(
        self, sendguard: str, config: Path, state_dir: Path, port: int | None = None, transport: str = "unix"
    ) -> None:
        self.sendguard = sendguard
        self.config = config
        self.state_dir = state_dir
        self.port = port or free_port()
        self.transport = transport
        self.log_path = state_dir.parent / f"milter-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # Named now (Postfix's config needs it before the milter starts), made by start().
        self.socket_dir = Path(tempfile.gettempdir()) / f"sendguard-milter-{uuid.uuid4().hex[:12]}"

    @property
    def socket_path(self) -> Path:
        return self.socket_dir / "milter.sock"

    @property
    def listen_spec(self) -> str:
        """``--listen``, as libmilter writes it."""
        return f"unix:{self.socket_path}" if self.transport == "unix" else f"inet:{self.port}@127.0.0.1"

    @property
    def postfix_spec(self) -> str:
        """``smtpd_milters``, as Postfix writes it (the test Postfix is not chrooted)."""
        return f"unix:{self.socket_path}" if self.transport == "unix" else f"inet:127.0.0.1:{self.port}"

    def start(self) -> MilterProcess:
        """Start it and wait until it listens; if it does not, it is stopped and this raises."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self.transport == "unix":
            import grp

            self.socket_dir.mkdir(mode=0o750, exist_ok=True)
            os.chown(self.socket_dir, -1, grp.getgrnam("postfix").gr_gid)
            os.chmod(self.socket_dir, 0o2750)  # setgid: the socket is created in group postfix
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.sendguard,
                    "--config",
                    str(self.config),
                    "milter",
                    "--listen",
                    self.listen_spec,
                    "--state-dir",
                    str(self.state_dir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                umask=0o007,
            )
        proc = self.proc
        wait_until(lambda: b"listening on" in self.log_path.read_bytes() or proc.poll() is not None, 60, "the milter")
        try:
            if self.transport == "unix":
                wait_for_socket(self.socket_path, proc=proc)
            else:
                wait_for_port(self.port, proc=proc)
        except RuntimeError as err:
            raise RuntimeError(f"{err}:\n{self.log()}") from None

    def kill(self) -> None:
        """SIGKILL: the crash a test wants to survive."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> MilterProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


TEAM_CONFIG = """\
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
state_dir = "{state}"
"""


class Team:
    """Postfix with ``sendguard milter`` in front of it, the relay it hands mail to, ways to submit.

    A context manager: leaving it (a failed assertion included) stops Postfix and the milter and
    removes Postfix's directory; so does a start that fails half-way.
    """

    def __init__(
        self,
        tmp_path: Path,
        server: Any,
        hold: str = "reject",
        extra: str = "",
        base_config: str = "",
        sasl_users: dict[str, str] | None = None,
        transport: str = "unix",
    ) -> None:
        from tests.conftest import sendguard_exe

        skip_unless_postfix(sasl=bool(sasl_users))
        self.tmp = tmp_path
        self.server = server
        self.config = tmp_path / "sendguard.toml"
        self.state = tmp_path / "milter"
        self.milter = MilterProcess(sendguard_exe(), self.config, self.state, transport=transport)
        self.postfix = Postfix(server.port, milter=self.milter.postfix_spec, sasl_users=sasl_users)
        base = base_config or TEAM_CONFIG
        notice = f'notice_command = ["/usr/sbin/sendmail", "-C", "{self.postfix.conf}", "-i", "-t"]\n'
        notice += f'postfix_config = "{self.postfix.conf}"\n'
        self.config.write_text(base.format(hold=hold, state=self.state) + notice + textwrap.dedent(extra))

    def __enter__(self) -> Team:
        try:
            self.milter.start()
            self.postfix.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            print("--- maillog ---\n" + self.postfix.log() + "\n--- milter ---\n" + self.milter.log())
        self.stop()

    def stop(self) -> None:
        """The milter first: on its way out it waits for the notice mails it hands to Postfix's
        sendmail, which need Postfix's directories (a postdrop left waiting outlives the test)."""
        try:
            self.milter.stop()
        finally:
            self.postfix.stop()

    def msmtp(self, message: bytes, sender: str, *recipients: str) -> subprocess.CompletedProcess[bytes]:
        from sendguard.cli.support.loopback import write_msmtprc

        rc = write_msmtprc(self.tmp / f"msmtprc-{self.postfix.port}", self.postfix.port, sender)
        return subprocess.run(
            ["msmtp", "-C", str(rc), "-f", sender, "--", *recipients],
            input=message,
            capture_output=True,
            timeout=120,
            check=False,
        )

    def submit_as(self, login: str, password: str, message: bytes, sender: str, *recipients: str) -> None:
        """Submit with AUTH PLAIN as ``login`` (smtplib; its exceptions are the client's view)."""
        import smtplib

        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=60) as client:
            client.ehlo()
            client.user, client.password = login, password
            client.auth("PLAIN", client.auth_plain)
            client.sendmail(sender, list(recipients), message)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        from tests.conftest import sendguard_exe

        return subprocess.run(
            [sendguard_exe(), "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def delivered(self, count: int) -> list[Any]:
        wait_until(lambda: len(self.server.received) >= count, 60, f"{count} messages at the relay")
        return list(self.server.received)

    def sent(self, count: int) -> list[Any]:
        """The relay's mail but the milter's notices to senders, once there are ``count``."""
        wait_until(lambda: len(self.mail()) >= count, 60, f"{count} messages (not notices) at the relay")
        return self.mail()

    def mail(self) -> list[Any]:
        return [m for m in self.server.received if not is_notice(m)]

    def notices(self, count: int = 0, subject: str = "") -> list[Any]:
        """The milter's notices at the relay (``subject``: those whose Subject starts so), waiting
        until there are ``count``."""

        def found() -> list[Any]:
            return [m for m in self.server.received if is_notice(m) and notice_subject(m).startswith(subject)]

        if count:
            wait_until(lambda: len(found()) >= count, 60, f"{count} notices {subject!r} at the relay")
        return found()

    def held(self) -> list[dict[str, object]]:
        """What is in Postfix's hold queue now."""
        return [m for m in self.postfix.queue() if m["queue_name"] == "hold"]


def is_notice(message: Any) -> bool:
    """A notice the milter mailed a sender (every one is marked auto-generated)."""
    return b"\nAuto-Submitted: auto-generated" in message.data.replace(b"\r\n", b"\n")


def notice_subject(message: Any) -> str:
    import email
    import email.policy

    return str(email.message_from_bytes(message.data, policy=email.policy.default)["Subject"] or "")
