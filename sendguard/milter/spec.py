"""The ``--listen`` SPEC, as libmilter writes it: ``inet:PORT@HOST``, ``inet6:PORT@HOST``, ``unix:PATH``.

Checked here, before libmilter sees it, so a typo is one clear line and not a crash in C, and
so is a socket that cannot be opened: libmilter says only "cannot opensocket", and it removes
a unix socket it finds, a running milter's included.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import stat
from pathlib import Path

from sendguard.errors import SendguardError, UsageError
from sendguard.exitcodes import ExitCode

_INET = re.compile(r"^(inet6?):(\d{1,5})(?:@(.+))?$")


def parse_listen(spec: str) -> str:
    """The SPEC, normalized (``local:`` becomes ``unix:``); UsageError when it is not one."""
    spec = spec.strip()
    found = _INET.match(spec)
    if found:
        port = int(found.group(2))
        if not 0 < port < 65536:
            raise UsageError(f"--listen {spec!r}: the port must be 1-65535")
        return spec
    for prefix in ("unix:", "local:"):
        if spec.startswith(prefix):
            path = spec[len(prefix) :]
            if not path.startswith("/"):
                raise UsageError(
                    f"--listen {spec!r}: give an absolute socket path, e.g. unix:/run/sendguard/milter.sock"
                )
            return "unix:" + path
    raise UsageError(
        f"--listen {spec!r} is not a milter socket",
        hints=["write it as libmilter does: inet:PORT@HOST (e.g. inet:8891@127.0.0.1) or unix:/PATH"],
    )


def postfix_form(spec: str, chroot: str = "") -> str:
    """The same socket as Postfix's ``smtpd_milters`` writes it (``inet:HOST:PORT``, ``unix:PATH``).

    ``chroot``: the directory a chrooted smtpd sees as ``/`` (Debian: /var/spool/postfix); a
    socket under it is named from there.
    """
    found = _INET.match(spec)
    if found:
        return f"inet:{found.group(3) or '127.0.0.1'}:{found.group(2)}"
    root = chroot.rstrip("/")
    if root and spec.startswith(f"unix:{root}/"):
        return "unix:" + spec[len("unix:") + len(root) :]
    return spec


class ListenError(SendguardError):
    """The milter cannot listen on its socket."""

    exit_code = ExitCode.CANTCREAT


def check_listen(spec: str) -> None:
    """ListenError, saying why, when the milter could not listen on ``spec`` (a normalized SPEC)
    or another process already does."""
    family, _, where = spec.partition(":")
    if family == "unix":
        _check_unix(spec, Path(where))
        return
    found = _INET.match(spec)
    if not found:
        return
    port, host = int(found.group(2)), found.group(3)
    kind = socket.AF_INET6 if family == "inet6" else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host or None, port, kind, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except OSError as err:
        raise ListenError(f"cannot listen on {spec}: {host} is no address of this host ({err})") from None
    with socket.socket(kind, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as libmilter binds
        try:
            probe.bind(infos[0][4])
        except OSError as err:
            hints = ["another milter may be running: stop it first, or listen on another port"]
            raise ListenError(
                f"cannot listen on {spec}: {err.strerror or err}", hints=hints if err.errno == errno.EADDRINUSE else []
            ) from None


def _check_unix(spec: str, path: Path) -> None:
    if not path.parent.is_dir():
        raise ListenError(
            f"cannot listen on {spec}: {path.parent} is not a directory",
            hints=["create it, in group postfix (hooks/sendguard-milter.service does, with ExecStartPre)"],
        )
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise ListenError(f"cannot listen on {spec}: {err.strerror or err}") from None
    if not stat.S_ISSOCK(mode):
        raise ListenError(f"cannot listen on {spec}: {path} is there and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe, contextlib.suppress(OSError):
        probe.settimeout(2)
        probe.connect(os.fspath(path))
        raise ListenError(
            f"cannot listen on {spec}: a process already listens there",
            hints=[
                "another milter is running on it: stop it first (systemctl stop sendguard-milter), or listen elsewhere"
            ],
        )
