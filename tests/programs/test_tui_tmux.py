"""The real program in a real terminal: mail held by the real send path, released from
``sendguard review`` running in tmux, delivered through msmtp to the test SMTP server."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from tests.conftest import make_message
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow


def wait_for(predicate, timeout: float = 20.0) -> bool:
    return bool(wait_until(predicate, timeout, 0.1))


def test_review_in_tmux_releases_a_held_message(world, tmp_path):
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    world.write_config('\n[rules.external-recipient]\naction = "hold"\n')
    sent = world.send(
        make_message(to="anna@kundenfirma.example", subject="[bold]Falke[/] status"), "anna@kundenfirma.example"
    )
    assert sent.returncode == 75, sent.stderr  # held by the real send path
    assert world.server.received == []

    socket = tmp_path / "tmux.sock"  # a private tmux server: our environment, nobody else's sessions
    tmux = ["tmux", "-S", str(socket)]
    env = world.env()
    env.pop("TMUX", None)
    inner = " ".join(shlex.quote(a) for a in [world.sendguard, "--config", str(world.config_path), "review"])
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "review", "-x", "80", "-y", "24", f"{inner}; echo EXITED $?; sleep 30"],
        env=env,
        check=True,
    )

    def screen() -> str:
        return subprocess.run(
            [*tmux, "capture-pane", "-p", "-t", "review"], env=env, capture_output=True, text=True, check=False
        ).stdout

    try:
        assert wait_for(lambda: "1 need you" in screen()), screen()
        assert wait_for(lambda: "[bold]Falke[/] status" in screen()), screen()  # text, not markup
        subprocess.run([*tmux, "send-keys", "-t", "review", "r"], env=env, check=True)
        assert wait_for(lambda: "Send this message now?" in screen()), screen()
        subprocess.run([*tmux, "send-keys", "-t", "review", "y"], env=env, check=True)
        assert wait_for(lambda: len(world.server.received) == 1), screen()
        assert world.server.received[0].rcpt_tos == ["anna@kundenfirma.example"]
        assert wait_for(lambda: "delivered" in screen()), screen()
        subprocess.run([*tmux, "send-keys", "-t", "review", "q"], env=env, check=True)
        assert wait_for(lambda: "EXITED 0" in screen()), screen()
        assert "Traceback" not in screen()
    finally:
        subprocess.run([*tmux, "kill-server"], env=env, check=False, capture_output=True)
    listed = world.cli("queue", "list", "--json", "--all")
    assert '"state": "delivered"' in listed.stdout
