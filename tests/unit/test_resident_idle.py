"""The resident checker's idle timer: only its own user's mail keeps it alive."""

from __future__ import annotations

import socket
import threading
import time

from sendguard.sendpath import client as resident
from sendguard.sendpath import server


class _Config:
    class sendmail:  # noqa: N801 — the shape of Config.sendmail
        resident = True
        resident_idle = 1


def test_another_users_connections_do_not_keep_it_alive(tmp_path, monkeypatch):
    where = str(tmp_path / "s.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(where)
    listener.listen(16)
    srv = server.Server("", listener, _Config())
    monkeypatch.setattr(resident, "_peer_uid", lambda sock: 12345)  # every caller is someone else
    stop = threading.Event()
    replies: list[bytes] = []

    def knock() -> None:
        while not stop.is_set():
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(5)
                    s.connect(where)
                    replies.append(s.recv(10))
            except OSError:
                pass  # the server has stopped: nobody accepts, or the listener is gone
            time.sleep(0.2)

    knocker = threading.Thread(target=knock, daemon=True)
    serving = threading.Thread(target=srv.serve, daemon=True)  # for ever, if each knock restarted the idle timer
    knocker.start()
    serving.start()
    try:
        serving.join(timeout=60)
        assert not serving.is_alive(), "knocks from another user kept it alive"
    finally:
        stop.set()
        listener.close()
        knocker.join(timeout=10)
    assert replies and set(replies) == {b""}  # each knock was closed without a word
