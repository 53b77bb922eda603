"""What tests do with hooks/ and with commands sendguard prints for the user to paste: systemd's
own check of the user units, and a printed set-aside-and-learn-again line run as pasted."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

HOOKS = Path(__file__).resolve().parents[2] / "hooks"


def verify_user_units(tmp_path: Path, home: Path, *units: str) -> None:
    """``systemd-analyze verify --user`` on hooks/ units, where systemd-analyze is installed."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        return
    runtime = tmp_path / "run-systemd"
    runtime.mkdir(mode=0o700, exist_ok=True)
    proc = subprocess.run(
        [analyze, "verify", "--user", *(str(HOOKS / unit) for unit in units)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)},
    )
    assert proc.returncode == 0, proc.stderr


def run_printed_learn(
    command: str, sent: Path, sendguard: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """A printed line ending in ``sendguard learn ~/Mail/Sent ~/Mail/INBOX``, run as a user pastes
    it, with the test's sent folder and sendguard for those two."""
    pasted = command.replace("~/Mail/Sent ~/Mail/INBOX", str(sent)).replace("sendguard learn", f"{sendguard} learn")
    return subprocess.run(pasted, shell=True, capture_output=True, text=True, env=env, timeout=120, check=False)
