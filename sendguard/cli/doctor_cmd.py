"""``sendguard doctor``: check each piece of the setup and say what to fix.

One line per check, ``ok``, ``warn`` (works, but protects less than it could) or ``FAIL`` (mail
would not be protected or not leave), each non-ok line followed by what to do. Exit status 0
when nothing failed, 1 otherwise. It runs read-only commands only, and never shows msmtp's
configuration (it can hold a password).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

from sendguard import paths
from sendguard.cli.support import mailsetup
from sendguard.errors import ConfigError, StateUnwritable
from sendguard.printable import printable

STALE_RECEIVED_DAYS = 14
"""Sent mail this much newer than any received mail learned: the inbox is no longer learned."""
LEARNED_LATELY = 2 * 86400
"""An inbox a hook or timer learns was learned within this many seconds."""

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def check_config(state) -> tuple[Check, object | None]:  # type: ignore[no-untyped-def]
    from sendguard.config import schema as config_mod

    path = state.config_path or paths.config_path()
    try:
        cfg = config_mod.load(path, required=state.config_path is not None)
    except ConfigError as err:
        if not path.exists():  # --config or SENDGUARD_CONFIG names a file that is not there
            return Check(
                "config",
                FAIL,
                f"{path}: no such file",
                f"check the path, or write a starter config there: sendguard --config {path} setup",
            ), None
        return Check("config", FAIL, "; ".join(err.details()), "fix the lines named above"), None
    if cfg.path is None:
        return Check("config", WARN, f"no config at {path}; the embedded default is used", "sendguard setup"), cfg
    return Check("config", OK, f"{cfg.path} is valid"), cfg


def check_transport(cfg) -> Check:  # type: ignore[no-untyped-def]
    command = list(cfg.transport.command)
    exe = shutil.which(command[0]) if command else None
    if not exe:
        return Check(
            "transport",
            FAIL,
            f"{command[0] if command else '(empty)'} not found",
            "apt-get install msmtp, or set [transport] command",
        )
    if Path(exe).name.startswith("msmtp"):
        try:
            proc = subprocess.run(
                [*command, "-P"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return Check("transport", FAIL, f"{exe} could not be run: {err}")
        if proc.returncode != 0:
            reason = next(
                (line for line in proc.stderr.splitlines() if line.startswith("msmtp:")), f"exit {proc.returncode}"
            )
            return Check(
                "transport",
                FAIL,
                f"msmtp cannot use its configuration: {printable(reason)}",
                "fix msmtp's config (try: msmtp -P)",
            )
        return Check("transport", OK, f"{' '.join(command)} runs and reads its configuration")
    return Check("transport", OK, f"{exe} is executable (not msmtp: its configuration was not checked)")


def check_state_dir() -> Check:
    root = paths.state_dir()
    if not root.exists():
        refused = _probe_creation(root)
        if refused is not None:
            return Check(
                "state dir",
                FAIL,
                f"{root} cannot be created ({os.strerror(refused.errno or 0)})",
                StateUnwritable.fix(root, refused.errno),
            )
        return Check("state dir", OK, f"{root} will be created private (0700) on first use")
    refused = paths.probe_write(root)  # a real write: mode bits say nothing of chattr +i, a read-only mount, root
    if refused is not None:
        reason = StateUnwritable.reason(refused)
        return Check(
            "state dir",
            FAIL,
            f"{root} cannot be written ({reason}): nothing can be kept or sent",
            StateUnwritable.fix(root, refused.errno),
        )
    mode = stat.S_IMODE(root.stat().st_mode)
    if root.stat().st_uid != os.getuid():
        return Check("state dir", FAIL, f"{root} belongs to another user", f"chown -R $USER {root}")
    if mode & 0o077:
        return Check("state dir", FAIL, f"{root} is mode {mode:04o}: others can read held mail", f"chmod 700 {root}")
    return Check("state dir", OK, f"{root} is private (0700)")


def _probe_creation(root: Path) -> OSError | None:
    """Whether ``root`` could be created: a write in its nearest existing parent, leaving nothing."""
    parent = root.parent
    while not parent.exists() and parent.parent != parent:
        parent = parent.parent
    try:
        fd = os.open(parent / f".sendguard-probe-{os.getpid()}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(parent / f".sendguard-probe-{os.getpid()}")
    except OSError as err:
        return err
    return None


def check_history(cfg) -> Check:  # type: ignore[no-untyped-def]
    from sendguard.history import open_for_check
    from sendguard.history.store import FUTURE_SLACK, damage, not_a_file, path_in, set_aside_command

    state = paths.state_dir()
    where = path_in(state)
    odd = not_a_file(where)
    if odd:  # not "nothing learned yet": nothing can be learned into it either
        return Check(
            "history",
            FAIL,
            f"{where} is {odd}, not a file: nothing can be learned into it, and the wrong-recipient "
            "rules have nothing to compare with",
            set_aside_command(state),
        )
    found = damage(where)
    if found:  # its -wal and -shm go with it: a new file must not replay them
        return Check(
            "history",
            FAIL,
            f"{where} is damaged ({printable(found)}): the rules that read it fail, and each mail "
            "they check is held as not checkable",
            f"{set_aside_command(state)}   (then forget again any mistake you had taken out with `sendguard forget`)",
        )
    store = open_for_check(state)
    if store is None:
        return Check(
            "history",
            WARN,
            "nothing learned yet: the wrong-recipient rules have nothing to compare with",
            "sendguard learn ~/Mail/Sent ~/Mail/INBOX   (or --notmuch QUERY)",
        )
    from sendguard.history.judgement import judgement_of

    learned = f"{store.meta('messages')} messages learned ({store.meta('sent')} sent)"
    judgement = judgement_of(store)
    fitted_for = judgement.report.get("budget")
    if cfg is not None and fitted_for is not None and fitted_for != cfg.judgement.false_holds:
        return Check(
            "history",
            WARN,
            f"{learned}; {judgement.operating_point()}; fitted for a budget of {fitted_for:.1%}, "
            f"[judgement] false_holds is now {cfg.judgement.false_holds:.1%}",
            "sendguard learn ~/Mail/Sent   (or it is refitted after the next delivered message)",
        )
    if store.meta("sent") and store.meta("messages") <= store.meta("sent"):
        return Check(
            "history",
            WARN,
            f"{learned}; nothing received: whom you hear from, their threads and the authors you "
            "quote are unknown, and the wrong recipient is found less often",
            "sendguard learn ~/Mail/INBOX   (the folder your mail arrives in)",
        )
    sent_at, received_at = store.newest(until=time.time() + FUTURE_SLACK)
    if received_at and sent_at - received_at > STALE_RECEIVED_DAYS * 86400:
        own = cfg.identity.addresses if cfg is not None else ()
        newest = f"the newest mail received in it is from {_day(received_at)}, the newest you sent from {_day(sent_at)}"
        return _stale_received(store, own, f"{learned}; {newest}", f"{learned}; {judgement.operating_point()}")
    return Check("history", OK, f"{learned}; {judgement.operating_point()}")


def _stale_received(store, own, stale: str, well: str) -> Check:  # type: ignore[no-untyped-def]
    """The received mail learned stops long before the mail sent: an inbox nobody learns any
    more (what came into it since, when its folders say) or one nobody wrote to (all is well:
    learned again and again over those weeks, lately too, and nothing changed there since)."""
    from sendguard.history import arrivals

    hooks = mailsetup.shipped_dir("hooks") or "hooks"  # the installed package's, by absolute path
    fix = (
        f"learn your inbox as mail arrives: {hooks}/notmuch-post-new (with notmuch) or "
        f"{hooks}/sendguard-learn.timer (install lines in each); once by hand: sendguard learn ~/Mail/INBOX"
    )
    seen = [(s, arrivals.arrived(s, own)) for s in arrivals.learned_from(store.db)]
    came = [(s, a) for s, a in seen if a is not None and a.new]
    if came:
        where = "; ".join(f"{a.new} into {printable(s.where)}, learned {_day(s.learned)}" for s, a in came[:3])
        return Check("history", WARN, f"{stale}; mail came in after it was learned, and was not: {where}", fix)
    now = time.time()
    regular = [
        (s, a) for s, a in seen if s.first < now - STALE_RECEIVED_DAYS * 86400 and s.learned > now - LEARNED_LATELY
    ]
    if regular and all(a is not None and not a.changed for _, a in regular):
        where = ", ".join(printable(s.where) for s, _ in regular[:3])
        since, last = _day(min(s.first for s, _ in regular)), _day(regular[0][0].learned)
        return Check("history", OK, f"{well}; nothing new came into {where} (learned since {since}, last on {last})")
    return Check("history", WARN, f"{stale}: whom you heard from since, and their threads, are unknown", fix)


def _day(stamp: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(stamp, datetime.UTC).date().isoformat()


# Two notmuch checks on purpose: this one is the user's own database (``learn --notmuch``),
# check_incident_log is sendguard's (``sendguard log``): that it opens, and that records are not
# piling up unindexed.
def check_notmuch() -> Check:
    config = os.environ.get("NOTMUCH_CONFIG")
    candidates = (
        [Path(config)]
        if config
        else [
            mailsetup.xdg_config() / "notmuch" / os.environ.get("NOTMUCH_PROFILE", "default") / "config",
            mailsetup.home() / ".notmuch-config",
        ]
    )
    found = next((p for p in candidates if p.is_file()), None)
    try:
        import notmuch2
    except ImportError as err:
        return Check(
            "notmuch",
            WARN,
            f"the notmuch2 module cannot be loaded ({err})",
            "apt-get install libnotmuch-dev; pip install notmuch2",
        )
    if found is None:  # optional: learn reads maildirs and mbox files without it
        return Check(
            "notmuch",
            OK,
            "not set up (optional): `sendguard learn PATH` reads maildirs and mbox files; with notmuch "
            "(`notmuch setup`), `sendguard learn --notmuch QUERY` too",
        )
    try:
        with notmuch2.Database(mode=notmuch2.Database.MODE.READ_ONLY, config=str(found)) as db:
            count = db.count_messages("*")
    except notmuch2.NotmuchError as err:
        return Check("notmuch", WARN, f"the notmuch database of {found} cannot be opened: {err}", "notmuch new")
    return Check("notmuch", OK, f"database reachable ({count} messages, {found})")


STALE_MARKER_SECONDS = 300  # a record older than this and still unindexed, with no indexer at work: stuck


def check_incident_log(cfg, now: float | None = None) -> Check:  # type: ignore[no-untyped-def]
    """sendguard's own notmuch database (not the user's): opens, and records do not pile up unindexed."""
    import time

    from sendguard.incidents import log_dir, pending_dir
    from sendguard.incidents.observer import indexer_running

    if not cfg.log.enabled:
        return Check("incident log", OK, "off ([log] enabled = false): decisions are not recorded")
    state = paths.state_dir()
    root = log_dir(state)
    try:
        markers = [p for p in pending_dir(state).iterdir() if not p.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):  # none yet, or the state dir is a file (its own check)
        markers = []
    if not cfg.log.notmuch:
        return Check("incident log", OK, f"records in {root}, not indexed ([log] notmuch = false)")
    try:
        import notmuch2
    except ImportError as err:
        return Check(
            "incident log",
            WARN,
            f"records are written to {root} but cannot be indexed: the notmuch2 module cannot be loaded ({err})",
            "apt-get install libnotmuch-dev; pip install notmuch2",
        )
    count = 0
    if (root / ".notmuch").is_dir():
        try:
            with notmuch2.Database(
                str(root), mode=notmuch2.Database.MODE.READ_ONLY, config=notmuch2.Database.CONFIG.EMPTY
            ) as db:
                count = db.count_messages("*")
        except notmuch2.NotmuchError as err:
            return Check(
                "incident log",
                WARN,
                f"its notmuch database cannot be opened ({err}); the records are safe in {root}",
                f"mv {root / '.notmuch'} {root / '.notmuch.broken'} && sendguard log --reindex",
            )
    now = time.time() if now is None else now
    stale = []
    for marker in markers:
        try:
            if now - marker.stat().st_mtime > STALE_MARKER_SECONDS:
                stale.append(marker)
        except FileNotFoundError:
            continue  # indexed meanwhile
    if stale and not indexer_running(state):
        return Check(
            "incident log",
            WARN,
            f"{len(stale)} record(s) written but not indexed: `sendguard log` does not find them yet",
            "sendguard log   (indexes them first)",
        )
    waiting = f", {len(markers)} being indexed" if markers else ""
    return Check("incident log", OK, f"{count} records indexed{waiting} ({root})")


def check_clients(cfg) -> Check:  # type: ignore[no-untyped-def]
    if not cfg.organization.domains:
        return Check(
            "organization",
            WARN,
            "no [organization] domains: every recipient is judged as outside",
            "add domains = [...] under [organization]",
        )
    if not cfg.clients:
        return Check(
            "clients",
            WARN,
            "no [clients.NAME] tables: mail meant for one client cannot be told from mail to another",
            "sendguard setup --add-clients (adds those of your learned history), or a table per client",
        )
    keywords = sum(1 for c in cfg.clients.values() if c.keywords)
    return Check(
        "clients",
        OK,
        f"{len(cfg.clients)} client{'' if len(cfg.clients) == 1 else 's'} configured, {keywords} with keywords",
    )


def check_programs(sendmail: Path | None) -> list[Check]:
    out = []
    programs = [p for p in mailsetup.find_mail_programs() if p.found]
    if not any(p.uses_sendguard for p in programs):
        out.append(
            Check(
                "mail programs",
                FAIL,
                "none sends through sendguard yet: nothing is checked",
                "sendguard setup prints the line for each",
            )
        )
    for program in programs:
        name = f"mail: {program.name}"
        line = program.lines(str(sendmail or "/ABSOLUTE/PATH/sendguard-sendmail"))[0]
        if program.uses_sendguard:
            out.append(Check(name, OK, "sends through " + "; ".join(v for _, v in program.settings)))
        elif program.bypasses:
            out.append(
                Check(name, FAIL, "sends past sendguard: " + "; ".join(program.bypasses), f"in {program.where}: {line}")
            )
        else:
            out.append(Check(name, WARN, "installed, not pointed at sendguard", f"in {program.where}: {line}"))
    if sendmail is None:
        out.append(
            Check(
                "sendguard-sendmail", FAIL, "not found next to sendguard or on PATH", "reinstall: pip install sendguard"
            )
        )
    else:
        out.append(Check("sendguard-sendmail", OK, str(sendmail)))
    return out


def check_on_path() -> Check:
    """Whether the ``sendguard ...`` commands that held mail and notices name run this sendguard."""
    problem = mailsetup.path_problem()
    if problem is None:
        return Check("sendguard on PATH", OK, str(shutil.which("sendguard")))
    return Check("sendguard on PATH", WARN, *problem)


def check_resident(cfg) -> Check:  # type: ignore[no-untyped-def]
    """Whether mail is checked by a warm resident checker (informational: both ways are safe)."""
    from sendguard import paths
    from sendguard.sendpath import client as resident

    if not cfg.sendmail.resident or not resident.enabled():
        why = "[sendmail] resident = false" if not cfg.sendmail.resident else "SENDGUARD_RESIDENT=0"
        return Check("resident checker", OK, f"off ({why}): every mail is checked in a process of its own")
    pid = resident.running_server(paths.state_dir() / resident.PID_FILE)
    if pid is None:
        return Check(
            "resident checker",
            OK,
            f"not running now; the next mail starts it (it stops after {cfg.sendmail.resident_idle} s without mail)",
        )
    return Check("resident checker", OK, f"running (pid {pid})")


def check_notice_mail(cfg) -> Check:  # type: ignore[no-untyped-def]
    """Where a hold the mail program cannot show (aerc) is mailed ([sendmail] notice_mail)."""
    from sendguard.act.notice_mail import recipient

    if not cfg.sendmail.notice_mail:
        return Check("notice mail", OK, "off: a hold aerc cannot show reaches you only as a notice")
    to = recipient("", cfg.identity.addresses)
    if to is None:
        return Check(
            "notice mail",
            WARN,
            "no [identity] address to mail a hold to: in aerc a hold shows only as exit status 75",
            "add your address: addresses = [...] under [identity]",
        )
    return Check("notice mail", OK, f"a hold your mail program cannot show is mailed to {printable(to)}")


def run_checks(state) -> list[Check]:  # type: ignore[no-untyped-def]
    config_check, cfg = check_config(state)
    checks = [config_check]
    if cfg is not None:
        checks.append(check_transport(cfg))
        checks.append(check_resident(cfg))
        checks.append(check_notice_mail(cfg))
    checks += [check_state_dir(), check_history(cfg), check_notmuch()]
    if cfg is not None:
        checks.append(check_incident_log(cfg))
        checks.append(check_clients(cfg))
    checks += check_programs(mailsetup.installed_executable("sendguard-sendmail"))
    checks.append(check_on_path())
    return checks


def postfix_checks(cfg, config_dir: str | None, listen: str) -> list[Check]:  # type: ignore[no-untyped-def]
    """The team's Postfix and its milter (``--postfix``): every submission checked, none let through
    unchecked while the milter is down."""
    from sendguard.milter import setup_check

    if config_dir is None:
        config_dir = cfg.milter.postfix_config if cfg is not None else ""
    checks = [Check(a.name, a.status, a.detail, a.fix) for a in setup_check.check(config_dir, listen)]
    return [*checks, check_sender_histories(cfg), check_learning(cfg)]


def check_learning(cfg) -> Check:  # type: ignore[no-untyped-def]
    """The milter's journals of what to learn that it set aside (milter/journal.py): tried too
    often, each one's learning failed or killed the process that learned it."""
    from sendguard.milter import journal, senders

    waiting = senders.state_dir(cfg) / journal.DIRECTORY
    failed = waiting / journal.FAILED
    try:  # not journal.orphans: that removes what a dead worker left half made
        names = [p.name for p in waiting.iterdir()]
    except (FileNotFoundError, NotADirectoryError):
        names = []
    stuck = [waiting / n for n in names if journal.is_journal(n) and journal.tries_of(n) >= journal.TRIES]
    if stuck:
        return _cannot_set_aside(stuck, waiting, failed)
    try:
        aside = sorted(p for p in failed.iterdir() if p.name.endswith(journal.SUFFIX))
    except (FileNotFoundError, NotADirectoryError):
        aside = []
    if not aside:
        return Check("learning", OK, f"no journal of what to learn set aside ({failed})")
    size = sum(p.stat().st_size for p in aside if p.exists())
    return Check(
        "learning",
        WARN,
        f"{len(aside)} journal(s) of what the milter let through set aside in {failed} ({size} bytes): "
        f"{journal.TRIES} attempts to learn each failed or ended the process, so what they hold is "
        "not learned, and their senders' mail to those recipients may be held again",
        f"the milter's log says why (`could not learn`, or a check worker that died while learning); once that "
        f"is fixed, as the milter's user: mv {shlex.quote(str(failed))}/*{journal.SUFFIX} "
        f"{shlex.quote(str(waiting))}/ (learned within seconds, "
        f"{journal.TRIES} attempts again); or remove them to give up on learning them",
    )


