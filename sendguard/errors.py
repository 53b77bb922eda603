"""One exception hierarchy for everything a person may see.

Every error a user can cause or meet is a :class:`SendguardError`. It carries the exit code the
command should end with and ``details()`` — lines a person can act on — so the CLI prints them
and the review screen shows them in a modal, from the same object. Builtin exceptions never
reach a user: the CLI turns anything else into an internal error (exit 70) that still keeps the
message.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import NamedTuple

from sendguard.exitcodes import ExitCode


class SendguardError(Exception):
    """Base class: a message for a person, an exit code, optional hints."""

    exit_code: ExitCode = ExitCode.SOFTWARE

    def __init__(self, message: str, *, hints: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hints = list(hints or [])

    def details(self) -> list[str]:
        """Lines for a person: the message first, then what to do."""
        return [self.message, *self.hints]


class UsageError(SendguardError):
    exit_code = ExitCode.USAGE


class MessageReadError(SendguardError):
    exit_code = ExitCode.DATAERR


class ConfigProblem(NamedTuple):  # not a dataclass: see sendmail_args.SendmailArgs
    """One problem in a config file: where it is and what was expected."""

    file: str
    line: int | None
    key: str
    problem: str
    suggestion: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.key}: {self.problem}"
        if self.suggestion:
            text += f" (did you mean '{self.suggestion}'?)"
        return text


class ConfigError(SendguardError):
    """The config is broken. All problems are collected and reported at once."""

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        head = "configuration error" if len(problems) == 1 else f"{len(problems)} configuration errors"
        super().__init__(head + ": " + "; ".join(str(p) for p in problems))

    def details(self) -> list[str]:
        return [str(p) for p in self.problems]


class QueueError(SendguardError):
    """Something is wrong with a queue entry (unknown id, wrong state)."""

    exit_code = ExitCode.USAGE


class QueueLockedError(QueueError):
    """Another sendguard process is working on this entry right now."""

    exit_code = ExitCode.TEMPFAIL


class DeliveryError(SendguardError):
    """The transport could not be run or failed; the message is kept."""

    def __init__(self, message: str, *, exit_code: int, stderr: str = "", hints: list[str] | None = None) -> None:
        super().__init__(message, hints=hints)
        self.exit_code = exit_code  # type: ignore[assignment]  # the transport's own code passes through
        self.stderr = stderr

    def reason_lines(self) -> list[str]:
        """The message, a transport's reason of several lines each on its own, indented."""
        first, *more = self.message.split("\n")
        return [first, *(f"  {line}" for line in more)]

    def details(self) -> list[str]:
        return [*self.reason_lines(), *self.hints]


class StateUnwritable(SendguardError):
    """sendguard cannot write where it keeps its state. One line: the path, why, and the fix."""

    exit_code = ExitCode.CANTCREAT
    # ENOTDIR, EEXIST: a file where the state dir (or a directory in it) belongs
    WRITE_ERRNOS = frozenset(
        {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR, errno.EEXIST}
    )

    def __init__(self, path: Path, err: OSError) -> None:
        super().__init__(f"cannot write {path} ({self.reason(err)}): {self.fix(path, err.errno)}")
        self.path = path

    @staticmethod
    def reason(err: OSError) -> str:
        if err.errno == errno.EEXIST:  # mkdir of a directory whose name a file has
            return os.strerror(errno.ENOTDIR)
        return os.strerror(err.errno) if err.errno else str(err)

    @staticmethod
    def fix(path: Path, code: int | None) -> str:
        """What to do, for the directory (or file) that refused the write."""
        culprit = path
        while not culprit.exists() and culprit.parent != culprit:
            culprit = culprit.parent  # a file or directory that could not be created: its parent refused
        if code in (errno.ENOTDIR, errno.EEXIST) and not culprit.is_dir():
            return f"{culprit} is a file where a directory belongs: move it aside (mv {culprit} {culprit}.moved)"
        if code == errno.EPERM:
            return f"is it immutable? lsattr -d {culprit}; chattr -i {culprit}"
        if code == errno.EACCES:
            try:
                theirs = culprit.stat().st_uid != os.getuid()
            except OSError:
                theirs = False
            return f"chown -R $USER {culprit}" if theirs else f"chmod u+rwx {culprit}"
        if code == errno.EROFS:
            return f"{culprit} is on a read-only file system: remount it, or set XDG_DATA_HOME elsewhere"
        if code in (errno.ENOSPC, errno.EDQUOT):
            return f"the disk holding {culprit} is full: free some space"
        return f"make {culprit} writable"

    @classmethod
    def from_error(cls, err: BaseException, state_dir: Path) -> StateUnwritable | None:
        """The error as this one when it is a refused write in ``state_dir``, else None."""
        if isinstance(err, OSError) and err.errno in cls.WRITE_ERRNOS:
            filename = Path(os.fsdecode(err.filename)) if err.filename else state_dir
            if filename == state_dir or state_dir in filename.parents:
                return cls(filename, err)
            return None
        if type(err).__module__ == "sqlite3":  # "unable to open database file", "readonly database"
            from sendguard.paths import probe_write

            refused = probe_write(state_dir)
            return cls(state_dir, refused) if refused is not None else None
        return None


class ResourceError(SendguardError):
    """The disk is full (or another resource ran out) before the message could be kept or its
    delivery begun: nothing was sent, and nothing is left that a later run could send."""

    exit_code = ExitCode.CANTCREAT
