"""Every hold and every warning reaches the person where they look, in each mail program.

Each test runs the real program in a terminal (tmux) and reads its screen, as the README's table
was measured: mutt and neomutt show a failed delivery's output in a pager and nothing on
success; git send-email and mailx leave stderr on the terminal; aerc shows only ``exit status
N``, so there the reason goes to the notices (act/notices.py), a desktop notification and a
notice mail that aerc lists in its inbox, and the identical resend from the reopened composer
does not confirm what aerc never showed.

The mistake is the classic one: ``anna@kundenfirrna.example`` ("rn" for "m"), held as a lookalike
of the client's domain, with ``anna@kundenfirma.example`` as the suggestion.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from sendguard import paths
from sendguard.act import notices
from tests.support.isolated import notice_mailers
from tests.support.mua import Aerc, held_row, need, queue_rows, wait_until, write_editor, write_muttrc
from tests.support.terminal import Terminal

pytestmark = pytest.mark.slow

WRONG = "anna@kundenfirrna.example"
MEANT = "anna@kundenfirma.example"
LOOKALIKE_WARNS = '[rules.lookalike-domain]\naction = "warn"\n'


def unseen() -> list[dict]:  # type: ignore[type-arg]
    path = paths.state_dir() / notices.FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def mutt_home(world, root: Path) -> tuple[Path, dict[str, str]]:  # type: ignore[no-untyped-def]
    """A HOME with a muttrc for interactive use: an editor that writes the body, a maildir."""
    home = root / "home"
    rc = write_muttrc(world, home)
    editor = write_editor(root / "editor.sh")
    for sub in ("cur", "new", "tmp"):
        (home / "mail" / "INBOX" / sub).mkdir(parents=True)
    with rc.open("a") as out:
        out.write(
            f'set editor="{editor}" edit_headers=no askcc=no askbcc=no\nset folder="{home}/mail" mbox_type=Maildir\n'
        )
    env = world.env() | {"HOME": str(home), "TERM": "xterm-256color"}
    return rc, env


def compose_in_mutt(term: Terminal, program: str, rc: Path, home: Path, to: str) -> None:
    term.start(f"{program} {'-n ' if program == 'neomutt' else ''}-F {rc} -f {home}/mail/INBOX")
    term.wait_for("m:Mail")
    term.keys("m")
    term.wait_for("To:")
    term.keys(to, "Enter")
    term.wait_for("Subject:")
    term.keys("Falke status", "Enter")
    term.wait_for("y:Send")
    term.keys("y")


@pytest.mark.parametrize("program", ["mutt", "neomutt"])
def test_mutt_shows_the_hold_its_reason_suggestion_and_way_out(program, world, tmp_path):
    need(program)
    rc, env = mutt_home(world, tmp_path)
    with Terminal(env, program) as term:
        compose_in_mutt(term, program, rc, tmp_path / "home", WRONG)
        screen = term.wait_for("Output of the delivery process")
        assert "HELD" in screen and "looks like client kundenfirma's domain" in screen
        assert f"Did you mean {MEANT}?" in screen
        row = held_row(world)
        assert f"sendguard release {row['id']}" in screen
        assert "send the identical message again" in screen, "mutt showed it: a resend may confirm"
        term.keys("q")
        assert "y:Send" in term.wait_for("y:Send"), "back in the composer, the message intact"
    assert world.server.received == []
    assert unseen() == [], "mutt showed the hold: no notice needed"


@pytest.mark.parametrize("program", ["mutt", "neomutt"])
def test_in_the_c_locale_mutt_shows_the_hold_without_octal_escapes(program, world, tmp_path):
    """No LANG (a fresh Debian account): mutt shows each byte above 127 as an octal escape, and
    the hold began "sendguard: HELD \\342\\200\\224 not sent."."""
    need(program)
    rc, env = mutt_home(world, tmp_path)
    env = {k: v for k, v in env.items() if k not in ("LANG", "LC_ALL", "LC_CTYPE", "LANGUAGE")}
    with Terminal(env, program) as term:
        compose_in_mutt(term, program, rc, tmp_path / "home", WRONG)
        screen = term.wait_for("Output of the delivery process")
        assert "sendguard: HELD - not sent." in screen and f"Did you mean {MEANT}?" in screen
        assert "\\3" not in screen, screen
    assert world.server.received == []


def test_a_warning_mutt_does_not_show_becomes_a_notice_shown_once(world, tmp_path):
    need("mutt")
    world.write_config(LOOKALIKE_WARNS)
    rc, env = mutt_home(world, tmp_path)
    with Terminal(env, "mutt-warn") as term:
        compose_in_mutt(term, "mutt", rc, tmp_path / "home", WRONG)
        assert wait_until(lambda: len(world.server.received) == 1)
        term.wait_for("Mail sent")  # all mutt says: the warning on stderr is thrown away
        assert "warning" not in term.screen()
    (notice,) = unseen()
    assert notice["kind"] == "warned" and WRONG in notice["title"]
    assert f"Did you mean {MEANT}?" in notice["body"]
    with Terminal(env, "mutt-next") as term:  # the next sendguard command on a terminal shows it
        term.start(f"{world.sendguard} --config {world.config_path} queue list")
        screen = term.wait_for("EXIT=")
        assert "notice you have not seen" in screen and f"Did you mean {MEANT}?" in screen
    assert unseen() == [], "shown once, then cleared"


@pytest.fixture
def desktop(tmp_path):
    """A notification recorder: a fake notify-send that writes its argv as JSON, one file a call."""
    bindir = tmp_path / "desktop-bin"
    bindir.mkdir()
    shown = tmp_path / "shown"
    shown.mkdir()
    recorder = bindir / "notify-send"
    recorder.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open(os.path.join({str(shown)!r}, str(os.getpid()) + '.json'), 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    recorder.chmod(0o755)
    return {"DISPLAY": ":77", "PATH": f"{bindir}:{os.environ['PATH']}"}, shown


def notifications(shown: Path) -> list[list[str]]:
    return [json.loads(p.read_text()) for p in sorted(shown.glob("*.json"))]


def test_aerc_shows_the_exit_status_the_reason_goes_to_a_notice_and_a_resend_does_not_confirm(world, tmp_path, desktop):
    env, shown = desktop
    world.config_path.write_text(world.config_path.read_text().replace("notify = false", "notify = true"))
    with Aerc(world, tmp_path / "aerc", extra_env=env) as aerc:
        aerc.compose(f"mailto:{WRONG}?subject=Falke%20status")
        aerc.send()
        aerc.wait_for("exit status 75")  # all aerc shows
        row = held_row(world)
        (notice,) = unseen()
        assert notice["kind"] == "held" and notice["id"] == row["id"]
        assert f"Did you mean {MEANT}?" in notice["body"]
        assert f"sendguard release {row['id']}  ·  sendguard review" in notice["body"]
        assert wait_until(lambda: len(notifications(shown)) == 1)
        argv = notifications(shown)[0]
        assert argv[argv.index("--") + 1] == f"sendguard held a message to {WRONG}"
        assert f"Did you mean {MEANT}?" in argv[-1]
        # the natural retry: y in the reopened composer. aerc never showed why: not a yes
        aerc.wait_for("Send this email?")
        aerc.send()
        assert wait_until(lambda: len(unseen()) == 2), aerc.screen()
        assert unseen()[1]["kind"] == "held-again", "says why y did not send it"
        aerc.wait_for("exit status 75")
    assert world.server.received == []
    assert [r["id"] for r in queue_rows(world)] == [row["id"]], "held once, not once per try"
    assert world.cli("release", row["id"]).returncode == 0  # the knowing yes
    assert len(world.server.received) == 1


def deliver_to_maildir(folder: Path, data: bytes) -> None:
    """What the person's provider does with mail to them: into the maildir aerc reads (tmp, then new)."""
    import uuid

    name = f"{uuid.uuid4().hex}.sendguard-test"
    (folder / "tmp" / name).write_bytes(data.replace(b"\r\n", b"\n"))
    os.rename(folder / "tmp" / name, folder / "new" / name)


