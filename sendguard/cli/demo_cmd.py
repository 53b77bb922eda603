"""``sendguard demo``: the whole path on an embedded default, in a throwaway directory.

A loopback SMTP server on 127.0.0.1, a temporary world (msmtprc, config, a small learned
history), then a few messages through mutt (or ``sendguard-sendmail`` when mutt is missing or
``--no-mutt``) and the real msmtp: routine mail is delivered (to the client's Markus too); the
internal note meant for the boss Markus but addressed to the client's Markus is held by what the
history learned, and so is a lookalike of the client's domain; ``queue list`` shows both. HOME,
XDG_* and SENDGUARD_CONFIG point into the temporary directory, so the demo never touches the
user's own config, queue or history.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from sendguard.cli.support import mailsetup
from sendguard.cli.support.loopback import LoopbackSMTP, Received, world_config, write_msmtprc
from sendguard.errors import SendguardError
from sendguard.printable import printable

ME = "me@nordwerk.example"
BOSS = "markus.weber@nordwerk.example"
CLIENT_NAMESAKE = "markus.brandt@kundenfirma.example"
ROUTINE = [  # (to, subject, body): what the demo sends
    ("anna@kundenfirma.example", "Falke: status", "Hello Anna,\n\nthe Falke rollout is on track for Friday.\n"),
    ("kai@nordwerk.example", "Lunch?", "Hi Kai,\n\nlunch at 12:30?\n"),
    (
        CLIENT_NAMESAKE,
        "Falke: data migration",
        "Hello Markus,\n\nthe Falke data migration starts on Monday; the rollout stays on track.\n",
    ),
]
# The mistake sendguard exists for: the internal note meant for the boss, autocompleted to the
# client of the same first name, one recipient and no Cc.
STORY = (
    CLIENT_NAMESAKE,
    "Cost cuts: moving two developers",
    "Hi Markus,\n\nas discussed, my proposals for the cost cuts: move two developers to the Leipzig "
    "team in January, end the freelancer contracts at quarter end, cut the travel budget by 30 %.\n"
    "Please keep this between us until we tell the team. OK from you?\n",
)
LOOKALIKE = (
    "anna@kundenfirrna.example",
    "Falke: invoice 2026-11",
    "Hello Anna,\n\nhere are the Falke numbers for November.\n",
)
SENDS = [*ROUTINE, STORY, LOOKALIKE]
HELD = (STORY, LOOKALIKE)


class DemoError(SendguardError):
    """A program the demo needs is missing."""

    exit_code = 69  # type: ignore[assignment]  # EX_UNAVAILABLE


def _history_message(n: int, to: str, subject: str, body: str) -> bytes:
    return (
        f"From: Me <{ME}>\nTo: {to}\nSubject: {subject}\nDate: Mon, {n % 28 + 1:02d} Sep 2026 10:00:00 +0000\n"
        f"Message-ID: <demo-{n}@nordwerk.example>\nMIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()


def write_history(maildir: Path) -> int:
    """A small embedded sent folder: the user writes to Anna and Markus Brandt at the client about
    the Falke project, to Kai in-house, and to their boss Markus Weber about budget and staff."""
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    boss_topics = [
        ("Budget 2027", "the budget for 2027: staff costs are up, so we need savings in travel and freelancers."),
        ("Team planning", "the team planning for January: two developers could move to the Leipzig team."),
        ("Freelancer contracts", "the freelancer contracts end at quarter end; I would not renew them."),
        ("Headcount", "headcount stays flat next year; the budget has no room for new staff."),
        ("Travel budget", "the travel budget is over plan; I suggest we cut it for the team."),
        ("Staff costs", "the staff costs report for the quarter, confidential until the team meeting."),
    ]
    mails = []
    for i in range(6):
        mails.append(
            (
                "anna@kundenfirma.example",
                f"Falke: week {36 + i}",
                f"Hello Anna,\n\nthe Falke numbers for week {36 + i} are attached in the portal.\n",
            )
        )
        mails.append(("kai@nordwerk.example", f"Re: Falke planning {i}", "Hi Kai,\n\nagreed, see you at standup.\n"))
        subject, text = boss_topics[i]
        mails.append((BOSS, subject, f"Hi Markus,\n\n{text}\n"))
        mails.append(
            (
                CLIENT_NAMESAKE,
                f"Falke: rollout step {i + 1}",
                f"Hello Markus,\n\nstep {i + 1} of the Falke rollout is done; the data migration is next.\n",
            )
        )
    for n, (to, subject, body) in enumerate(mails):
        (maildir / "cur" / f"{n}.demo:2,S").write_bytes(_history_message(n, to, subject, body))
    return len(mails)


def write_world(root: Path, port: int, hold_rule: str | None) -> dict[str, Path]:
    home = root / "home"
    for sub in ("home", "config", "data", "state", "cache", "run"):
        (root / sub).mkdir(mode=0o700)
    msmtprc = write_msmtprc(root / "msmtprc", port, ME, root / "msmtp.log")
    # The lookalike rule is set to hold, so the demo does not depend on how strong the rule's own
    # judgement is today; without the rule, a [block] entry holds the same message.
    held = f'[rules.{hold_rule}]\naction = "hold"\n' if hold_rule else f'[block]\naddresses = ["{LOOKALIKE[0]}"]\n'
    config = root / "config" / "sendguard" / "config.toml"
    config.parent.mkdir(mode=0o700)
    config.write_text(world_config(msmtprc, ME) + held)
    muttrc = root / "muttrc"
    return {"home": home, "config": config, "msmtprc": msmtprc, "muttrc": muttrc}


class Demo:
    def __init__(self, root: Path, use_mutt: bool) -> None:
        self.root = root
        self.sendguard = mailsetup.installed_executable("sendguard")
        self.sendmail = mailsetup.installed_executable("sendguard-sendmail")
        if self.sendmail is None:
            raise DemoError("sendguard-sendmail was not found next to sendguard or on PATH")
        if not shutil.which("msmtp"):
            raise DemoError("msmtp is not installed", hints=["apt-get install msmtp"])
        self.mutt = shutil.which("mutt") if use_mutt else None
        self.received: list[Received] = []

    def env(self, paths: dict[str, Path]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "SENDGUARD_", "NOTMUCH_"))}
        env.update(
            HOME=str(paths["home"]),
            SENDGUARD_CONFIG=str(paths["config"]),
            XDG_CONFIG_HOME=str(self.root / "config"),
            XDG_DATA_HOME=str(self.root / "data"),
            XDG_STATE_HOME=str(self.root / "state"),
            XDG_CACHE_HOME=str(self.root / "cache"),
            XDG_RUNTIME_DIR=str(self.root / "run"),
        )
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        return env

    def cli(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        base = [str(self.sendguard)] if self.sendguard else [sys.executable, "-m", "sendguard"]
        return subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=120, check=False)

    def send(
        self, env: dict[str, str], paths: dict[str, Path], to: str, subject: str, body: str
    ) -> subprocess.CompletedProcess[bytes]:
        if self.mutt:
            paths["muttrc"].write_text(
                f'set sendmail="{self.sendmail}"\nset record="" copy=no postpone=no\n'
                f'set realname="Me" from="{ME}" use_from=yes\n'
            )
            argv = [self.mutt, "-n", "-F", str(paths["muttrc"]), "-s", subject, "--", to]
            return subprocess.run(argv, input=body.encode(), env=env, capture_output=True, timeout=60, check=False)
        message = (
            f"From: Me <{ME}>\nTo: {to}\nSubject: {subject}\nMIME-Version: 1.0\n"
            f"Content-Type: text/plain; charset=utf-8\n\n{body}"
        ).encode()
        return subprocess.run(
            [str(self.sendmail), "-oi", "--", to], input=message, env=env, capture_output=True, timeout=60, check=False
        )


def run_demo(root: Path, use_mutt: bool, keep: bool = False) -> bool:
    """Run the demo in ``root``; True when it went as it should (routine delivered, the two held)."""
    from sendguard.rules import RULES

    demo = Demo(root, use_mutt)
    server = LoopbackSMTP()
    port = server.port
    hold_rule = "lookalike-domain" if "lookalike-domain" in RULES else None
    paths = write_world(root, port, hold_rule)
    env = demo.env(paths)
    server.start()
    demo.received = server.received
    try:
        click.echo(f"A throwaway world in {root}:")
        click.echo(f"  loopback SMTP server 127.0.0.1:{port} (aiosmtpd); msmtp → it ({paths['msmtprc']})")
        click.echo(f"  sendguard config {paths['config']}: organization nordwerk.example, client kundenfirma.example")
        from sendguard.cli import COMMANDS

        if "learn" in COMMANDS:
            count = write_history(root / "Sent")
            learned = demo.cli(env, "learn", str(root / "Sent"))
            status = "learned" if learned.returncode == 0 else f"could not learn ({printable(learned.stderr.strip())})"
            click.echo(f"  sendguard learn: {count} sent messages {status}")
        via = "mutt" if demo.mutt else "sendguard-sendmail"
        click.echo(f"\nSending {len(SENDS)} messages: {via} → sendguard → msmtp → the server\n")
        outcomes = []
        for to, subject, body in SENDS:
            before = len(demo.received)
            proc = demo.send(env, paths, to, subject, body)
            delivered = len(demo.received) > before
            word = "delivered" if delivered else f"NOT SENT (exit {proc.returncode})"
            click.echo(f"  {to:34} {subject!r:36} {word}")
            if not delivered and proc.stderr and not demo.mutt:
                for line in proc.stderr.decode(errors="replace").splitlines():
                    click.echo(f"      {printable(line)}")
            outcomes.append(delivered)
        time.sleep(0.1)
        click.echo("\nThe server received:")
        for sender, rcpts, data in demo.received:
            subject = next(
                (
                    line[9:]
                    for line in data.decode(errors="replace").splitlines()
                    if line.lower().startswith("subject: ")
                ),
                "",
            )
            click.echo(f"  from {sender} to {', '.join(rcpts)}: {printable(subject)!r}")
        if demo.mutt:
            click.echo("\nmutt in batch mode only says 'Could not send the message' and forgets it; sendguard kept it.")
        click.echo("\n$ sendguard queue list")
        listing = demo.cli(env, "queue", "list")
        click.echo(listing.stdout.rstrip() or "(empty)")
        rows = [json.loads(line) for line in demo.cli(env, "queue", "list", "--json").stdout.splitlines()]
        held = [r for r in rows if r["state"] in ("held", "blocked")]
        if held and keep:
            exe = shlex.quote(str(demo.sendguard or "sendguard"))
            look = " ".join(f"{k}={shlex.quote(env[k])}" for k in ("XDG_DATA_HOME", "XDG_CONFIG_HOME")) + f" {exe}"
            click.echo(
                f"\nThe demo's world stays in {root} (remove it when done). Look around in it:\n"
                f"  {look} queue list     (or review, log)\n"
                "Its SMTP server has stopped: a release there would only be deferred. "
                "`sendguard setup` sets up your own mail."
            )
        elif held:
            click.echo(
                f"\nThe demo's world is removed now, {held[0]['id']} with it: `sendguard release ID` sends a "
                "held message and `sendguard discard ID` drops it in your own queue (`sendguard demo --keep` "
                "keeps this world to look around). `sendguard setup` sets up your own mail."
            )
        return outcomes == [True] * len(ROUTINE) + [False] * len(HELD) and len(held) == len(HELD)
    finally:
        # The first mail started a resident checker for the rest; it must not outlive the demo.
        from sendguard.sendpath import client as resident

        resident.stop_servers(str(paths["config"]))
        server.stop()


HELPER_MODULES = frozenset({b"sendguard.incidents.indexer", b"sendguard.act.delay"})


def stop_helpers(root: Path, timeout: float = 10.0) -> bool:
    """End the detached helpers still at work in the throwaway world ``root``; True if none is left.

    The incident indexer started for the last mail lingers 2 s for more, and one that starts
    late (a loaded machine) creates its directory again: removed under them, the world came
    back in part and stayed in /tmp (seen with the indexer's start delayed by 1 s). Found in
    /proc by their argv (the module and a path inside ``root``); the world is thrown away, so
    cutting an indexer short loses nothing."""
    from sendguard.detached import stop_processes

    prefix = os.fsencode(str(root)) + b"/"
    return stop_processes(
        lambda args: bool(HELPER_MODULES.intersection(args)) and any(arg.startswith(prefix) for arg in args), timeout
    )


@click.command()
@click.option("--no-mutt", is_flag=True, help="Send with sendguard-sendmail directly, even if mutt is installed.")
@click.option("--keep", is_flag=True, help="Keep the temporary directory to look around in it.")
def demo(no_mutt: bool, keep: bool) -> None:
    """Show sendguard at work: a loopback SMTP server, mutt, msmtp, the wrong Markus held."""
    root = Path(tempfile.mkdtemp(prefix="sendguard-demo-"))
    try:
        ok = run_demo(root, use_mutt=not no_mutt, keep=keep)
    finally:
        if keep:
            click.echo(f"\nKept {root}")
        else:
            stop_helpers(root)
            shutil.rmtree(root, ignore_errors=True)
    if not ok:
        click.echo("\nThe demo did not go as expected (see above).", err=True)
        sys.exit(1)
