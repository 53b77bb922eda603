"""The resident checker (sendguard/resident.py, resident_server.py), for real: the installed
sendguard-sendmail, a server process it starts itself, msmtp → aiosmtpd on 127.0.0.1.

Every other test runs with SENDGUARD_RESIDENT=0 (conftest: a server per test HOME would outlive
the test); here it is on, and each test stops its server at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sendguard.sendpath import client as resident
from tests.conftest import make_message
from tests.support.wait import wait_until


def wait_for(condition, timeout: float = 60.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    value = wait_until(condition, timeout)
    assert value, f"timed out waiting for {what}"
    return value


def state_dir() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "sendguard"


def server_pid() -> int | None:
    return resident.running_server(state_dir() / resident.PID_FILE)


def servers_started(config: Path) -> list[str]:
    """Resident checkers of ours for ``config``, by their argv: one that has just been spawned
    (and not yet written its pid file) is there as soon as the spawning process returns."""
    wanted = [b"-P", b"-m", b"sendguard.sendpath.server", os.fsencode(str(config))]
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().split(b"\0")[1:5] == wanted:
                found.append(cmdline.parent.name)
        except OSError:
            continue  # gone meanwhile
    return found


def entries() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((state_dir() / "queue").glob("*/meta.json"))]


def entry_by_subject(subject: str) -> dict:
    found = [e for e in entries() if e["subject"] == subject]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def rworld(world, monkeypatch):
    """The world, with the resident checker on (a short idle time, in case a test fails)."""
    monkeypatch.delenv("SENDGUARD_RESIDENT", raising=False)
    set_sendmail_keys(world, "resident_idle = 60")
    yield world
    assert resident.stop_servers(str(world.config_path), timeout=20), "the resident checker did not stop"


def set_sendmail_keys(world, lines: str) -> None:  # type: ignore[no-untyped-def]
    from sendguard.cli.support.loopback import world_config

    text = world_config(world.msmtprc).replace("[sendmail]\n", f"[sendmail]\n{lines}\n")
    world.config_path.write_text(text)


def use_transport(world, path: Path, script: str) -> str:  # type: ignore[no-untyped-def]
    """Make ``script`` (sh) the world's transport instead of msmtp; returns the new config text."""
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    text = world.config_path.read_text().replace(
        f'command = ["msmtp", "-C", "{world.msmtprc}"]', f'command = ["{path}"]'
    )
    world.config_path.write_text(text)
    return text


def start_server(world) -> int:  # type: ignore[no-untyped-def]
    """The first mail is checked in its own process and starts the server for the next."""
    first = world.send(make_message(subject="first of the day"), "-t")
    assert first.returncode == 0, first.stderr
    assert entry_by_subject("first of the day")["checker"] == "process"
    return wait_for(server_pid, what="the resident checker to start")


def test_the_next_mail_is_checked_by_the_server_and_delivered_byte_for_byte(rworld):
    pid = start_server(rworld)
    assert os.readlink(f"/proc/{pid}/cwd") == "/"  # it holds no caller's directory
    message = make_message(subject="through the server", body="Hello Anna,\n\nline\r\nwith CR\n\n-- \nMe\n")
    proc = rworld.send(message, "-f", "me@nordwerk.example", "--", "anna@kundenfirma.example")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b""
    entry = entry_by_subject("through the server")
    assert entry["checker"] == "resident" and entry["state"] == "delivered"
    got = [m for m in rworld.server.received if b"through the server" in m.data]
    assert len(got) == 1
    assert got[0].rcpt_tos == ["anna@kundenfirma.example"]
    assert got[0].data.replace(b"\r\n", b"\n") == message.replace(b"\r\n", b"\n")


def test_a_hold_is_explained_on_the_callers_stderr_and_confirmed_by_sending_again(rworld):
    start_server(rworld)
    message = make_message(
        to="anna@kundenfirma.example, bob@other.example",
        subject="Gehaltsliste",
        body="Hallo Markus,\n\nanbei die vertrauliche Gehaltsliste, nur intern.\n",
    )
    held = rworld.send(message, "-t")
    assert held.returncode == 75
    assert b"HELD" in held.stderr
    entry = entry_by_subject("Gehaltsliste")
    assert entry["checker"] == "resident" and entry["state"] == "held"
    assert entry["id"].encode() in held.stderr
    assert not [m for m in rworld.server.received if b"Gehaltsliste" in m.data]

    again = rworld.send(message, "-t")
    assert again.returncode == 0, again.stderr
    assert len([m for m in rworld.server.received if b"Gehaltsliste" in m.data]) == 1


