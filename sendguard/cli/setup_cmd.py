"""``sendguard setup``: from ``pip install`` to protected in five minutes.

Finds msmtp's config and the mail programs, writes a starter config if there is none, and
prints for each mail program the exact lines to add, with the absolute path of this
installation's ``sendguard-sendmail`` (a shell shim in front of Python would cost ~150 ms per
mail, so the path is spelled out rather than left to PATH).

It never overwrites a config (the file is created with O_EXCL, so not even a race can) and never
edits a mail program's config: those files are the user's, often generated or shared between
machines; printing the lines keeps the person in charge and the change reviewable.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import click

from sendguard import paths
from sendguard.cli.support import mailsetup
from sendguard.errors import ConfigError
from sendguard.mail.message import domain_of, normalize_address


def propose_clients(own_domains: set[str], limit: int = 8, min_sent: int = 3) -> list[tuple[str, str, int]]:
    """(name, domain, mails sent) for the outside domains the user writes to most, from the history."""
    from sendguard.history import open_for_check

    store = open_for_check(paths.state_dir())
    if store is None:
        return []
    out: list[tuple[str, str, int]] = []
    names: set[str] = set()
    for domain, sent in store.frequent_domains():
        if (
            sent < min_sent
            or domain in mailsetup.FREEMAIL
            or any(domain == d or domain.endswith("." + d) for d in own_domains)
        ):
            continue
        name = domain.split(".")[0] if domain.count(".") >= 1 else domain
        name = "".join(c if c.isalnum() or c in "-_" else "-" for c in name) or "client"
        if name in names:
            name = domain.replace(".", "-")
        names.add(name)
        out.append((name, domain, sent))
        if len(out) >= limit:
            break
    return out


SENT_FOLDERS = ("Mail/Sent", "Maildir/Sent", "Maildir/.Sent", "mail/Sent", "Mail/sent", ".mail/Sent")


def sent_display_name(addresses: list[str], sent: Path | None = None, limit: int = 200) -> str:
    """The display name on the user's own sent mail: from the learned history, else from the
    From lines of the mail program's Sent maildir (``sent``) or one in a usual place (read
    before anything was learned)."""
    import email.parser
    import email.utils
    from collections import Counter

    from sendguard.history.ledger import own_display_name

    name = own_display_name(paths.state_dir())
    if name:
        return name
    own = {a.lower() for a in addresses}
    names: Counter[str] = Counter()
    parser = email.parser.BytesHeaderParser()
    folders = ([sent] if sent else []) + [mailsetup.home() / f for f in SENT_FOLDERS]
    for folder in folders:
        for sub in ("cur", "new"):
            try:
                files = sorted((folder / sub).iterdir())[-limit:]
            except OSError:
                continue
            for file in files:
                try:
                    with file.open("rb") as fh:
                        headers = parser.parse(fh)
                except (OSError, ValueError):
                    continue  # a file that is no message says nothing about the name
                shown, addr = email.utils.parseaddr(str(headers.get("From", "")))
                if shown.strip() and (not own or addr.lower() in own):
                    names[shown.strip()] += 1
    return names.most_common(1)[0][0] if names else ""


def _toml_string(text: str) -> str:
    text = "".join(c for c in text if c.isprintable())  # a name read from mail: no control characters
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def missing_clients(config) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    """The clients the history proposes whose domain no ``[clients.*]`` table of ``config`` covers
    (named so that no existing table's name is taken)."""
    own = set(config.organization.domains) | {domain_of(normalize_address(a)) for a in config.identity.addresses}
    covered = {d.lower() for c in config.clients.values() for d in c.domains}
    out = []
    for name, domain, sent in propose_clients(own):
        if any(domain == d or domain.endswith("." + d) for d in covered):
            continue
        if name in config.clients:
            name = domain.replace(".", "-")
        if name not in config.clients:
            out.append((name, domain, sent))
    return out


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items) + "]"


