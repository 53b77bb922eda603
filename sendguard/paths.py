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
    """Create ``path`` (and parents) with mode 0700 if missing."""
    if not path.is_dir():
        old = os.umask(0o077)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        finally:
            os.umask(old)
    return path


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
