"""Mail programs that submit over SMTP to a team's Postfix with ``sendguard milter`` in front.

The real mutt (``smtp_url``) and aerc (``outgoing = smtp+none://``), in tmux on an 80-column
terminal, and git send-email (``--smtp-server``) talk to Debian's Postfix on loopback
(tests/support/postfix.py); what the user sees is read off the screen or git's stderr, what
left off the relay behind Postfix.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sendguard.act.queue import Queue
from tests.support.mua import HOLD_EXTERNAL, aerc_home, need, unix, write_editor
from tests.support.postfix import Team
from tests.support.terminal import Terminal
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow

BODY = "Hello Anna,\n\nthe Falke rollout is on track.\n\nRegards\nMe\n"
WAY_OUT = "Held; send again within 10 min to send anyway."


def _mutt_home(root: Path, port: int) -> tuple[Path, dict[str, str]]:
    """A muttrc that submits to Postfix on ``port``, an editor that writes the body."""
    import os

    root.mkdir()
    editor = write_editor(root / "editor.sh", BODY)
    for sub in ("cur", "new", "tmp"):
        (root / "Mail" / "inbox" / sub).mkdir(parents=True)
    rc = root / "muttrc"
    rc.write_text(
        f'set smtp_url="smtp://127.0.0.1:{port}/" ssl_starttls=no ssl_force_tls=no\n'
        'set realname="Me" from="me@nordwerk.example" use_from=yes record="" copy=no\n'
        f'set editor="{editor}" mbox_type=Maildir folder="{root / "Mail"}" spoolfile="{root / "Mail" / "inbox"}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENDGUARD", "TMUX"))}
    env.update(HOME=str(root), TERM="xterm-256color")
    return rc, env


def test_mutt_shows_the_way_out_keeps_the_message_and_sending_again_sends_it(tmp_path, smtp_server):
    """A message with an attachment: mutt draws a new MIME boundary and Date on every attempt."""
    exe = need("mutt")
    with Team(tmp_path, smtp_server, extra=HOLD_EXTERNAL) as team:
        rc, env = _mutt_home(tmp_path / "home", team.postfix.port)
        report = tmp_path / "report.txt"
        report.write_text("quarterly numbers\n")
        with Terminal(env, "smtp-mutt", width=80, height=30) as term:
            term.start(f"{exe} -F {rc} -s 'Falke offer' -a {report} -- anna@kundenfirma.example")
            term.wait_for("To: anna@kundenfirma.example")
            term.keys("Enter")
            term.wait_for("Subject: Falke offer")
            term.keys("Enter")
            term.wait_for("-- Mutt: Compose")
            term.keys("y")
            screen = term.wait_for("SMTP session failed")
            # the last line mutt shows, cut at 80 columns: what happened and the way out
            error = [line for line in screen.splitlines() if "SMTP session failed" in line][0]
            assert error.startswith(f"SMTP session failed: 550 5.7.1 {WAY_OUT}"), screen
            # the message is still in the compose menu, attachment and all; nothing left
            assert "-- Mutt: Compose" in screen and "Atts: 2]" in screen, screen
            assert team.mail() == []
            term.keys("y")
            term.wait_for("EXIT=0")
        (got,) = team.sent(1)
        assert got.rcpt_tos == ["anna@kundenfirma.example"]
        data = unix(got.data)
        assert b"X-Sendguard: confirmed by the sender (external-recipient)" in data
        assert b'filename="report.txt"' in data and b"quarterly numbers" in data
        # the resend confirmed the copy held the first time; it was not held again
        (held,) = Queue(team.state / "queue").entries()
        assert held.state == "confirmed"


def test_aerc_shows_the_way_out_for_a_while_and_sending_again_sends_it(tmp_path, smtp_server):
    """aerc 0.14 with ``outgoing = smtp+none://``: the composer reopens, the status line shows
    the reply (its lines joined) until it times out; aerc repaints only on input."""
    import os

    import tests.support.wait as wait

    exe = need("aerc")
    with Team(tmp_path, smtp_server, extra=HOLD_EXTERNAL) as team:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SENDGUARD", "TMUX"))}
        env.update(aerc_home(tmp_path / "aerc", f"smtp+none://127.0.0.1:{team.postfix.port}"))
        with Terminal(env, "smtp-aerc", width=80, height=30) as term:
            width = [80]

            def repainted() -> str:
                width[0] = 161 - width[0]  # a resize is input: aerc repaints
                term.resize(width[0], 30)
                return term.screen()

            def shows(text: str) -> bool:
                return text in repainted()

            term.start(f"{exe} 'mailto:anna@kundenfirma.example?subject=Falke%20status'")
            assert wait.wait_until(lambda: shows("Send this email?") and shows("Connected"), 30, 0.3)
            term.keys("y")
            assert wait.wait_until(lambda: shows(WAY_OUT), 30, 0.3), repainted()
            screen = repainted()
            assert "Send this email?" in screen  # the composer is back, the message in it
            assert team.mail() == []
            term.keys("y")
            assert wait.wait_until(lambda: shows("Message sent."), 30, 0.3), repainted()
        (got,) = team.sent(1)
        assert b"X-Sendguard: confirmed by the sender (external-recipient)" in got.data


def _need_send_email() -> None:
    need("git")
    libexec = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=False).stdout.strip()
    if not (Path(libexec) / "git-send-email").exists():
        pytest.skip("git send-email is not installed (apt-get install git-email)")


def _repo(root: Path, files: list[str]) -> tuple[Path, dict[str, str]]:
    """A throwaway repository with one commit per file, git's config and HOME its own."""
    import os

    need("git")
    repo = root / "repo"
    repo.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENDGUARD", "GIT_"))}
    env.update(HOME=str(root), GIT_CONFIG_NOSYSTEM="1")
    for args in (["init", "-q"], ["config", "user.name", "Me"], ["config", "user.email", "me@nordwerk.example"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, timeout=60)
    for name in files:
        (repo / name).write_text(f"Falke {name}\n")
        for args in (["add", name], ["commit", "-q", "-m", f"Add {name}"]):
            subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, timeout=60)
    return repo, env


