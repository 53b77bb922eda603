"""The send path stays lean: no Textual, no notmuch, no click, no review app (harlequin's pattern).

Checked twice: in a fresh interpreter after really running the send path and a check (what is
in ``sys.modules`` then is what a mail costs), and statically with import-linter's contract in
pyproject.toml (which also sees imports inside functions that a given mail did not reach).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("textual", "notmuch2", "sendguard.tui", "click")

PROBE = textwrap.dedent("""\
    import io, json, sys, tempfile
    from pathlib import Path
    import sendguard.sendpath.path, sendguard.decide.check
    from sendguard.act import queue as q
    from sendguard.config.schema import parse
    from sendguard.mail.message import OutgoingMessage
    from sendguard.decide.check import check_message, envelope_for

    raw = sys.stdin.buffer.read()
    tmp = Path(tempfile.mkdtemp())
    config_file = tmp / "config.toml"
    config_file.write_text('[organization]\\ndomains = ["nordwerk.example"]\\n'
                           '[transport]\\ncommand = ["/bin/true"]\\n[sendmail]\\nnotify = false\\n')
    message = OutgoingMessage(raw)
    result = check_message(message, parse(config_file.read_text()),
                           envelope=envelope_for(message, [], True), state_dir=tmp)
    stderr = io.StringIO()
    code = sendguard.sendpath.path.SendPath(config_file, stderr, queue=q.Queue(tmp / "queue")).run(
        ["-f", "me@nordwerk.example", "--", "anna@kundenfirma.example"], io.BytesIO(raw))
    print(json.dumps({"code": code, "verdict": result.decision.verdict.label, "stderr": stderr.getvalue(),
                      "modules": sorted(sys.modules)}))
    """)


def loaded_modules(code: str, stdin: bytes = b"") -> dict:
    proc = subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def forbidden_in(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


def test_running_the_send_path_and_a_check_imports_nothing_heavy():
    raw = (
        b"From: Me <me@nordwerk.example>\nTo: anna@kundenfirma.example\nSubject: Falke report\n"
        b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
        b"--b\nContent-Type: text/plain; charset=utf-8\n\nHello Anna,\n\nthe report is attached.\n\n"
        b"--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=report.pdf\n"
        b"Content-Transfer-Encoding: base64\n\nJVBERi0xLjQKJeLjz9MKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK\n"
        b"--b--\n"
    )
    result = loaded_modules(PROBE, raw)
    assert result["code"] == 0, result["stderr"]
    assert forbidden_in(result["modules"]) == []
    # what only a hold needs stays out of passing mail
    assert not {"sendguard.act.notice_mail", "sendguard.act.notice_texts"} & set(result["modules"])


def test_the_sendguard_sendmail_fast_path_does_not_import_click():
    code = textwrap.dedent("""\
        import json, sys
        import sendguard.__main__ as entry
        assert entry._fast_sendmail(["check"]) is None  # not sendmail: leaves it to click, imports nothing
        print(json.dumps({"modules": sorted(sys.modules)}))
        """)
    assert forbidden_in(loaded_modules(code)["modules"]) == []


def test_importing_the_package_does_no_work():
    code = "import json, sys, sendguard; print(json.dumps({'modules': sorted(sys.modules)}))"
    ours = [m for m in loaded_modules(code)["modules"] if m.startswith("sendguard")]
    assert ours == ["sendguard"]


def test_import_linter_contract_is_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists():
        found = shutil.which("lint-imports")
        if not found:
            pytest.skip("import-linter is not installed")
        lint = Path(found)
    proc = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_the_resident_client_imports_nothing_but_itself():
    """What every mail pays when a resident checker answers: the client module alone (the server
    and the send path are imported only when there is none)."""
    # -S: without site, whose .pth files (an editable install's finder) import re and pathlib.
    code = textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        before = set(sys.modules)
        import sendguard.sendpath.client as client
        client.socket_path("/nonexistent/config.toml")
        assert client.ask_server(["-t"], b"To: a@b.example\\n\\nhi\\n", "/nonexistent/config.toml", client.new_id()) is None
        loaded = sorted(set(sys.modules) - before)
        import json
        print(json.dumps({{"modules": loaded}}))
        """)
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    loaded = json.loads(proc.stdout)["modules"]
    assert [m for m in loaded if m.startswith("sendguard")] == [
        "sendguard",
        "sendguard.faults",
        "sendguard.ids",
        "sendguard.sendpath",
        "sendguard.sendpath.client",
    ]
    # contextlib alone (collections, functools) costs ~3 ms of every mail's start
    heavy = ("pathlib", "email", "re", "hashlib", "socket", "typing", "contextlib", "collections", "functools")
    assert not [m for m in loaded if m in heavy]


def test_the_resident_server_imports_nothing_heavy():
    code = "import json, sys, sendguard.sendpath.server; print(json.dumps({'modules': sorted(sys.modules)}))"
    assert forbidden_in(loaded_modules(code)["modules"]) == []