def starter_config(
    msmtp: mailsetup.MsmtpConfig | None,
    transport: list[str],
    clients: list[tuple[str, str, int]],
    name: str = "",
    manager: str = "",
    sent_folder: tuple[Path, str] | None = None,
) -> str:
    """The text of a starter config: valid as written (checked before it is saved)."""
    senders = sorted(set(msmtp.senders.values())) if msmtp else []
    domains = sorted({domain_of(normalize_address(a)) for a in senders} - mailsetup.FREEMAIL)
    lines = [
        "# sendguard configuration, written by `sendguard setup`.",
        "# Every key: `sendguard man config` (sendguard.toml(5)) or `sendguard config keys`.",
        "# Check it: `sendguard doctor`.",
        "",
        "[identity]",
        "# your own addresses (from msmtp's `from` lines)",
        f"addresses = {_toml_list(senders)}",
        "# your name as it signs the drafts of `sendguard oops` (from your sent mail)",
        f"name = {_toml_string(name)}",
        "",
        "[organization]",
        "# mail to these domains (and their subdomains) is internal",
        f"domains = {_toml_list(domains)}",
        "",
    ]
    for name, domain, sent in clients:
        lines += [
            f"[clients.{name}]",
            f"# proposed from your history: {sent} mails sent to {domain}. "
            "Add project and company names to keywords; delete the table if it is no client.",
            f"domains = {_toml_list([domain])}",
            "keywords = []",
            "",
        ]
    if not clients:
        lines += [
            "# One table per client, for example:",
            "# [clients.kundenfirma]",
            '# domains = ["kundenfirma.example"]',
            '# keywords = ["Falke", "Kundenfirma"]',
            "",
        ]
    lines += [
        "[transport]",
        f"command = {_toml_list(transport)}",
        "",
        "[sendmail]",
        '# "reject": a held message is refused (exit 75) with the reason; "queue": accepted, kept',
        'hold_action = "reject"',
        "# a hold your mail program cannot show (aerc) is also mailed to you, to your own address",
        "notice_mail = true",
        "",
        "[oops]",
        "# who gets the facts after a message reached the wrong person (manager or data protection officer)",
        f"manager = {_toml_string(manager)}",
        "",
    ]
    lines += _sent_lines(sent_folder)
    return "\n".join(lines)


def _sent_lines(sent: tuple[Path, str] | None) -> list[str]:
    why = "# a copy of what sendguard itself delivers later (released, fixed, queue run) goes here"
    if sent is None:
        return ["[sent]", why, '# maildir = "~/Mail/Sent"', ""]
    shown = str(sent[0]).replace(str(mailsetup.home()), "~", 1)
    return ["[sent]", f"{why} ({sent[1]})", f"maildir = {_toml_string(shown)}", ""]


def _shell_path(path: Path) -> str:
    """``path`` as one shell word, under ``~`` when it is in the home directory."""
    import shlex

    try:
        return "~/" + shlex.quote(str(path.relative_to(mailsetup.home())))
    except ValueError:
        return shlex.quote(str(path))


def write_new(path: Path, text: str) -> bool:
    """Create ``path`` (0600, parents 0700) with ``text``; False if it already exists. Never overwrites."""
    paths.ensure_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    return True


def _print_timer() -> None:
    """The systemd user timer that runs `sendguard queue run` (deferred mail goes out by itself)."""
    hooks = mailsetup.shipped_dir("hooks")
    sendguard = mailsetup.installed_executable("sendguard")
    if not (hooks and sendguard and shutil.which("systemctl")):
        return
    units = "~/.config/systemd/user"
    click.echo("\n  systemd (delivers deferred mail every 5 minutes; optional):")
    click.echo(f"    mkdir -p {units}")
    click.echo(
        f"    sed 's|^ExecStart=[^ ]*sendguard |ExecStart={sendguard} |' "
        f"{shlex.quote(str(hooks / 'sendguard-queue.service'))} > {units}/sendguard-queue.service"
    )
    click.echo(f"    cp {shlex.quote(str(hooks / 'sendguard-queue.timer'))} {units}/")
    click.echo("    systemctl --user daemon-reload && systemctl --user enable --now sendguard-queue.timer")


def _add_clients(target: Path) -> None:
    """Add the clients the history proposes to an existing config, keeping its comments."""
    from sendguard.config import edit
    from sendguard.config import schema as config_mod

    config = config_mod.load(target, required=True)
    missing = missing_clients(config)
    if not missing:
        click.echo(f"No client to add: every outside domain you often write to is in {target}.")
        return
    added = set(edit.add_clients(target, missing))
    for name, domain, sent in missing:
        if name in added:
            click.echo(f'added [clients.{name}]  domains = ["{domain}"]   ({sent} mails sent)')
    click.echo(f"Review them in {target}: add keywords, delete a table that is no client.")