def _send_email(repo: Path, env: dict[str, str], port: int, count: int, to: str) -> subprocess.CompletedProcess[str]:
    """format-patch the last ``count`` commits and send them over SMTP, as a user would."""
    out = repo.parent / f"patches-{len(list(repo.parent.glob('patches-*')))}"
    subprocess.run(
        ["git", "format-patch", "-q", f"-{count}", "-o", str(out)],
        cwd=repo, env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    argv = ["git", "send-email", "--confirm=never", "--smtp-server=127.0.0.1", f"--smtp-server-port={port}"]
    return subprocess.run(
        [*argv, f"--to={to}", *sorted(str(p) for p in out.glob("*.patch"))],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_git_send_email_sees_the_way_out_and_sending_the_series_again_sends_all_of_it(tmp_path, smtp_server):
    _need_send_email()
    with Team(tmp_path, smtp_server, extra=HOLD_EXTERNAL) as team:
        repo, env = _repo(tmp_path / "git", ["a.txt", "b.txt", "c.txt"])
        first = _send_email(repo, env, team.postfix.port, 3, "anna@kundenfirma.example")
        assert first.returncode != 0
        (line,) = [line for line in first.stderr.splitlines() if "5.7.1" in line]
        assert line.startswith(f"5.7.1 {WAY_OUT} anna@kundenfirma.example is client kundenfirma. (sendguard ")
        assert "Result: 250" not in first.stdout and team.mail() == []
        # the same command again: new Message-IDs, each patch threaded to the new first one
        again = _send_email(repo, env, team.postfix.port, 3, "anna@kundenfirma.example")
        assert again.returncode == 0, again.stderr
        assert again.stdout.count("Result: 250") == 3
        got = team.sent(3)
        subjects = sorted(m.data.split(b"Subject: ", 1)[1].split(b"\n", 1)[0].strip() for m in got)
        assert subjects == [f"[PATCH {n}/3] Add {c}.txt".encode() for n, c in ((1, "a"), (2, "b"), (3, "c"))]
        headers = sorted(m.data.split(b"X-Sendguard: ", 1)[1].split(b"\n", 1)[0].strip() for m in got)
        assert (
            headers
            == [b"confirmed by the sender (external-recipient)"]
            + [b"in a series the sender confirmed (external-recipient)"] * 2
        )
        # a third run is a new message: held again, nothing sent twice
        third = _send_email(repo, env, team.postfix.port, 3, "anna@kundenfirma.example")
        assert third.returncode != 0 and WAY_OUT in third.stderr
        assert len(team.mail()) == 3


def test_git_send_email_a_warning_and_a_pass_look_like_any_sent_mail(tmp_path, smtp_server):
    _need_send_email()
    with Team(tmp_path, smtp_server, extra='[rules.external-recipient]\naction = "warn"\n') as team:
        repo, env = _repo(tmp_path / "git", ["a.txt"])
        warned = _send_email(repo, env, team.postfix.port, 1, "anna@kundenfirma.example")
        assert warned.returncode == 0 and "Result: 250" in warned.stdout, warned.stderr
        assert "sendguard" not in (warned.stdout + warned.stderr).lower()  # the sender is told nothing
        (got,) = team.delivered(1)
        assert b"\nX-Sendguard: warn: external-recipient\n" in unix(got.data)
        passed = _send_email(repo, env, team.postfix.port, 1, "kollege@nordwerk.example")
        assert passed.returncode == 0 and "Result: 250" in passed.stdout, passed.stderr
        got = [m for m in team.delivered(2) if "kollege@nordwerk.example" in m.rcpt_tos]
        assert len(got) == 1 and b"X-Sendguard" not in got[0].data


def _sessions_ended(team: Team) -> int:
    """How many SMTP sessions that gave Postfix a sender have ended (its maillog's disconnects)."""
    return sum(" disconnect from " in line and " mail=1 " in line for line in team.postfix.log().splitlines())


def _message_line(screen: str, status: str = "-- NeoMutt: Compose") -> str:
    """The line below neomutt's status bar: where it shows its messages and errors."""
    lines = screen.splitlines()
    at = next((i for i, line in enumerate(lines) if status in line), len(lines))
    return lines[at + 1] if at + 1 < len(lines) else ""


def _deliver(notice: object, maildir: Path) -> None:
    """Put a notice from the relay into the sender's mailbox, as their mail server would."""
    import uuid

    data = unix(notice.data)  # type: ignore[attr-defined]
    name = f"{uuid.uuid4().hex}.sendguard-test"
    (maildir / "tmp" / name).write_bytes(data)
    (maildir / "tmp" / name).rename(maildir / "new" / name)


def test_neomutt_shows_no_550_so_the_hold_and_the_blind_resend_reach_its_index(tmp_path, smtp_server):
    """neomutt 20220429 shows nothing when the server answers 550: the compose menu simply comes
    back, and a second `y` confirms a hold its user never saw. The notice mails are what they see."""
    exe = need("neomutt")
    with Team(tmp_path, smtp_server, extra=HOLD_EXTERNAL) as team:
        rc, env = _mutt_home(tmp_path / "home", team.postfix.port)
        inbox = tmp_path / "home" / "Mail" / "inbox"
        with rc.open("a") as f:  # look at the mailbox every second, as a user's would in time
            f.write("set mail_check=1 timeout=1 sort=date\n")
        with Terminal(env, "smtp-neomutt", width=100, height=30) as term:
            term.start(f"{exe} -n -F {rc}")
            term.wait_for("NeoMutt")
            term.keys("m")
            term.wait_for("To: ")
            term.keys("anna@kundenfirma.example", "Enter")
            term.wait_for("Subject: ")
            term.keys("Falke offer", "Enter")
            term.wait_for("-- NeoMutt: Compose")
            term.keys("y")
            (held,) = team.notices(1)  # the 550 was answered
            # the compose menu never left the screen: what says neomutt is back in it, the second
            # `y` read there, is its first SMTP session over (Postfix logs the disconnect) and its
            # message line no longer saying it is sending
            assert wait_until(lambda: _sessions_ended(team) == 1, 30), team.postfix.log()
            term.wait_for("-- NeoMutt: Compose")
            assert wait_until(lambda: "Sending" not in _message_line(term.screen()), 30), term.screen()
            screen = term.screen()
            # neomutt showed nothing; the name of its temporary file, random digits that may
            # hold "550", is left out
            shown = re.sub(r"\S*neomutt-\S*", "", screen)
            assert "550" not in shown and "Held" not in shown, screen
            assert team.mail() == []
            _deliver(held, inbox)
            term.keys("y")  # again, blindly: this confirms the hold
            (sent,) = team.notices(1, "Sent anyway after a hold")
            _deliver(sent, inbox)
            screen = term.wait_for("Sent anyway after a hold: Falke offer")
            assert "Held, not sent: Falke offer" in screen, screen
        (got,) = team.sent(1)
        assert got.rcpt_tos == ["anna@kundenfirma.example"]
        assert len(team.notices(subject="Held, not sent")) == 1
