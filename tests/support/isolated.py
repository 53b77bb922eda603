"""A private HOME and XDG tree, and a send-path config whose transport swallows the mail.

The test fixtures (tests/conftest.py), the peak-memory child (sendpath_peak.py) and the fuzzer
(bench/fuzz_sendmail.py) each run sendguard where it can read and write nothing of the
developer's."""

from __future__ import annotations

from pathlib import Path

XDG_DIRS = (
    ("HOME", "home"),
    ("XDG_CONFIG_HOME", "config"),
    ("XDG_DATA_HOME", "data"),
    ("XDG_STATE_HOME", "state"),
    ("XDG_CACHE_HOME", "cache"),
    ("XDG_RUNTIME_DIR", "run"),
)


def private_dirs(root: Path) -> dict[str, str]:
    """Make HOME and the XDG directories under ``root`` (0700); the environment that names them."""
    env = {}
    for var, sub in XDG_DIRS:
        (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        env[var] = str(root / sub)
    return env


def swallowing_config(root: Path) -> Path:
    """A config for me@nordwerk.example whose transport reads the mail and drops it; no log, no
    notifications."""
    transport = root / "transport"
    transport.write_text("#!/bin/sh\ncat > /dev/null\n")
    transport.chmod(0o700)
    config = root / "config.toml"
    config.write_text(
        '[identity]\naddresses = ["me@nordwerk.example"]\n[organization]\ndomains = ["nordwerk.example"]\n'
        f'[transport]\ncommand = ["{transport}"]\n[sendmail]\nnotify = false\n[log]\nenabled = false\n'
    )
    return config


def notice_mailers() -> list[str]:
    """Pids of the detached notice mailers (sendguard.act.notice_mail) of this test's world,
    matched by its private XDG_DATA_HOME."""
    import os

    mine = f"XDG_DATA_HOME={os.environ['XDG_DATA_HOME']}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"sendguard.act.notice_mail" in (proc / "cmdline").read_bytes():
                if mine in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(proc.name)
        except OSError:
            continue  # gone meanwhile
    return found
