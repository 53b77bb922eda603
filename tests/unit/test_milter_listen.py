"""A socket the milter cannot listen on is one clear error before libmilter sees it
(sendguard.milter.spec.check_listen): libmilter says only "cannot opensocket", and would take
a running milter's unix socket away."""

from __future__ import annotations

import socket
import subprocess

import pytest

from sendguard.milter.spec import ListenError, check_listen
from tests.conftest import sendguard_exe


def test_a_socket_in_a_missing_directory_names_the_directory(tmp_path):
    with pytest.raises(ListenError, match=r"cannot listen on unix:.*/none/m.sock: .*/none is not a directory"):
        check_listen(f"unix:{tmp_path / 'none' / 'm.sock'}")


def test_a_running_milters_socket_is_left_to_it(tmp_path):
    path = tmp_path / "m.sock"
    with socket.socket(socket.AF_UNIX) as live:
        live.bind(str(path))
        live.listen()
        with pytest.raises(ListenError, match="a process already listens there") as refused:
            check_listen(f"unix:{path}")
        assert "stop it first" in refused.value.details()[1]
    assert path.exists(), "not removed"


def test_a_socket_nobody_listens_on_any_more_may_be_taken_over(tmp_path):
    path = tmp_path / "m.sock"
    with socket.socket(socket.AF_UNIX) as gone:
        gone.bind(str(path))  # a milter killed: its socket file stays
    check_listen(f"unix:{path}")


def test_a_file_that_is_no_socket_is_not_taken_for_one(tmp_path):
    (tmp_path / "m.sock").write_text("notes")
    with pytest.raises(ListenError, match="is there and is not a socket"):
        check_listen(f"unix:{tmp_path / 'm.sock'}")


def test_a_port_another_process_listens_on_says_so():
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError, match=f"cannot listen on inet:{port}@127.0.0.1: Address already in use"):
            check_listen(f"inet:{port}@127.0.0.1")
    check_listen(f"inet:{port}@127.0.0.1")  # free again


def test_the_milter_command_refuses_with_one_error_and_exit_73(tmp_path):
    config = tmp_path / "sendguard.toml"
    config.write_text('[log]\nnotmuch = false\n\n[milter]\npostfix_config = "/nonexistent"\n')
    proc = subprocess.run(
        [sendguard_exe(), "--config", str(config), "milter", "--listen", f"unix:{tmp_path / 'none' / 'm.sock'}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 73 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("sendguard: error: cannot listen on unix:"), proc.stderr
