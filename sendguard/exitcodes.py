"""Exit codes: the sendmail conventions (sysexits.h), part of the outside interface.

Mail programs read them: mutt shows the output of a failed delivery, git send-email stops a
series on any non-zero code, aerc shows only ``exit status N`` (man sendguard, EXIT STATUS).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Delivered, or accepted for later delivery on purpose (undo window, hold_action = "queue")."""

    USAGE = 64
    """The command line was wrong (EX_USAGE). The message, if any was read, is kept."""

    DATAERR = 65
    """The message could not be read (EX_DATAERR). What was read is kept."""

    SOFTWARE = 70
    """An internal error (EX_SOFTWARE). The message is kept; stderr says where."""

    CANTCREAT = 73
    """sendguard cannot write where it keeps its state (EX_CANTCREAT): a read-only or immutable
    directory, a full disk. Nothing was sent, nothing is left that could be sent later; the
    message stays with the mail program."""

    TEMPFAIL = 75
    """Held (hold_action = "reject") or the transport failed temporarily (EX_TEMPFAIL); kept."""

    NOPERM = 77
    """Blocked by policy (EX_NOPERM); the message is kept in the queue and the incident log."""

    CONFIG = 78
    """The configuration is broken (EX_CONFIG); the message is kept."""


class CheckExit(IntEnum):
    """``sendguard check``: the highest verdict over all files."""

    PASS = 0
    WARN = 1
    HOLD = 2
    BLOCK = 3
