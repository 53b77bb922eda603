"""Helpers for the mail-program matrix (tests/test_mua_*.py): drive the real programs.

Each helper runs the real mail program with its own HOME and config pointing at the world's
``sendguard-sendmail`` by absolute path, with ``SENDGUARD_CONFIG`` in the environment, exactly as
a user's setup would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import wait

HOLD_EXTERNAL = '[rules.external-recipient]\naction = "hold"\n'
"""Config extra that holds every mail to outside the organization: a deterministic hold."""


def need(program: str) -> str:
    path = shutil.which(program)
    if not path:
        pytest.skip(f"{program} is not installed (apt-get install {program})")
    return path


def unix(data: bytes) -> bytes:
    """SMTP's CRLF aside."""
    return data.replace(b"\r\n", b"\n")


def queue_rows(world) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    proc = world.cli("queue", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def held_row(world) -> dict:  # type: ignore[no-untyped-def,type-arg]
    rows = [r for r in queue_rows(world) if r["state"] == "held"]
    assert len(rows) == 1, rows
    return rows[0]


def header_names(data: bytes) -> list[str]:
    head = unix(data).split(b"\n\n", 1)[0]
    return [line.split(b":", 1)[0].decode().lower() for line in head.split(b"\n") if line and line[:1] not in b" \t"]


def write_editor(path: Path, body: str = "Hello Anna,\n\nthe Falke rollout is on track.\n") -> Path:
    """An editor for the mail programs: appends ``body`` to the file, then dates the file 2000.

    mutt and neomutt tell an edit from none by the file's time in whole seconds, read against
    their own clock: a write in the same tick as a second's turn read as no edit ("Aborted
    unmodified message") or as a change after the edit ("Attachment #1 modified. Update
    encoding?"). A date long past is an edit to both, and never later than the compose screen.
    """
    text = body.replace("\\", "\\\\").replace("'", "'\\''").replace("%", "%%").replace("\n", "\\n")
    path.write_text(f'#!/bin/sh\nprintf \'{text}\' >> "$1" && touch -d @946684800 "$1"\n')
    path.chmod(0o755)
    return path


def write_muttrc(world, home: Path) -> Path:  # type: ignore[no-untyped-def]
    """A muttrc as hooks/muttrc suggests, plus what batch mode in a test needs."""
    home.mkdir(exist_ok=True)
    rc = home / "muttrc"
    rc.write_text(
        f'set sendmail="{world.sendmail}"\n'
        'set record="" copy=no postpone=no\n'
        'set realname="Me" from="me@nordwerk.example" use_from=yes\n'
    )
    return rc


def mutt_sends_draft(world, home: Path, draft: Path | str, env: dict[str, str] | None = None) -> None:  # type: ignore[no-untyped-def]
    """mutt sends a draft file as it is (``-H``, batch mode) with write_muttrc's muttrc in
    ``home``, and succeeds; ``env``: the world's unless given, HOME always ``home``."""
    rc = write_muttrc(world, home)
    proc = subprocess.run(
        [need("mutt"), "-F", str(rc), "-H", str(draft)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env={**(world.env() if env is None else env), "HOME": str(home)},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def run_mutt(
    program: str,
    world,
    home: Path,
    to: str,
    subject: str,
    body: str,  # type: ignore[no-untyped-def]
    bcc: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Send one message with mutt or neomutt in batch mode (no terminal, body on stdin)."""
    exe = need(program)
    rc = write_muttrc(world, home)
    argv = [exe, *(["-n"] if program == "neomutt" else []), "-F", str(rc), "-s", subject]
    if bcc:
        argv += ["-b", bcc]
    argv += ["--", to]
    env = world.env()
    env["HOME"] = str(home)
    return subprocess.run(argv, input=body.encode(), capture_output=True, env=env, timeout=60, check=False)


HOOKS = Path(__file__).resolve().parents[2] / "hooks"


def git_repo(world, root: Path, files: dict[str, str], *, hook: bool = True) -> tuple[Path, dict[str, str]]:  # type: ignore[no-untyped-def]
    """A throwaway repository with one commit per file, sendemail set up as hooks/gitconfig says.

    Returns the repository and the environment to run git in (own HOME, SENDGUARD_CONFIG, SENDGUARD).
    """
    need("git")
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    repo = root / "repo"
    repo.mkdir()
    env = world.env()
    env.update(
        HOME=str(home),
        SENDGUARD=world.sendguard,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_DATE="2026-11-27T09:00:00Z",
        GIT_COMMITTER_DATE="2026-11-27T09:00:00Z",
    )

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, timeout=60)

    git("init", "-q")
    git("config", "user.name", "Me")
    git("config", "user.email", "me@nordwerk.example")
    git("config", "sendemail.sendmailCmd", world.sendmail)
    git("config", "sendemail.confirm", "never")
    for name, text in files.items():
        (repo / name).write_text(text)
        git("add", name)
        git("commit", "-q", "-m", f"Add {name}")
    if hook:
        target = repo / ".git" / "hooks" / "sendemail-validate"
        shutil.copy(HOOKS / "sendemail-validate", target)
        target.chmod(0o755)
    return repo, env


def git_send_email(repo: Path, env: dict[str, str], count: int, *args: str) -> subprocess.CompletedProcess[str]:
    """format-patch the last ``count`` commits and send them with git send-email."""
    out = repo / f"patches-{len(list(repo.glob('patches-*')))}"
    subprocess.run(
        ["git", "format-patch", "-q", f"-{count}", "-o", str(out)],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return subprocess.run(
        ["git", "send-email", *args, *sorted(str(p) for p in out.glob("*.patch"))],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def aerc_home(root: Path, outgoing: str) -> dict[str, str]:
    """An aerc home under ``root``: one account sending through ``outgoing`` (a sendmail command or
    an SMTP URL), an editor that writes the body; the environment that points aerc at it."""
    config = root / "config" / "aerc"
    config.mkdir(parents=True)
    for sub in ("cur", "new", "tmp"):
        (root / "mail" / "INBOX" / sub).mkdir(parents=True)
    accounts = config / "accounts.conf"
    accounts.write_text(
        f"[work]\nsource = maildir://{root / 'mail'}\noutgoing = {outgoing}\n"
        "from = Me <me@nordwerk.example>\ncopy-to =\n"
    )
    accounts.chmod(0o600)
    editor = write_editor(root / "editor.sh")
    (config / "aerc.conf").write_text(f"[compose]\neditor = {editor}\n")
    (root / "run").mkdir(mode=0o700)
    (root / "tmp").mkdir()  # aerc writes each draft under $TMPDIR: keep them in the test's directory
    return {
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_RUNTIME_DIR": str(root / "run"),
        "HOME": str(root),
        "TERM": "xterm-256color",
        "TMPDIR": str(root / "tmp"),
    }


class Aerc:
    """aerc 0.14 under a private tmux server: it needs a terminal, repaints only on input, and
    throws the sendmail program's stderr away (the status bar shows only ``exit status N``)."""

    def __init__(self, world, root: Path, extra_env: dict[str, str] | None = None) -> None:  # type: ignore[no-untyped-def]
        need("aerc")
        self.tmux = need("tmux")
        self.socket = f"sendguard-test-{root.name}-{os.getpid()}-{id(self)}"
        self.env = world.env()
        self.env.update(aerc_home(root, world.sendmail))
        self.env.update(extra_env or {})
        self.width = 160

    def _tmux(self, *args: str) -> str:
        proc = subprocess.run(
            [self.tmux, "-L", self.socket, *args], env=self.env, capture_output=True, text=True, timeout=30, check=False
        )
        return proc.stdout

    def screen(self) -> str:
        self.width = 321 - self.width  # aerc repaints only on input: a resize is input
        self._tmux("resize-window", "-x", str(self.width), "-y", "50")
        time.sleep(0.3)
        return self._tmux("capture-pane", "-p")

    def wait_for(self, text: str, timeout: float = 20) -> str:
        screens = [""]

        def shown() -> bool:
            screens[0] = self.screen()
            return text in screens[0]

        assert wait.wait_until(shown, timeout, 0.3), f"aerc never showed {text!r}; screen:\n{screens[0]}"
        return screens[0]

    def compose(self, mailto: str) -> None:
        self._tmux("new-session", "-d", "-x", str(self.width), "-y", "50", f"aerc '{mailto}'")
        self.wait_for("Send this email?")
        # keys pressed while the account is still connecting are lost: wait for it to settle
        self.wait_for("Connected")
        time.sleep(0.5)

    def send(self) -> None:
        self._tmux("send-keys", "y")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", *keys)

    def command(self, text: str) -> None:
        """An aerc command, typed as a person types it: ``:`` TEXT Enter."""
        self._tmux("send-keys", ":")
        self._tmux("send-keys", "-l", text)
        self._tmux("send-keys", "Enter")

    def close(self) -> None:
        self._tmux("kill-server")

    def __enter__(self) -> Aerc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until(predicate, timeout: float = 20) -> bool:  # type: ignore[no-untyped-def]
    return bool(wait.wait_until(predicate, timeout, 0.2))