def test_aerc_lists_the_hold_as_a_notice_mail_in_its_inbox_once(world, tmp_path):
    """aerc shows nothing sendguard writes, and a desktop may not exist (SSH): the notice mail
    reaches the inbox aerc lists. The resend from the reopened composer mails no second one."""
    world.config_path.write_text(world.config_path.read_text().replace("notice_mail = false", "notice_mail = true"))
    root = tmp_path / "aerc"
    with Aerc(world, root) as aerc:
        with (root / "config" / "aerc" / "aerc.conf").open("a") as conf:
            conf.write("[filters]\ntext/plain=colorize\n")  # as in the aerc.conf Debian ships
        aerc.compose(f"mailto:{WRONG}?subject=Falke%20status")
        aerc.send()
        aerc.wait_for("exit status 75")
        assert wait_until(lambda: len(world.server.received) == 1), "no notice mail arrived"
        (got,) = world.server.received
        assert got.rcpt_tos == ["me@nordwerk.example"]
        deliver_to_maildir(root / "mail" / "INBOX", got.data)
        aerc.keys("Escape")  # any key: the composer is back
        aerc.wait_for("Send this email?")
        aerc.command("prev-tab")  # the account's tab: its message list
        screen = aerc.wait_for("Held, not sent: Falke status", timeout=60)
        (line,) = [row for row in screen.splitlines() if "Held, not sent: Falke status" in row]
        assert "sendguard" in line, line
        (row,) = queue_rows(world)
        screen = open_in_aerc(aerc, f"sendguard release {row['id']}")  # the reason, suggestion, id, way out
        assert "looks like client kundenfirma's domain" in screen and f"did you mean {MEANT}?" in screen
        assert f":term {world.sendguard} review" in screen
        aerc.keys("q")  # the viewer closes: back to the message list
        assert wait_until(lambda: "What now:" not in aerc.screen()), aerc.screen()
        aerc.command("next-tab")
        aerc.wait_for("Send this email?")
        aerc.send()  # the natural retry: held again, and no second notice mail
        assert wait_until(lambda: [n["kind"] for n in unseen()] == ["held", "held-again"]), aerc.screen()
        aerc.wait_for("exit status 75")
        assert wait_until(lambda: not notice_mailers(), 60)
    assert len(world.server.received) == 1, "one notice for one held message; the message never left"
    assert [r["state"] for r in queue_rows(world)] == ["held"]


