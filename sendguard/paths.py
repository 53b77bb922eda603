"""Where sendguard keeps things: XDG directories, resolved when asked, never at import.

All state is private to the user: directories are created 0700.
"""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/sendguard/config.toml``."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "sendguard" / "config.toml"


def state_dir(create: bool = False) -> Path:
    """``$XDG_DATA_HOME/sendguard``: the queue, history, incident log."""
    path = _xdg("XDG_DATA_HOME", ".local/share") / "sendguard"
    if create:
        ensure_private_dir(path)
    return path


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` and each missing parent with mode 0700. Each gets its mode from mkdir,
    never from a umask switch: the umask is the whole process's, and the milter's threads
    create files (and libmilter its socket) meanwhile."""
    if not path.is_dir():
        missing = []
        for directory in (path, *path.parents):
            if directory.exists():  # a file there makes the next mkdir fail: NotADirectoryError
                break
            missing.append(directory)
        if not missing and not path.is_dir():
            path.mkdir(mode=0o700)  # a file by that name: FileExistsError, as mkdir says it
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=0o700)
            except FileExistsError:  # made meanwhile (another process): not ours to change
                if not directory.is_dir():
                    raise
                continue
            directory.chmod(0o700)  # mkdir's mode is masked by the umask; 0700 is what is meant
    return path


def create_private_file(path: Path) -> None:
    """Make ``path`` an empty 0600 file if there is none; an existing one is not opened.

    For sqlite files: closing any descriptor of a file drops every POSIX lock this process
    holds on it, so opening and closing one a connection in another thread has open would
    take that connection's locks away (sqlite's "Posix advisory locks canceled")."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def probe_write(directory: Path) -> OSError | None:
    """Try a real write in ``directory`` (created 0700 if missing): None when it works, else the
    error. ``os.access`` is not enough: root passes it on an immutable or read-only directory."""
    try:
        ensure_private_dir(directory)
        probe = directory / f".write-probe-{os.getpid()}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as err:
        return err
    return None
