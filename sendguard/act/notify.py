"""Desktop notifications, for the moments when sendguard has something to say and no terminal.

aerc throws the sendmail wrapper's stderr away, and the undo worker runs detached long after the
mail program returned. ``notify-send`` is tried only where a desktop session exists (``DISPLAY``
or ``WAYLAND_DISPLAY``); its absence is silent, as the queue and the incident log always have the
facts. Title and body are untrusted message text and go through ``printable()``; the body is
also markup-escaped, as daemons read it as markup (``<a href>``, ``<img>``). notify-send runs
in its own session without our stdio, and ``wait`` bounds how long the caller waits (the send
path must not). subprocess is imported only when a notification is shown.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping

APP_NAME = "sendguard"


def desktop_available(env: Mapping[str, str] | None = None) -> bool:
    """True where a graphical session can show a notification."""
    env = os.environ if env is None else env
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def body_text(body: str) -> str:
    """``body`` as notify-send must pass it: printable, and markup-escaped. The specification
    lets a daemon read the body as markup, and GNOME Shell, KDE, dunst and mako do: a subject
    holding ``<a href=...>`` would be a link. The summary (title) is plain text there."""
    from sendguard.printable import printable

    return printable(body, keep_newlines=True).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notify(
    title: str, body: str, *, urgency: str = "normal", wait: float = 0.0, env: Mapping[str, str] | None = None
) -> bool:
    """Show a desktop notification; True if notify-send was started.

    ``urgency``: ``low``, ``normal`` or ``critical`` (most daemons keep a critical one on screen
    until it is dismissed). ``wait``: seconds to wait for notify-send to finish (0: not at all).
    ``env``: the session to show it in, when it is not ours (the resident checker's client's).
    """
    if not desktop_available(env):
        return False
    notifier = shutil.which("notify-send", path=None if env is None else env.get("PATH"))
    if not notifier:
        return False
    import subprocess

    from sendguard.printable import printable

    try:
        proc = subprocess.Popen(
            [
                notifier,
                f"--app-name={APP_NAME}",
                f"--urgency={urgency}",
                "--",  # a title beginning with "-" is text, not an option
                printable(title),
                body_text(body),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=None if env is None else dict(env),
        )
    except OSError:  # not executable after all: the queue and the log still have the facts
        return False
    if wait > 0:
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass  # a hung notifier must not keep the caller; it was started, that is all we owe
    return True
