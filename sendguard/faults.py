"""Named kill points, for the crash-injection tests: the process dies here, as a power cut would.

``SENDGUARD_KILL_AT=NAME`` in a process's environment makes :func:`point` with that name send
SIGKILL to the process itself, so a test can stop the send path at an exact step (after the
entry is kept, before the transport, after it returned ...) instead of guessing with delays.
Unset — always, outside the tests — it costs one string comparison.
"""

from __future__ import annotations

import os

ENV = "SENDGUARD_KILL_AT"
_ARMED = os.environ.get(ENV, "")


def point(name: str) -> None:
    """Die here if the environment names this point."""
    if _ARMED and _ARMED == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
