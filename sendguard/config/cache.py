"""The parsed config file, cached as JSON, so that tomllib need not be imported (nor run) for
every mail: ~3 ms of the send path's CPU (bench/README.md).

What is cached is tomllib's output, not the validated model: config.load validates the cached
data on every load all the same (cheap), and falls back to the file when it no longer validates
(a newer sendguard), so every error still names its file and line.

One entry, for the config file last loaded, in ``STATE/config-cache.json`` (0600), keyed by the
file's absolute path, size, inode, mtime and ctime. ctime is in the key because nobody can set
it back (``touch -d`` and editors restoring mtimes cannot fake a hit). A file changed within
the last FRESH_SECONDS is never cached: two edits within one timestamp tick of the file system
(a few ms on ext4) would otherwise leave both with the same key ("racy git"). So an edit is
seen by the very next mail. Anything wrong with the cache (missing, torn, foreign, a TOML value
JSON cannot hold) means: parse the file, as without a cache.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

CACHE_NAME = "config-cache.json"
FRESH_SECONDS = 2.0


def key_of(file: Path) -> list[Any] | None:
    """What identifies this version of ``file``; None when it cannot be had (no file)."""
    try:
        st = os.stat(file)
    except OSError:
        return None
    return [os.path.abspath(file), st.st_size, st.st_ino, st.st_dev, st.st_mtime_ns, st.st_ctime_ns]


def stamp(config: Any) -> list[Any] | None:
    """Which version of its file ``config`` was read from, to record beside a verdict: a queued
    message whose stamp differs from the config now in force was judged under another one."""
    path = getattr(config, "path", None)
    return None if path is None else key_of(path)


def read(file: Path, state_dir: Path) -> dict[str, Any] | None:
    """The parsed data cached for ``file`` as it is now, or None."""
    key = key_of(file)
    if key is None:
        return None
    try:
        with open(state_dir / CACHE_NAME, encoding="utf-8") as handle:
            cached = json.load(handle)
    except (OSError, ValueError):  # none yet, or torn by a crash: parse the file
        return None
    if not isinstance(cached, dict) or cached.get("key") != key or not isinstance(cached.get("data"), dict):
        return None
    return cached["data"]  # type: ignore[no-any-return]


def write(key: list[Any] | None, data: dict[str, Any], state_dir: Path, now: float | None = None) -> None:
    """Cache ``data``, parsed from the file version ``key`` (taken *before* the file was read,
    so a change during the read makes a key that no later stat matches)."""
    if key is None:
        return
    now = time.time() if now is None else now
    if now - max(key[4], key[5]) / 1e9 < FRESH_SECONDS:
        return  # it may change again within the same timestamp tick: not cached (module docstring)
    try:
        text = json.dumps({"key": key, "data": data}, ensure_ascii=False)
    except (TypeError, ValueError):  # a TOML date or time: JSON has none; such a config is parsed each time
        return
    tmp = state_dir / f".{CACHE_NAME}.{os.getpid()}.tmp"
    try:
        from sendguard.paths import ensure_private_dir

        ensure_private_dir(state_dir)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, state_dir / CACHE_NAME)  # no fsync: a cache lost in a crash is rebuilt
    except OSError:  # a cache that cannot be written only makes the next mail parse again
        try:
            os.unlink(tmp)
        except OSError:
            pass  # never created
