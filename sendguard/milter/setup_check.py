"""What ``sendguard doctor --postfix`` reads from Postfix: is every submission checked, and does
a milter that is down make Postfix hold on rather than let mail through?

Read-only: ``postconf`` for main.cf and for master.cf's per-service overrides (``-P``),
and one connection to the milter's socket. Each answer is (status, name, detail, fix) with the
status "ok", "warn" or "FAIL", as the doctor prints it.
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass

from sendguard.errors import QueueError
from sendguard.milter.spec import postfix_form

OK, WARN, FAIL = "ok", "warn", "FAIL"
MILTER_SETTINGS = ("smtpd_milters", "milter_default_action", "milter_mail_macros")


@dataclass(frozen=True)
class Answer:
    status: str
    name: str
    detail: str
    fix: str = ""


def _postconf_exe() -> str | None:
    # /usr/sbin is not on an ordinary user's PATH; postconf needs no privilege
    return shutil.which("postconf") or shutil.which("postconf", path="/usr/sbin:/sbin")


def postconf(config_dir: str, *args: str) -> str:
    from sendguard.milter.postfix import run_tool

    return run_tool([_postconf_exe() or "postconf", *(["-c", config_dir] if config_dir else []), *args])


def _main(config_dir: str, names: tuple[str, ...]) -> dict[str, str]:
    lines = postconf(config_dir, *names).splitlines()
    return {name: value.strip() for name, value in zip(names, [line.partition("=")[2] for line in lines])}


def _overrides(config_dir: str) -> dict[str, dict[str, str]]:
    """service ("submission/inet") -> {parameter: value} from master.cf's -o options."""
    out: dict[str, dict[str, str]] = {}
    for line in postconf(config_dir, "-P").splitlines():
        key, sep, value = line.partition(" = ")
        service, _, name = key.rpartition("/")
        if sep and service:
            out.setdefault(service, {})[name] = value.strip()
    return out


def _smtpd_services(config_dir: str) -> list[str]:
    """The services master.cf runs with the smtpd command ("smtp/inet", "submission/inet")."""
    out = []
    for line in postconf(config_dir, "-M").splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[7] == "smtpd":
            out.append(f"{fields[0]}/{fields[1]}")
    return out


def _milters(value: str) -> list[str]:
    return value.replace(",", " ").split()


def same_milter(postfix_spec: str, listen: str, queue_directory: str) -> bool:
    """Whether Postfix's spelling of a milter in smtpd_milters (``unix:/sendguard/milter.sock``,
    seen from the chroot of a chrooted smtpd; ``inet:HOST:PORT``) names the socket of ``sendguard
    milter --listen`` (``listen``, already parsed)."""
    written = postfix_spec.strip()
    return written in (postfix_form(listen), postfix_form(listen, queue_directory))


def reachable(listen: str) -> str:
    """'' when something accepts a connection at ``listen``, else why not."""
    kind, _, where = listen.partition(":")
    try:
        if kind == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(5)
                conn.connect(where)
        else:
            port, _, host = where.partition("@")
            with socket.create_connection((host or "localhost", int(port)), timeout=5):
                pass
    except (OSError, ValueError) as err:
        return getattr(err, "strerror", None) or str(err)
    return ""


def at_start(config_dir: str, listen: str) -> list[str]:
    """What ``sendguard milter`` logs as it starts: every answer that is not ok, one line each;
    nothing where this machine has no Postfix (the milter may serve one on another host)."""
    if _postconf_exe() is None:
        return []
    return [
        f"postfix: {a.status} {a.name}: {a.detail}" + (f" (fix: {a.fix})" if a.fix else "")
        for a in check(config_dir, listen, probe=False)
        if a.status != OK
    ]


def check(config_dir: str, listen: str, probe: bool = True) -> list[Answer]:
    """Postfix's view of the milter at ``listen`` (empty: any milter a service names); ``probe``:
    also connect to ``listen``."""
    try:
        main = _main(config_dir, (*MILTER_SETTINGS, "non_smtpd_milters", "queue_directory"))
        overrides = _overrides(config_dir)
        services = _smtpd_services(config_dir)
    except QueueError as err:
        return [Answer(FAIL, "postfix", str(err), "run this where Postfix runs, or pass --postfix-config DIR")]

    def ours(value: str) -> list[str]:
        return [m for m in _milters(value) if not listen or same_milter(m, listen, main["queue_directory"])]

    answers = []
    checked = []
    for service in services:
        settings = {name: overrides.get(service, {}).get(name, main[name]) for name in MILTER_SETTINGS}
        if not ours(settings["smtpd_milters"]):
            continue
        checked.append(service)
        action = settings["milter_default_action"] or "tempfail"
        if action == "accept":
            answers.append(
                Answer(
                    FAIL,
                    f"postfix {service}",
                    "milter_default_action = accept: while the milter is down or slow, mail leaves unchecked",
                    f"milter_default_action = tempfail (main.cf, or -o in master.cf's {service} entry)",
                )
            )
        elif action != "tempfail":
            answers.append(
                Answer(
                    WARN,
                    f"postfix {service}",
                    f"milter_default_action = {action}: while the milter is down, every message is "
                    + ("refused for good" if action == "reject" else "held"),
                    "milter_default_action = tempfail: the client keeps the message and tries again",
                )
            )
        elif "{auth_authen}" not in settings["milter_mail_macros"].split():
            answers.append(
                Answer(
                    WARN,
                    f"postfix {service}",
                    "milter_mail_macros lacks {auth_authen}: each message is judged by the history of its "
                    "MAIL FROM, which the client chooses, not by who logged in",
                    "add {auth_authen} to milter_mail_macros (hooks/postfix-main.cf)",
                )
            )
        else:
            answers.append(Answer(OK, f"postfix {service}", "passes mail to the milter; tempfail while it is down"))
    if not checked:
        where = f" at {listen}" if listen else ""
        answers.append(
            Answer(
                FAIL,
                "postfix",
                f"no smtpd service passes mail to the milter{where}: nothing is checked",
                "smtpd_milters on the submission service (hooks/postfix-master.cf)",
            )
        )
    if not ours(main["non_smtpd_milters"]):
        answers.append(
            Answer(
                WARN,
                "postfix local mail",
                "non_smtpd_milters does not name the milter: mail sent on this server with its own "
                "sendmail (cron, scripts, webmail on the host) is not checked",
                "if people send mail on this machine itself: non_smtpd_milters = the same milter "
                "(Postfix's MILTER_README, non-SMTP mail)",
            )
        )
    if listen and probe:
        why = reachable(listen)
        if why:
            answers.append(
                Answer(
                    FAIL,
                    "milter",
                    f"nothing answers at {listen} ({why}): Postfix applies milter_default_action to every message",
                    "start it: systemctl start sendguard-milter (hooks/sendguard-milter.service)",
                )
            )
        else:
            answers.append(Answer(OK, "milter", f"answers at {listen}"))
    return answers
