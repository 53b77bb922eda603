"""A real Postfix for tests: Debian's postfix, its own config, queue and data dirs, loopback ports.

Each instance lives in a fresh directory under /tmp (0755: Postfix's daemons run as the
``postfix`` user and must reach the queue), listens on a free port of 127.0.0.1, relays every
message to an aiosmtpd server (``relayhost``) and logs to a file there. ``postfix start-fg``
keeps its master daemon a child of the test, so it is stopped by pid, never by name. Several
instances (other tests, other people's test runs) never share a file or a port.

Needs root and the postfix package (.ci/setup installs it): ``skip_unless_postfix`` says so.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

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


def skip_unless_postfix() -> None:
    if os.geteuid() != 0:
        pytest.skip("a real Postfix needs root")
    if not Path(POSTFIX).exists() or not shutil.which("postqueue"):
        pytest.skip("postfix is not installed (.ci/setup installs it)")


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until something accepts connections on 127.0.0.1:port (or the process died)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the process exited ({proc.returncode}) before listening on {port}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s") from None
            time.sleep(0.05)


class Postfix:
    """One Postfix instance relaying to ``relay_port``, optionally with a milter at ``milter_port``."""

    def __init__(self, relay_port: int, milter: str = "", extra: str = "") -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sendguard-postfix-"))
        self.root.chmod(0o755)
        self.conf = self.root / "conf"
        self.port = free_port()
        self.relay_port = relay_port
        self.milter = milter
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def maillog(self) -> Path:
        return self.root / "maillog"

    def write_config(self) -> None:
        self.conf.mkdir(exist_ok=True)
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
            f"myhostname = postfix-{self.port}.sendguard.test\n"
            "mydomain = sendguard.test\n"
            "mydestination =\n"
            "mynetworks = 127.0.0.0/8\n"
            f"relayhost = [127.0.0.1]:{self.relay_port}\n"
            "smtp_dns_support_level = disabled\n"
            "smtpd_relay_restrictions = permit_mynetworks, reject\n"
            "alias_maps =\nalias_database =\n"
            "queue_run_delay = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\n"
            "smtp_connection_cache_on_demand = no\n"
            f"{milter}{self.extra}"
        )
        (self.conf / "master.cf").write_text(MASTER_CF.format(port=f"127.0.0.1:{self.port}"))

    def start(self) -> Postfix:
        self.write_config()
        self.proc = subprocess.Popen(
            [POSTFIX, "-c", str(self.conf), "start-fg"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, proc=self.proc)
        except Exception:
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
    """``sendguard milter`` as a child process on a free port, its stderr kept in a file."""

    def __init__(self, sendguard: str, config: Path, state_dir: Path, port: int | None = None) -> None:
        self.sendguard = sendguard
        self.config = config
        self.state_dir = state_dir
        self.port = port or free_port()
        self.log_path = state_dir.parent / f"milter-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def postfix_spec(self) -> str:
        return f"inet:127.0.0.1:{self.port}"

    def start(self) -> MilterProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.sendguard,
                    "--config",
                    str(self.config),
                    "milter",
                    "--listen",
                    f"inet:{self.port}@127.0.0.1",
                    "--state-dir",
                    str(self.state_dir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        wait_until(
            lambda: b"listening on" in self.log_path.read_bytes() or self.proc.poll() is not None, 60, "the milter"
        )
        wait_for_port(self.port, proc=self.proc)
        return self

    def kill(self) -> None:
        """SIGKILL: the crash a test wants to survive."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> MilterProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