def test_the_transports_failure_comes_back_to_the_caller_and_the_message_is_kept(rworld, tmp_path):
    start_server(rworld)
    use_transport(
        rworld, tmp_path / "failing-transport", "cat >/dev/null\necho 'no route to the smarthost' >&2\nexit 69\n"
    )
    proc = rworld.send(make_message(subject="nowhere to go"), "-t")
    assert proc.returncode == 69
    assert b"no route to the smarthost" in proc.stderr
    entry = entry_by_subject("nowhere to go")
    assert entry["checker"] == "resident" and entry["state"] == "failed"
    assert (state_dir() / "queue" / entry["id"] / "message.eml").read_bytes() == make_message(subject="nowhere to go")


def test_a_server_killed_between_mails_costs_nothing(rworld):
    pid = start_server(rworld)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: server_pid() is None, what="the killed server to be gone")
    proc = rworld.send(make_message(subject="after the kill"), "-t")
    assert proc.returncode == 0, proc.stderr
    entry = entry_by_subject("after the kill")
    assert entry["checker"] == "process" and entry["state"] == "delivered"
    assert len([m for m in rworld.server.received if b"after the kill" in m.data]) == 1
    wait_for(server_pid, what="a new server")  # that mail started the next one


def test_a_server_killed_mid_delivery_leaves_the_message_kept_and_never_sent_twice(rworld, tmp_path):
    start_server(rworld)
    # The transport kills the server that started it, before reading the message.
    use_transport(rworld, tmp_path / "killer-transport", "kill -9 $PPID\nsleep 1\nexit 0\n")
    proc = rworld.send(make_message(subject="mid-delivery"), "-t")
    assert proc.returncode == 75
    entry = entry_by_subject("mid-delivery")  # one entry: the client finished the server's, under its id
    assert entry["checker"] == "resident" and entry["state"] == "interrupted"
    assert entry["id"].encode() in proc.stderr and b"may have left" in proc.stderr
    assert not [m for m in rworld.server.received if b"mid-delivery" in m.data]
    listed = rworld.cli("queue", "list", "--json")
    states = {json.loads(line)["id"]: json.loads(line)["state"] for line in listed.stdout.splitlines()}
    assert states[entry["id"]] == "interrupted"


def test_turning_it_off_in_the_config_stops_the_server_and_starts_no_other(rworld):
    start_server(rworld)
    set_sendmail_keys(rworld, "resident = false")
    proc = rworld.send(make_message(subject="the last one it checks"), "-t")
    assert proc.returncode == 0, proc.stderr
    wait_for(lambda: server_pid() is None, what="the server to stop")
    wait_for(lambda: not servers_started(rworld.config_path), what="the server process to end")
    proc = rworld.send(make_message(subject="checked alone"), "-t")
    assert proc.returncode == 0, proc.stderr
    assert entry_by_subject("checked alone")["checker"] == "process"
    assert servers_started(rworld.config_path) == [], "sendmail started no server for the next mail"
    assert server_pid() is None


def test_an_idle_server_stops_by_itself(rworld):
    set_sendmail_keys(rworld, "resident_idle = 1")
    pid = start_server(rworld)
    wait_for(lambda: server_pid() is None, what="the idle server to stop")
    assert resident.running_server(state_dir() / resident.PID_FILE) != pid


