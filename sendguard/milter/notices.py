"""How the milter submits its notice mails, and whom they name after a mistake.

The texts are shared with the send path (act/notice_texts.py); the milter hands them to the
MTA's own ``sendmail -t`` (``[milter] notice_command``), from a worker's thread.
"""

from __future__ import annotations

from typing import Any


def submit(command: list[str], text: bytes) -> None:
    """Hand a notice to the MTA's sendmail, which must stop on SIGTERM even from a worker that
    blocks the stop signals (a child inherits the mask)."""
    import signal
    import subprocess

    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    unblock = (lambda: signal.pthread_sigmask(signal.SIG_SETMASK, set())) if blocked else None
    subprocess.run(command, input=text, check=True, timeout=60, capture_output=True, preexec_fn=unblock)


def contact(config: Any) -> str:
    """Whom a notice names beside the administrator after a mistake: ``[oops] privacy_contact``."""
    return str(getattr(getattr(config, "oops", None), "privacy_contact", "") or "")
