"""``sendguard check``: the send path's dry run, as the contract describes it (the real executable)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_message, sendguard_exe

CONFIG = """\
[identity]
addresses = ["me@nordwerk.example"]
[organization]
domains = ["nordwerk.example"]
[clients.kundenfirma]
domains = ["kundenfirma.example"]
[block]
addresses = ["leak@evil.example"]
"""
FINDING_KEYS = {"rule", "severity", "message", "recipient", "suggestion", "evidence"}


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def children_cpu() -> float:
    """CPU seconds used so far by this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check(config: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sendguard_exe(), "--config", str(config), "check", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write(tmp_path: Path, name: str, to: str) -> str:
    path = tmp_path / name
    path.write_bytes(make_message(to=to))
    return str(path)


def lines(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines()]


def assert_contract_shape(row: dict) -> None:
    assert set(row) == {"file", "verdict", "findings"}
    assert row["verdict"] in {"pass", "warn", "hold", "block"}
    assert isinstance(row["file"], str)
    for finding in row["findings"]:
        assert set(finding) == FINDING_KEYS
        assert finding["severity"] in {"info", "warn", "hold", "block"}
        assert finding["rule"] and finding["rule"] == finding["rule"].lower() and " " not in finding["rule"]
        assert isinstance(finding["message"], str) and finding["message"]
        for key in ("recipient", "suggestion", "evidence"):
            assert finding[key] is None or isinstance(finding[key], str)


def test_json_shape_is_exactly_the_contract(tmp_path, config):
    files = [
        write(tmp_path, "internal.eml", "boss@nordwerk.example"),
        write(tmp_path, "client.eml", "anna@kundenfirma.example"),
        write(tmp_path, "blocked.eml", "leak@evil.example"),
    ]
    proc = check(config, "--json", *files)
    assert proc.returncode == 3, proc.stderr
    rows = lines(proc)
    assert [r["file"] for r in rows] == files, "one line per file, in the order given"
    for row in rows:
        assert_contract_shape(row)
    assert [r["verdict"] for r in rows] == ["pass", "pass", "block"]
    assert rows[0]["findings"] == []
    assert rows[1]["findings"] == [
        {
            "rule": "external-recipient",
            "severity": "info",
            "message": "anna@kundenfirma.example is client kundenfirma.",
            "recipient": "anna@kundenfirma.example",
            "suggestion": None,
            "evidence": None,
        }
    ]
    blocked = [f for f in rows[2]["findings"] if f["rule"] == "blocked-recipient"]
    assert blocked and blocked[0]["severity"] == "block" and blocked[0]["recipient"] == "leak@evil.example"


@pytest.mark.parametrize(
    ("action", "code", "verdict"),
    [
        ("info", 0, "pass"),
        ("warn", 1, "warn"),
        ("hold", 2, "hold"),
        ("block", 3, "block"),
        ("off", 0, "pass"),
    ],
)
def test_exit_code_is_the_verdict(tmp_path, config, action, code, verdict):
    config.write_text(CONFIG + f'[rules.external-recipient]\naction = "{action}"\n')
    proc = check(config, "--json", write(tmp_path, "m.eml", "anna@kundenfirma.example"))
    assert proc.returncode == code, proc.stderr
    assert lines(proc)[0]["verdict"] == verdict


def test_exit_code_is_the_highest_over_all_files(tmp_path, config):
    config.write_text(CONFIG + '[rules.external-recipient]\naction = "warn"\n')
    files = [
        write(tmp_path, "a.eml", "boss@nordwerk.example"),
        write(tmp_path, "b.eml", "anna@kundenfirma.example"),
        write(tmp_path, "c.eml", "boss@nordwerk.example"),
    ]
    proc = check(config, "--json", *files)
    assert proc.returncode == 1
    assert [r["verdict"] for r in lines(proc)] == ["pass", "warn", "pass"]


def test_many_files_in_one_process(tmp_path, config):
    files = [
        write(tmp_path, f"{i:03}.eml", "leak@evil.example" if i == 77 else f"p{i}@kundenfirma.example")
        for i in range(120)
    ]
    before = children_cpu()
    proc = check(config, "--json", *files)
    cpu = children_cpu() - before
    assert proc.returncode == 3
    rows = lines(proc)
    assert [r["file"] for r in rows] == files
    assert [i for i, r in enumerate(rows) if r["verdict"] == "block"] == [77]
    before = children_cpu()
    assert check(config, "--json", files[0]).returncode == 0
    one = children_cpu() - before
    # CPU time, not the wall clock (the machine may be loaded): a process per file would cost the
    # start-up, most of checking one file, 120 times; one process costs about 1.5 times (measured).
    assert cpu < 10 * one, f"one process, not one per file: {cpu:.2f} s CPU for 120 files, {one:.2f} s for one"


def test_dash_reads_stdin(tmp_path, config):
    proc = check(config, "--json", "-", stdin=make_message(to="leak@evil.example"))
    assert proc.returncode == 3
    (row,) = lines(proc)
    assert row["file"] == "-" and row["verdict"] == "block"


def test_stdin_between_files(tmp_path, config):
    first = write(tmp_path, "a.eml", "boss@nordwerk.example")
    proc = check(config, "--json", first, "-", stdin=make_message(to="anna@kundenfirma.example"))
    assert [r["file"] for r in lines(proc)] == [first, "-"]


def test_envelope_replaces_the_header_recipients(tmp_path, config):
    path = write(tmp_path, "m.eml", "boss@nordwerk.example")
    assert check(config, "--json", path).returncode == 0
    proc = check(config, "--json", "--envelope", "boss@nordwerk.example", "--envelope", "leak@evil.example", path)
    assert proc.returncode == 3
    assert {f["recipient"] for f in lines(proc)[0]["findings"]} == {"leak@evil.example"}


def test_human_output_names_file_verdict_and_reason(tmp_path, config):
    path = write(tmp_path, "m.eml", "leak@evil.example")
    proc = check(config, path)
    assert proc.returncode == 3
    assert proc.stdout.startswith(f"{path}: block\n")
    assert "blocked-recipient" in proc.stdout and "leak@evil.example" in proc.stdout


def test_check_never_sends_and_never_queues(tmp_path, config, isolated_home):
    config.write_text(CONFIG + '[transport]\ncommand = ["/bin/false"]\n')
    check(config, write(tmp_path, "m.eml", "leak@evil.example"))
    assert not (isolated_home / "data" / "sendguard" / "queue").exists()


@pytest.mark.parametrize("args", [[], ["--bogus", "x.eml"], ["--envelope"]], ids=["no-file", "bad-option", "no-value"])
def test_usage_errors_exit_64(config, args):
    proc = check(config, *args)
    assert proc.returncode == 64, proc.stderr
    assert proc.stdout == ""
    assert "Error" in proc.stderr


def test_unreadable_file_exits_65(tmp_path, config):
    proc = check(config, "--json", str(tmp_path / "missing.eml"))
    assert proc.returncode == 65
    assert "missing.eml" in proc.stderr


def _unreadable(tmp_path: Path, kind: str) -> str:
    path = tmp_path / f"{kind}.eml"
    if kind == "directory":
        path.mkdir()
    elif kind == "no-permission":
        if os.geteuid() == 0:
            pytest.skip("root reads any file")
        path.write_bytes(make_message(to="anna@kundenfirma.example"))
        path.chmod(0)
    return str(path)


@pytest.mark.parametrize("kind", ["missing", "directory", "no-permission"])
def test_an_unreadable_file_has_its_own_json_line_and_outranks_every_verdict(tmp_path, config, kind):
    """It had no line at all, so a reader pairing lines with files lost count; and beside a warn
    the exit was 1, "only a warning", for a file nobody judged."""
    bad = _unreadable(tmp_path, kind)
    files = [
        write(tmp_path, "client.eml", "anna@kundenfirma.example"),
        bad,
        write(tmp_path, "in.eml", "boss@nordwerk.example"),
    ]
    proc = check(config, "--json", *files)
    assert proc.returncode == 65, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = lines(proc)
    assert [row["file"] for row in rows] == files
    assert_contract_shape(rows[0])
    assert_contract_shape(rows[2])
    assert rows[1]["verdict"] is None and rows[1]["findings"] == []
    assert rows[1]["error"].startswith("cannot be read: ")
    assert f"sendguard: error: {bad}: {rows[1]['error']}" in proc.stderr.splitlines()


def test_broken_config_exits_78(tmp_path, config):
    config.write_text("[organisation]\ndomains = []\n")
    proc = check(config, write(tmp_path, "m.eml", "anna@kundenfirma.example"))
    assert proc.returncode == 78
    assert "organization" in proc.stderr


def test_unparseable_garbage_is_judged_not_crashed(tmp_path, config):
    path = tmp_path / "garbage.eml"
    path.write_bytes(b"\xff\xfe\x00 not a mail \x1b[31m\n\n\x00\x00")
    proc = check(config, "--json", "--envelope", "anna@kundenfirma.example", str(path))
    assert proc.returncode in (0, 1, 2, 3), proc.stderr
    assert_contract_shape(lines(proc)[0])


@pytest.mark.parametrize("content", [b"", b"\n\n  \r\n"], ids=["empty", "blank"])
def test_an_empty_message_is_refused_as_the_send_path_refuses_it(tmp_path, config, content):
    """It was 'pass', exit 0, where sendguard-sendmail exits 65 for the same bytes."""
    path = tmp_path / "empty.eml"
    path.write_bytes(content)
    proc = check(config, "--json", str(path))
    assert proc.returncode == 65
    assert lines(proc) == [{"file": str(path), "verdict": None, "findings": [], "error": "the message is empty"}]
    assert proc.stderr.splitlines()[0] == f"sendguard: error: {path}: the message is empty"


def test_a_file_name_is_shown_as_text(tmp_path, config):
    proc = check(config, str(tmp_path / "\x1b]0;owned\x07.eml"))
    assert proc.returncode == 65
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr
    assert "\\x1b]0;owned\\x07.eml" in proc.stderr
