"""One exception hierarchy for everything a person may see.

Every error a user can cause or meet is a :class:`SendguardError`. It carries the exit code the
command should end with and ``details()`` — lines a person can act on — so the CLI prints them
and the review screen shows them in a modal, from the same object. Builtin exceptions never
reach a user: the CLI turns anything else into an internal error (exit 70) that still keeps the
message.
"""

from __future__ import annotations

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
