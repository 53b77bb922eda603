"""Who called sendmail, and what that program shows its person.

The mail programs differ in what reaches the screen (measured under tmux; README.md has the
table): mutt and neomutt, interactive, show the wrapper's output only when it fails, in a pager;
aerc 0.14 shows only ``exit status N`` and discards the output whatever the status; git
send-email, mutt in batch mode and mailx leave stderr on the terminal. The caller is recognised
from the process that started us (its name, up past a ``sh -c``), and for mutt whether it has
a terminal. Read from /proc, so only Linux knows it; elsewhere the caller is unknown.

Imported by the resident checker's client on every mail: it uses nothing but ``os`` and ``sys``.
"""

from __future__ import annotations

import os
import sys

# comm (the kernel's process name) -> program
_PROGRAMS = {
    "mutt": "mutt",
    "neomutt": "neomutt",
    "aerc": "aerc",
    "git-send-email": "git",
    "git": "git",
    "mail": "mailx",
    "mailx": "mailx",
    "bsd-mailx": "mailx",
    "s-nail": "mailx",
    "nail": "mailx",
}
_SHELLS = frozenset({"sh", "dash", "bash", "zsh", "perl", "env"})


def _status(pid: int) -> tuple[str, int]:
    """(comm, parent pid) of ``pid``; ("", 0) if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return "", 0
    # "pid (comm) state ppid ...": comm may contain spaces and parentheses
    left, right = data.find(b"("), data.rfind(b")")
    fields = data[right + 2 :].split()
    try:
        return data[left + 1 : right].decode("utf-8", "replace"), int(fields[1])
    except (IndexError, ValueError):
        return "", 0


def _has_terminal(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/fd/0").startswith(("/dev/pts/", "/dev/tty"))
    except OSError:
        return False


def detect(pid: int | None = None) -> dict[str, object]:
    """The calling program of this process (or of ``pid``): ``program`` (a name above, or the
    parent's own name when unknown), ``interactive`` (it has a terminal on stdin),
    ``stderr_tty`` and ``stderr_null`` (our stderr is a terminal, or /dev/null). A plain dict: it is marshalled to the resident
    checker."""
    pid = os.getppid() if pid is None else pid
    first = ""
    for _ in range(4):  # past a `sh -c` (git) or an env/wrapper script
        name, parent = _status(pid)
        first = first or name
        program = _PROGRAMS.get(name)
        if program is not None:
            # mutt sends from a forked child of itself with its stdin on a temp file: the
            # terminal, if any, is the first mutt's
            for _ in range(4):
                up_name, up_parent = _status(parent)
                if up_name != name:
                    break
                pid, parent = parent, up_parent
            return {"program": program, "interactive": _has_terminal(pid), **_stderr()}
        if name not in _SHELLS or parent <= 1:
            break
        pid = parent
    return {"program": first, "interactive": False, **_stderr()}


def _stderr() -> dict[str, bool]:
    """Where our stderr goes: a terminal (``stderr_tty``), or nowhere (``stderr_null``: aerc
    hands its sendmail program /dev/null, measured)."""
    try:
        null = os.readlink("/proc/self/fd/2") == "/dev/null"
    except OSError:
        null = False
    try:
        tty = os.isatty(2)
    except OSError:
        tty = False
    return {"stderr_tty": tty, "stderr_null": null, "ascii": _c_locale()}


def _c_locale() -> bool:
    """Whether the calling program runs in the C or POSIX locale (no LANG, say), where mutt
    shows every byte above 127 as an octal escape. Python starts in its UTF-8 mode exactly then
    (PEP 540), unless PYTHONUTF8 asked for it; it sets LC_CTYPE then, never LANG or LC_ALL."""
    if not sys.flags.utf8_mode or "PYTHONUTF8" in os.environ:
        return False
    named = (os.environ.get("LC_ALL") or os.environ.get("LANG") or "").lower()
    return "utf-8" not in named and "utf8" not in named