def _cannot_set_aside(stuck: list[Path], waiting: Path, failed: Path) -> Check:
    """Journals tried TRIES times that are still waiting: learning/failed/ cannot take them."""
    import pwd

    from sendguard.milter import journal

    owner = str(waiting.stat().st_uid)
    with contextlib.suppress(KeyError):
        owner = pwd.getpwuid(int(owner)).pw_name
    if failed.exists() and not failed.is_dir():
        why, fix = "is not a directory", f"mv {shlex.quote(str(failed))} {shlex.quote(str(failed) + '.old')}"
    else:
        where = shlex.quote(str(failed if failed.is_dir() else waiting))  # without it, learning/ is not writable
        why, fix = "cannot be made or written", f"chown -R {shlex.quote(owner)} {where} && chmod u+rwx {where}"
    return Check(
        "learning",
        WARN,
        f"{len(stuck)} journal(s) of what the milter let through were tried {journal.TRIES} times and cannot be set "
        f"aside: {failed} {why}. What they hold is not learned, and the milter's workers try them again every "
        "few seconds",
        f"as root: {fix} (the milter's user {owner} owns {waiting}); then `sendguard doctor --postfix` again",
    )


def check_sender_histories(cfg) -> Check:  # type: ignore[no-untyped-def]
    """Each sender's history the milter keeps is sound: a damaged one holds that sender's mail."""
    from urllib.parse import unquote

    from sendguard.history.store import damage, not_a_file, path_in
    from sendguard.milter import senders

    def unsound(path: Path) -> str:
        odd = not_a_file(path)
        return f"{odd}, not a file" if odd else damage(path)

    root = senders.state_dir(cfg)
    found = sorted(p for p in (root / "senders").glob("*") if path_in(p).exists())
    damaged = [(d, why) for d in found if (why := unsound(path_in(d)))]
    if not damaged:
        return Check("sender histories", OK, f"{len(found)} in {root / 'senders'}, none damaged")
    names = "; ".join(f"{printable(unquote(d.name))} ({printable(why)})" for d, why in damaged[:3])
    more = f" and {len(damaged) - 3} more" if len(damaged) > 3 else ""
    first = damaged[0][0]
    return Check(
        "sender histories",
        FAIL,
        f"{len(damaged)} of {len(found)} damaged: {names}{more}; each such sender's mail is held as not checkable",
        f"with the milter stopped: mkdir -p {root}/damaged && mv {first} {root}/damaged/, then "
        f"sendguard learn --as {printable(unquote(first.name))} THEIR-SENT-FOLDER (likewise for each)",
    )