@click.command()
@click.option("--dry-run", is_flag=True, help="Print the starter config instead of writing it.")
@click.option(
    "--add-clients",
    is_flag=True,
    help="Add the clients proposed from the learned history to an existing config (comments kept).",
)
@click.pass_obj
def setup(state, dry_run: bool, add_clients: bool) -> None:  # type: ignore[no-untyped-def]
    """Find msmtp and the mail programs, write a starter config, print the lines to add."""
    from sendguard.config import schema as config_mod

    target: Path = state.config_path or paths.config_path()
    if add_clients and not dry_run and target.exists():
        _add_clients(target)
        return
    sendmail = mailsetup.installed_executable("sendguard-sendmail")
    sendmail_text = str(sendmail) if sendmail else "sendguard-sendmail"
    msmtp = mailsetup.find_msmtp()
    transport = ["msmtp"]
    if msmtp:
        accounts = ", ".join(f"{a} → {f}" for a, f in msmtp.senders.items()) or "no `from` lines"
        click.echo(f"msmtp: {msmtp.path} ({accounts})")
        if msmtp.path not in mailsetup.msmtp_candidates(None):
            transport = ["msmtp", "-C", str(msmtp.path)]
    else:
        click.echo(
            "msmtp: no config found (~/.msmtprc or $XDG_CONFIG_HOME/msmtp/config); "
            "sendguard hands mail to msmtp, so set it up first (man msmtp)"
        )

    own = {domain_of(normalize_address(a)) for a in (msmtp.senders.values() if msmtp else [])}
    clients = propose_clients(own)
    sent = mailsetup.sent_folder()
    name = sent_display_name(list(msmtp.senders.values()) if msmtp else [], sent[0] if sent else None)
    manager = ""
    if not dry_run and sys.stdin.isatty() and not target.exists():
        manager = click.prompt(
            "Who should get the facts when a message reaches the wrong person "
            "(your manager or data protection officer; empty: nobody)",
            default="",
            show_default=False,
        ).strip()
        if manager and "@" not in manager:
            click.echo(f"  {manager!r} is no address: [oops] manager left empty")
            manager = ""
    text = starter_config(msmtp, transport, clients, name, manager, sent)
    config_mod.parse(text, str(target))  # a starter config that does not load would be a bug
    click.echo("")
    if dry_run:
        click.echo(f"Would write {target}:\n")
        click.echo(text)
    elif write_new(target, text):
        click.echo(f"Wrote {target}.")
        if clients:
            click.echo(f"  Clients proposed from your history: {', '.join(d for _, d, _ in clients)}.")
        click.echo("  Review it: identity, organization, clients.")
        if not manager:
            click.echo(
                '  After a mistake, `sendguard oops` writes the facts for [oops] manager = "ADDRESS": set it there.'
            )
    else:
        click.echo(f"Kept your config {target} (setup never overwrites it).")
        try:
            existing = config_mod.load(target, required=True)
        except ConfigError as err:
            click.echo("  It has problems: " + "; ".join(err.details()))
        else:
            if sent is not None and not existing.sent.maildir:
                click.echo("  To see in your Sent folder what sendguard delivers later, add:")
                for line in _sent_lines(sent)[:-1]:
                    click.echo(f"    {line}")

    click.echo("\nPoint your mail programs at sendguard-sendmail:")
    if sendmail is None:
        click.echo(
            "  (sendguard-sendmail was not found next to sendguard or on PATH; "
            "use the absolute path where pip installed it)"
        )
    shown = 0
    for program in mailsetup.find_mail_programs():
        if not program.found:
            continue
        shown += 1
        status = (
            "already goes through sendguard"
            if program.uses_sendguard
            else ("now sends through " + "; ".join(program.bypasses) if program.bypasses else "not set up yet")
        )
        click.echo(f"\n  {program.name} ({status}) — in {program.where}:")
        for line in program.lines(sendmail_text):
            click.echo(f"    {line}")
    if not shown:
        click.echo(
            "  no mutt, neomutt, aerc or git send-email found; any program that calls a sendmail "
            f"can use {sendmail_text}"
        )
    _print_timer()
    problem = mailsetup.path_problem()
    if problem is not None:
        click.echo(f"\n{problem[0]}; to put it there:\n    {problem[1]}")
    folder = _shell_path(sent[0]) if sent is not None else "~/Mail/Sent"
    click.echo(
        f"\nThen: sendguard learn {folder} ~/Mail/INBOX   (your sent mail and the folder your mail arrives in;"
        " or --notmuch QUERY), and sendguard doctor."
    )
