"""The ``--listen`` SPEC, as libmilter writes it: ``inet:PORT@HOST``, ``inet6:PORT@HOST``, ``unix:PATH``.

Checked here, before libmilter sees it, so a typo is one clear line and not a crash in C.
"""

from __future__ import annotations

import re

from sendguard.errors import UsageError

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