@click.command()
@click.option(
    "--postfix",
    "team",
    is_flag=True,
    help="Also check the team's Postfix for the milter: which services pass mail to it, and what "
    "Postfix does while it is down.",
)
@click.option(
    "--postfix-config",
    metavar="DIR",
    help="Postfix's configuration directory (default: [milter] postfix_config, else Postfix's own).",
)
@click.option(
    "--listen",
    metavar="SPEC",
    default="",
    help="The socket `sendguard milter --listen` opens (unix:PATH, inet:PORT@HOST): checks that it "
    "answers and that Postfix names it.",
)
@click.pass_obj
def doctor(state, team: bool, postfix_config: str | None, listen: str) -> None:  # type: ignore[no-untyped-def]
    """Check config, transport, state dir, history, notmuch and mail programs; say what to fix.

    With --postfix (or --postfix-config, --listen): the config and the team's Postfix instead, as
    its administrator needs them; one user's mail programs are not the server's business."""
    if team or postfix_config is not None or listen:
        if listen:
            from sendguard.milter.spec import parse_listen

            listen = parse_listen(listen)
        config_check, cfg = check_config(state)
        checks = [config_check, *postfix_checks(cfg, postfix_config, listen)]
    else:
        checks = run_checks(state)
    width = max(len(c.name) for c in checks)
    for check in checks:
        click.echo(f"{check.status:4}  {check.name:{width}}  {check.detail}")
        if check.fix and check.status != OK:
            click.echo(f"{'':4}  {'':{width}}  → {check.fix}")
    failed = [c for c in checks if c.status == FAIL]
    warned = [c for c in checks if c.status == WARN]
    if failed:
        click.echo(f"\n{len(failed)} problem(s) to fix.")
        sys.exit(1)
    click.echo("\nAll well." if not warned else f"\nAll well; {len(warned)} suggestion(s) above.")