def test_aerc_lists_a_block_as_a_notice_mail_that_names_discard(world, tmp_path):
    world.config_path.write_text(
        world.config_path.read_text().replace("notice_mail = false", "notice_mail = true")
        + '[rules.lookalike-domain]\naction = "block"\n'
    )
    root = tmp_path / "aerc"
    with Aerc(world, root) as aerc:
        with (root / "config" / "aerc" / "aerc.conf").open("a") as conf:
            conf.write("[filters]\ntext/plain=colorize\n")
        aerc.compose(f"mailto:{WRONG}?subject=Falke%20status")
        aerc.send()
        aerc.wait_for("exit status 77")
        assert wait_until(lambda: len(world.server.received) == 1), "no notice mail arrived"
        deliver_to_maildir(root / "mail" / "INBOX", world.server.received[0].data)
        aerc.keys("Escape")
        aerc.wait_for("Send this email?")
        aerc.command("prev-tab")
        aerc.wait_for("Blocked, not sent: Falke status", timeout=60)
        (row,) = queue_rows(world)
        screen = open_in_aerc(aerc, f"sendguard discard {row['id']}")
        assert f"did you mean {MEANT}?" in screen and "release" not in screen
    assert row["state"] == "blocked"


def open_in_aerc(aerc: Aerc, text: str) -> str:
    """Open the selected message and return the screen once its body shows ``text``. In about
    one run in twenty, aerc 0.14's pager came up with an empty body and stayed so (under the
    resizes that make aerc repaint for capture-pane): closing and opening it again shows it. On
    a busy machine the body comes after the pager's (END): it is waited for first."""
    screens = [""]

    def shown() -> bool:
        screens[0] = aerc.screen()
        return text in screens[0]

    for _ in range(3):
        aerc.keys("Enter")
        aerc.wait_for("(END)")
        if wait_until(shown, 20):
            return screens[0]
        aerc.keys("q")
        assert wait_until(lambda: "(END)" not in aerc.screen()), aerc.screen()
    raise AssertionError(f"aerc never showed {text!r} in the message; screen:\n{screens[0]}")