def test_sigterm_between_mails_stops_it_cleanly(rworld):
    start_server(rworld)
    assert resident.stop_servers(str(rworld.config_path), timeout=20)
    assert not (state_dir() / resident.PID_FILE).exists()
    proc = rworld.send(make_message(subject="after the stop"), "-t")
    assert proc.returncode == 0 and entry_by_subject("after the stop")["checker"] == "process"


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_another_user_cannot_reach_our_server(rworld):
    """It used to listen on an abstract socket anyone could see, bind first, or fill."""
    start_server(rworld)
    where = resident.socket_path(str(rworld.config_path))
    assert os.path.exists(where)
    directory = os.stat(os.path.dirname(where))
    assert directory.st_uid == os.getuid() and directory.st_mode & 0o777 == 0o700
    code = (  # through the directory's descriptor, as the client does: the path may be too long
        "import _socket, os\n"
        "s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)\n"
        f"try:\n    fd = os.open({os.path.dirname(where)!r}, os.O_PATH)\n"
        f"    s.connect('/proc/self/fd/%d/{os.path.basename(where)}' % fd)\n    print('connected')\n"
        "except PermissionError:\n    print('refused')\n"
    )
    python = "/usr/bin/python3"  # our venv's Python may live where nobody can read it (/root)
    if not os.access(python, os.X_OK):
        pytest.skip("no system python3 to run as another user")
    proc = subprocess.run(
        [python, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        user=65534,
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "refused"
    assert server_pid() is not None  # and it still serves us
    ok = rworld.send(make_message(subject="still ours"), "-t")
    assert ok.returncode == 0 and entry_by_subject("still ours")["checker"] == "resident"


def test_a_stuck_server_does_not_stall_mail(rworld):
    """A listener on our socket that never answers (a server hung in a check): connect gives up
    after a moment and the mail is checked in the caller's process."""
    import socket

    where = resident.socket_path(str(rworld.config_path))
    os.makedirs(os.path.dirname(where), mode=0o700, exist_ok=True)
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    resident.at_path(stuck, where, "bind")
    stuck.listen(0)
    fillers = []
    try:
        for _ in range(4):  # fill its backlog: the next connect would block for ever
            filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                resident.at_path(filler, where, "connect")
            except BlockingIOError:
                filler.close()
                break
            fillers.append(filler)
        # Without the client's connect timeout this would block for ever; send gives up at 60 s.
        proc = rworld.send(make_message(subject="not stalled"), "-t", timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert entry_by_subject("not stalled")["checker"] == "process"
    finally:
        for filler in fillers:
            filler.close()
        stuck.close()
        os.unlink(where)


def test_each_config_and_home_has_its_own_server(monkeypatch, tmp_path):
    base = resident.socket_path(str(tmp_path / "a.toml"))
    assert os.path.basename(base).startswith("resident-") and base.endswith(".sock")
    assert resident.socket_path(str(tmp_path / "b.toml")) != base
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "elsewhere"))
    assert resident.socket_path(str(tmp_path / "a.toml")) != base


def test_the_socket_lives_in_a_private_runtime_dir_or_else_the_state_dir(monkeypatch, tmp_path):
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert resident.runtime_dir() == str(run / "sendguard")
    run.chmod(0o755)  # not private: someone else could reach in
    assert resident.runtime_dir() == str(tmp_path / "data" / "sendguard")


def test_a_changed_source_file_makes_the_server_stale(tmp_path, monkeypatch):
    from sendguard.sendpath.server import _Stamp

    source = tmp_path / "module.py"
    source.write_text("x = 1\n")
    stamp = _Stamp()
    stamp.files[str(source)] = os.stat(source).st_mtime_ns
    assert not stamp.changed()
    os.utime(source, ns=(0, os.stat(source).st_mtime_ns + 1_000_000))
    assert stamp.changed()


def test_a_module_first_imported_by_a_request_and_changed_since_makes_the_server_stale(tmp_path, monkeypatch):
    """The send path's own modules (its messages, the delivery) were imported by the first
    request, after the stamp: an upgrade that changed only them went unnoticed, and the old
    code answered every mail for as long as mail kept coming."""
    import sys
    import time
    import types

    from sendguard.sendpath.server import _Stamp

    source = tmp_path / "late.py"
    source.write_text("x = 1\n")
    os.utime(source, ns=(0, time.time_ns() - 1_000_000_000))  # as it was when the server started
    stamp = _Stamp()
    late = types.ModuleType("sendguard._late_for_test")
    late.__file__ = str(source)
    monkeypatch.setitem(sys.modules, late.__name__, late)
    assert not stamp.changed()
    os.utime(source, ns=(0, time.time_ns() + 1_000_000_000))  # upgraded since
    assert stamp.changed()


def test_the_warm_up_loads_the_send_path_so_its_stamp_covers_it(tmp_path):
    """Run as the server runs (python -m: the module is __main__, under no sendguard name). The
    edit measure is loaded too, though the warm-up's own mail has no near address to measure."""
    from sendguard.sendpath import server

    code = (
        "import runpy, sys; "
        f"s = runpy.run_path({server.__file__!r}, run_name='__sendguard_server__'); "
        "s['_warm_up'](None); files = s['_Stamp']().files; "
        "print(*(any(p.endswith(end) for p in files) for end in "
        "('sendguard/sendpath/path.py', 'sendguard/printable.py', 'sendguard/sendpath/server.py')), "
        "'rapidfuzz.distance.Levenshtein' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["True", "True", "True", "True"], out.stderr


@pytest.mark.slow
def test_git_send_email_series_through_the_resident_checker(rworld, tmp_path):
    from tests.support.mua import HOLD_EXTERNAL, git_repo, git_send_email

    files = {"a.txt": "one\n", "b.txt": "two\n", "c.txt": "three\n"}
    repo, env = git_repo(rworld, tmp_path, files, hook=False)
    env.pop("SENDGUARD_RESIDENT", None)
    first = git_send_email(repo, env, 3, "--to=anna@kundenfirma.example", "--suppress-cc=self")
    assert first.returncode == 0, first.stderr
    wait_for(lambda: resident.running_server(state_dir() / resident.PID_FILE), what="the server")
    earlier = {e["id"] for e in entries()}
    second = git_send_email(repo, env, 3, "--to=anna@kundenfirma.example", "--suppress-cc=self")
    assert second.returncode == 0, second.stderr
    assert len(rworld.server.received) == 6
    assert [e["checker"] for e in entries() if e["id"] not in earlier] == ["resident"] * 3
    assert all(e["state"] == "delivered" for e in entries())

    rworld.config_path.write_text(rworld.config_path.read_text() + HOLD_EXTERNAL)
    held = git_send_email(repo, env, 3, "--to=anna@kundenfirma.example", "--suppress-cc=self")
    assert held.returncode != 0
    assert "HELD" in held.stderr  # the server wrote it on git's stderr
    assert len(rworld.server.received) == 6
    assert [e["checker"] for e in entries() if e["state"] == "held"] == ["resident"]


@pytest.mark.slow
@pytest.mark.parametrize("program", ["mutt", "neomutt"])
def test_mutt_through_the_resident_checker(rworld, tmp_path, program):
    from tests.support.mua import run_mutt

    def send(subject: str, to: str = "anna@kundenfirma.example", body: str = "Hello Anna,\n\nok.\n"):  # type: ignore[no-untyped-def]
        return run_mutt(program, rworld, tmp_path / "home", to, subject, body)

    assert send("first by mutt").returncode == 0
    wait_for(lambda: resident.running_server(state_dir() / resident.PID_FILE), what="the server")
    assert send("second by mutt").returncode == 0
    assert entry_by_subject("second by mutt")["checker"] == "resident"
    held = send("to the lookalike", to="anna@kundenfirrna.example", body="Hello Anna,\n\nthe Falke budget.\n")
    assert held.returncode != 0
    assert entry_by_subject("to the lookalike")["state"] == "held"
    assert len(rworld.server.received) == 2


def test_doctor_says_whether_the_resident_checker_runs(rworld):
    before = rworld.cli("doctor")
    assert "resident checker" in before.stdout and "not running now" in before.stdout
    pid = start_server(rworld)
    after = rworld.cli("doctor")
    assert f"running (pid {pid})" in after.stdout


def test_the_transport_runs_in_the_callers_environment_and_directory(rworld, tmp_path):
    """msmtp's passwordeval needs the caller's GPG agent and DISPLAY: the server, started by an
    earlier mail, must run the transport with this caller's environment, also after the undo
    window (the delayed worker it starts)."""
    start_server(rworld)
    seen = tmp_path / "seen"
    seen.mkdir()
    text = use_transport(
        rworld,
        tmp_path / "recording-transport",
        f'cat >/dev/null\necho "$CALLER_MARK $(pwd)" > "{seen}/$CALLER_MARK"\n',
    )
    workdir = tmp_path / "caller's dir"
    workdir.mkdir()

    def send(mark: str, subject: str) -> None:
        env = rworld.env() | {"CALLER_MARK": mark}
        proc = subprocess.run(
            [rworld.sendmail, "-t"],
            input=make_message(subject=subject),
            env=env,
            cwd=workdir,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr

    send("now", "right away")
    assert entry_by_subject("right away")["checker"] == "resident"
    assert (seen / "now").read_text() == f"now {workdir}\n"

    rworld.config_path.write_text(text + "\n[delay]\nseconds = 1\n")
    send("later", "after the window")
    assert entry_by_subject("after the window")["checker"] == "resident"
    assert wait_for(lambda: (seen / "later").exists(), what="the delayed delivery")
    assert (seen / "later").read_text().startswith("later ")


def test_mail_sent_at_the_same_time_is_all_delivered_once(rworld):
    from concurrent.futures import ThreadPoolExecutor

    start_server(rworld)
    messages = [make_message(subject=f"burst {n}", body=f"Hello Anna,\n\npart {n}.\n") for n in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda m: rworld.send(m, "-t"), messages))
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    for n in range(8):
        assert len([m for m in rworld.server.received if f"Subject: burst {n}\r\n".encode() in m.data]) == 1
        assert entry_by_subject(f"burst {n}")["state"] == "delivered"


def test_a_sendguard_directory_where_the_mail_is_sent_from_is_not_run(rworld, tmp_path):
    """git send-email runs in a repository; a sendguard/ there (a checkout of this project, or
    anyone's code) must not become the resident checker — `python -m` would put it first."""
    workdir = tmp_path / "repo"
    (workdir / "sendguard").mkdir(parents=True)
    (workdir / "sendguard" / "__init__.py").write_text("raise SystemExit('the wrong sendguard')\n")
    (workdir / "sendguard" / "resident_server.py").write_text("")

    def send(subject: str) -> None:
        proc = subprocess.run(
            [rworld.sendmail, "-t"],
            input=make_message(subject=subject),
            env=rworld.env(),
            cwd=workdir,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr

    send("from a repository")
    wait_for(server_pid, what="the installed resident checker to start")
    send("again from it")
    assert entry_by_subject("again from it")["checker"] == "resident"


def test_a_hold_is_notified_on_the_callers_desktop(rworld, tmp_path):
    """aerc throws stderr away: a held mail is also a desktop notification, shown in the
    session of the program that sent it, not of the one that started the server. A fake
    notify-send records its argv (no notification daemon can run here)."""
    start_server(rworld)  # started from an environment without a desktop
    rworld.config_path.write_text(rworld.config_path.read_text().replace("notify = false", "notify = true"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shown = tmp_path / "shown"
    fake = bin_dir / "notify-send"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$DISPLAY" "$@" > "{shown}"\n')
    fake.chmod(0o755)
    env = rworld.env() | {"DISPLAY": ":42", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    held = subprocess.run(
        [rworld.sendmail, "-t"],
        input=make_message(to="anna@kundenfirrna.example", subject="to the lookalike"),
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert held.returncode == 75, held.stderr
    assert entry_by_subject("to the lookalike")["checker"] == "resident"
    lines = wait_for(lambda: shown.exists() and shown.read_text().splitlines(), what="the notification")
    assert lines[0] == ":42"
    assert "sendguard held a message to anna@kundenfirrna.example" in lines


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_a_big_mail_is_held_once_by_the_server(rworld, tmp_path):
    # It held two copies: the chunks it received and their join, the check's parsed view kept
    # alive by a reference cycle until the garbage collector ran, then a blank test that
    # stripped (copied) the whole message; and delivery read the kept file whole beside it.
    import base64

    use_transport(rworld, tmp_path / "sink", "cat > /dev/null\n")
    pid = start_server(rworld)
    head = make_message(subject="the big one").split(b"MIME-Version: 1.0\n")[0]
    raw = (
        head + b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\n\nsee attached\n--b\n'
        b"Content-Type: application/pdf; name=r.pdf\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(b"%PDF-1.4\n" + os.urandom(36_000_000))
        + b"--b--\n"
    )
    before = _status_kb(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    proc = rworld.send(raw, "-t", timeout=120)
    assert proc.returncode == 0, proc.stderr
    wait_for(lambda: entry_by_subject("the big one")["state"] == "delivered", what="the delivery")
    rworld.send(make_message(subject="after the big one"), "-t")  # its observers have run by now
    assert entry_by_subject("after the big one")["checker"] == "resident"
    ratio = (_status_kb(pid, "VmHWM") - before) * 1024 / len(raw)
    assert ratio < 1.5, f"the server peaked at {ratio:.2f} times the message"


def test_mail_delivered_through_the_server_refits_the_judgement_once_mail_stops(rworld, tmp_path):
    from sendguard.decide import train
    from sendguard.history.store import open_read_only
    from tests.support import history_fixtures as hf

    def fitted_on() -> int:
        stored = open_read_only(state_dir()).judgement()
        return int(json.loads(stored)["report"]["sent"]) if stored else -1

    mail = [make_message(to=f"kollege{n}@nordwerk.example", subject=f"Plan {n}") for n in range(3)]
    assert rworld.cli("learn", str(hf.write_maildir(tmp_path / "Sent", mail))).returncode == 0
    before = fitted_on()
    start_server(rworld)
    for n in range(train.STALE_MIN):
        to = f"kollege{n % 3}@nordwerk.example"
        sent = rworld.send(make_message(to=to, subject=f"Woche {n}"), "--", to)
        assert sent.returncode == 0, sent.stderr
    assert {e["checker"] for e in entries() if e["subject"].startswith("Woche")} == {"resident"}
    # the server refits once no mail has come for a moment, not before the next mail
    assert wait_for(lambda: fitted_on() > before, what="the refit") and fitted_on() == before + train.STALE_MIN + 1
