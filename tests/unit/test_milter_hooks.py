"""The Postfix snippets and the systemd unit in hooks/ name real parameters and one socket."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sendguard.milter.spec import parse_listen, postfix_form

HOOKS = Path(__file__).resolve().parents[2] / "hooks"


def settings(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-o "):
            line = line[3:]
        found = re.match(r"^([a-z_]+)\s*=\s*(.*)$", line)
        if found:
            out[found.group(1)] = found.group(2).strip()
    return out


def test_every_main_cf_and_master_cf_setting_is_a_postfix_parameter():
    # /usr/sbin is not on an ordinary user's PATH, and postconf -d needs no privilege
    postconf = shutil.which("postconf", path="/usr/sbin:/sbin") or shutil.which("postconf")
    if not postconf:
        pytest.skip("postfix is not installed (.ci/setup installs it)")
    names = {**settings((HOOKS / "postfix-main.cf").read_text()), **settings((HOOKS / "postfix-master.cf").read_text())}
    assert "milter_default_action" in names and names["milter_default_action"] == "tempfail"
    for name in names:
        proc = subprocess.run([postconf, "-d", name], capture_output=True, text=True, check=False)
        assert proc.returncode == 0 and not proc.stderr, f"{name}: {proc.stderr}"


def test_postfix_and_the_unit_name_the_same_socket():
    unit = (HOOKS / "sendguard-milter.service").read_text()
    spec = re.search(r"milter --listen (\S+)", unit).group(1)  # type: ignore[union-attr]
    text = (HOOKS / "postfix-master.cf").read_text()
    master = settings(text)
    chrooted = re.search(r"^submission\s+inet\s+\S+\s+\S+\s+(\S+)", text, re.M).group(1) == "y"  # type: ignore[union-attr]
    assert master["smtpd_milters"] == postfix_form(parse_listen(spec), "/var/spool/postfix" if chrooted else "")


def test_the_unit_makes_the_socket_directory_postfix_can_enter():
    unit = (HOOKS / "sendguard-milter.service").read_text()
    spec = re.search(r"milter --listen unix:(\S+)", unit).group(1)  # type: ignore[union-attr]
    made = re.search(r"^ExecStartPre=\+/usr/bin/install -d -o sendguard -g postfix -m 2750 (\S+)$", unit, re.M)
    assert made and spec == made.group(1) + "/milter.sock"
    assert re.search(r"^UMask=0007$", unit, re.M)
    assert made.group(1) in re.search(r"^ReadWritePaths=(.*)$", unit, re.M).group(1).split()  # type: ignore[union-attr]