def test_aerc_term_opens_the_review_where_the_hold_is_explained_and_fixed(world, tmp_path):
    """What setup and hooks/aerc-accounts.conf tell aerc users: after "exit status 75", aerc's own
    :term runs sendguard review in a tab; the suggestion is taken there, then n drops aerc's copy."""
    with Aerc(world, tmp_path / "aerc") as aerc:
        aerc.compose(f"mailto:{WRONG}?subject=Falke%20status")
        aerc.send()
        aerc.wait_for("exit status 75")
        aerc.keys("Escape")  # any key: the composer is back
        aerc.wait_for("Send this email?")
        aerc.command(f"term {world.sendguard} --config {world.config_path} review")
        screen = aerc.wait_for("s suggest")
        assert "1 need you" in screen and WRONG in screen and "Did you mean" in screen and MEANT in screen
        aerc.keys("s")
        aerc.wait_for("Change and send")
        aerc.keys("y")
        assert wait_until(lambda: len(world.server.received) == 1), aerc.screen()
        aerc.wait_for("0 need you")
        aerc.keys("q")
        aerc.wait_for("Send this email?")  # aerc's copy, no longer needed
        aerc.keys("n")
        aerc.wait_for("Connected")
    (got,) = world.server.received
    assert got.rcpt_tos == [MEANT]


def test_git_send_email_shows_the_hold_on_the_terminal(world, tmp_path):
    from tests.support.mua import git_repo

    repo, env = git_repo(world, tmp_path / "git", {"falke.txt": "Falke\n"}, hook=False)
    env = env | {"TERM": "xterm-256color"}
    with Terminal(env, "git") as term:
        term.start(
            "git format-patch -q -1 -o out && "
            f"git send-email --confirm=never --sendmail-cmd={world.sendmail} --to={WRONG} out/*.patch",
            cwd=str(repo),
        )
        screen = term.wait_for("EXIT=")
    row = held_row(world)
    assert "HELD" in screen and f"Did you mean {MEANT}?" in screen
    assert f"sendguard release {row['id']}" in screen
    assert "patches after this one, if any, were not sent" in screen
    assert "EXIT=75" in screen
    assert world.server.received == []


@pytest.mark.parametrize("program", ["bsd-mailx", "s-nail"])
def test_mailx_shows_the_hold_on_the_terminal(program, world, tmp_path):
    need(program)
    home = tmp_path / "home"
    home.mkdir()
    rc = home / ".mailrc"
    rc.write_text(f"set sendmail={world.sendmail}\n" if program == "bsd-mailx" else f"set mta={world.sendmail}\n")
    env = world.env() | {"HOME": str(home), "MAILRC": str(rc), "TERM": "xterm-256color"}
    with Terminal(env, program) as term:
        term.start(f"echo 'Hello Anna, the Falke budget.' | {program} -s 'Falke status' {WRONG}")
        screen = term.wait_for("EXIT=")
    row = held_row(world)
    assert "HELD" in screen and f"Did you mean {MEANT}?" in screen
    assert f"sendguard release {row['id']}" in screen
    assert world.server.received == []
