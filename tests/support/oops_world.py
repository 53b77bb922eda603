"""Petra Lang's synthetic world (history_fixtures) behind real sendguard-sendmail and msmtp, for the
tests of forgetting and of ``oops``: her sent mail learned, a mistake delivered as a mail program
would send it (a hold released by the user, knowingly)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.support import history_fixtures as hf


def setup_world(world, tmp_path: Path, extra: str = "", messages: list[bytes] | None = None) -> Path:  # type: ignore[no-untyped-def]
    """Config for Petra (name set), her Sent maildir written and learned; returns the maildir."""
    base = world.config_path.read_text()
    transport = base[base.index("[transport]") :]
    config = hf.CONFIG_TEXT.replace("[identity]\n", '[identity]\nname = "Petra Lang"\n')
    world.config_path.write_text(config + transport + extra)
    sent = hf.write_maildir(tmp_path / "Mail" / "Sent", hf.history_messages() if messages is None else messages)
    out = world.cli("learn", str(sent))
    assert out.returncode == 0, out.stderr
    return sent


def verdict(world, tmp_path: Path, raw: bytes) -> str:  # type: ignore[no-untyped-def]
    probe = tmp_path / "probe.eml"
    probe.write_bytes(raw)
    out = world.cli("check", "--json", str(probe))
    assert out.returncode in (0, 1, 2, 3), out.stderr
    return str(json.loads(out.stdout)["verdict"])


def sent_to(addr: str) -> int:
    """How many messages the history counts as sent to ``addr``."""
    from sendguard import paths
    from sendguard.history.store import path_in

    db = sqlite3.connect(path_in(paths.state_dir()))
    row = db.execute("SELECT sent FROM contacts WHERE addr = ?", (addr,)).fetchone()
    db.close()
    return int(row[0]) if row else 0


def deliver(world, raw: bytes) -> str:  # type: ignore[no-untyped-def]
    """Send as mutt would; a hold is released by the user, knowingly. Returns the queue id."""
    before = len(world.server.received)
    out = world.send(raw, "-t")
    rows = [json.loads(line) for line in world.cli("queue", "list", "--json", "--all").stdout.splitlines()]
    entry = rows[-1]
    if out.returncode != 0:
        assert out.returncode == 75, out.stderr
        assert world.cli("release", entry["id"]).returncode == 0
    assert len(world.server.received) == before + 1
    return str(entry["id"])
