"""The user's mail setup as sendguard finds it: msmtp, mutt, neomutt, aerc and git send-email.

Shared by ``sendguard setup`` (which proposes a config and the lines to add) and ``sendguard
doctor`` (which checks that every mail program really goes through sendguard). It only reads
files and asks ``git config``; it never writes anything, so both commands can call it freely.

Parsing is deliberately shallow — the last ``set sendmail=`` in a muttrc, ``outgoing =`` per aerc
account, ``from`` per msmtp account — because the aim is to tell a person what to change, not to
reimplement each program's config language. ``source``d files and conditionals are not followed;
what is not found is reported as "not found", never guessed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sendguard.mail.providers import FREEMAIL as FREEMAIL  # setup and doctor read it here


def home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def xdg_config() -> Path:
    value = os.environ.get("XDG_CONFIG_HOME")
    return Path(value) if value and os.path.isabs(value) else home() / ".config"


def installed_executable(name: str) -> Path | None:
    """The absolute path of an installed sendguard script, as mail programs should be pointed at it.

    The directory of the running ``sendguard`` first (a venv's bin is often not on PATH), then
    the interpreter's bin, then PATH. Not resolved through symlinks: a venv's python is one.
    """
    candidates = []
    if sys.argv and sys.argv[0]:
        candidates.append(Path(sys.argv[0]).absolute().parent / name)
    candidates.append(Path(sys.executable).absolute().parent / name)
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    return Path(found).absolute() if found else None


def path_problem() -> tuple[str, str] | None:
    """Why typing ``sendguard`` would not run this sendguard, and how to fix it; None when it would.

    Every message names commands (``sendguard release ID``, ``sendguard review``); from a
    checkout's venv they end in "command not found" until its ``bin`` is reachable.
    """
    mine = installed_executable("sendguard")
    if mine is None:
        return None
    found = shutil.which("sendguard")
    if found and os.path.samefile(found, mine):
        return None
    fix = f"mkdir -p ~/.local/bin && ln -s {mine} ~/.local/bin/"
    local_bin = str(home() / ".local" / "bin")
    if local_bin in os.environ.get("PATH", "").split(os.pathsep):
        fix += "   (~/.local/bin is on your PATH)"
    else:  # Debian's ~/.profile puts it on PATH only if it exists when you log in
        fix += (
            "   (~/.local/bin is not on your PATH yet: log in again, as Debian's ~/.profile adds it"
            ' once it exists, or: export PATH="$HOME/.local/bin:$PATH")'
        )
    if found:
        return f"`sendguard` on PATH is {found}, not this one ({mine})", fix
    return '`sendguard` is not on PATH: the commands its messages name say "command not found"', fix


def install_prefixes() -> list[Path]:
    """Where an installed sendguard's data files (man pages, hooks) are: ``PREFIX/share``.

    pip puts them under the prefix of the scheme it installed the package with, which is not
    always ``sys.prefix``: Debian's own pip installs into ``/usr/local`` (its ``sys.prefix`` is
    ``/usr``), ``--user`` into ``~/.local``, ``--prefix DIR`` into DIR. Every POSIX scheme has the
    packages in ``PREFIX/lib/pythonX.Y/site-packages`` (``dist-packages`` on Debian), so the
    prefix is three levels above the directory that holds the package; ``sys.prefix`` after it.
    """
    site = Path(__file__).resolve().parents[3]
    found = [site.parents[2]] if len(site.parents) > 2 and site.parents[1].name in ("lib", "lib64") else []
    return list(dict.fromkeys([*found, Path(sys.prefix)]))


def shipped_dir(name: str) -> Path | None:
    """``hooks`` or ``man`` as shipped: the source tree (editable install) or ``PREFIX/share/sendguard``."""
    tree = Path(__file__).resolve().parents[3]  # a checkout's, or the site-packages directory
    bases = [tree / name] if (tree / "pyproject.toml").is_file() else []
    bases += [prefix / "share" / "sendguard" / name for prefix in install_prefixes()]
    return next((base for base in bases if base.is_dir()), None)


# -- msmtp ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MsmtpConfig:
    path: Path
    senders: dict[str, str]
    """account name -> its ``from`` address (accounts without one are left out)."""


def msmtp_candidates(transport: list[str] | None = None) -> list[Path]:
    """Where msmtp reads its config: ``-C``/``--file`` in the transport command, else its defaults."""
    out: list[Path] = []
    args = list(transport or [])
    for i, arg in enumerate(args):
        if arg == "-C" and i + 1 < len(args):
            out.append(Path(args[i + 1]).expanduser())
        elif arg.startswith("--file="):
            out.append(Path(arg.split("=", 1)[1]).expanduser())
    return out or [home() / ".msmtprc", xdg_config() / "msmtp" / "config"]


def parse_msmtprc(text: str) -> dict[str, str]:
    senders: dict[str, str] = {}
    defaults_from = ""
    account = None
    for raw in text.splitlines():
        words = raw.strip().split(None, 1)
        if not words or words[0].startswith("#"):
            continue
        head, rest = words[0], (words[1].strip() if len(words) > 1 else "")
        if head == "defaults":
            account = None
        elif head == "account":
            name, _, parent = rest.partition(":")  # "account NAME : PARENT" inherits PARENT
            account = name.strip()
            inherited = senders.get(parent.strip()) if parent else None
            if inherited or defaults_from:
                senders[account] = inherited or defaults_from
        elif head == "from":
            if account is None:
                defaults_from = rest
            else:
                senders[account] = rest
    return {name: addr for name, addr in senders.items() if "@" in addr}


def find_msmtp(transport: list[str] | None = None) -> MsmtpConfig | None:
    for path in msmtp_candidates(transport):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        return MsmtpConfig(path, parse_msmtprc(text))
    return None


# -- mail programs -------------------------------------------------------------------------------


@dataclass
class MailProgram:
    """One mail program: where its config is and what it sends through now."""

    name: str
    installed: bool
    config: Path | None
    where: str
    """Where the lines go, for a person ("~/.muttrc", "each account in accounts.conf")."""
    settings: list[tuple[str, str]] = field(default_factory=list)
    """(what, current value): the sendmail setting(s) found, e.g. ("set sendmail", "/usr/bin/msmtp")."""

    @property
    def found(self) -> bool:
        return self.installed or self.config is not None or bool(self.settings)

    @property
    def uses_sendguard(self) -> bool:
        return bool(self.settings) and all("sendguard" in value for _, value in self.settings)

    @property
    def bypasses(self) -> list[str]:
        """Settings that send past sendguard."""
        return [f"{what} = {value}" for what, value in self.settings if "sendguard" not in value]

    def lines(self, sendmail: str) -> list[str]:
        quoted = shlex.quote(sendmail)
        if self.name in ("mutt", "neomutt"):
            return [f'set sendmail = "{sendmail}"']
        if self.name == "aerc":
            # aerc shows only "exit status 75" for a hold and throws sendguard's text away; its
            # own :term runs the review in a tab, where the reason and the fix are.
            review = Path(sendmail).with_name("sendguard")
            review_text = str(review) if review.is_file() else "sendguard"
            return [
                f"outgoing = {sendmail}",
                '# held ("exit status 75"): in aerc type',
                f"#   :term {review_text} review",
                "# to see why and send, fix or discard it; then n closes aerc's copy",
            ]
        hook = shipped_dir("hooks")
        out = [f"git config --global sendemail.sendmailCmd {quoted}", "git config --global sendemail.validate true"]
        if hook:
            out.append(f"cp {shlex.quote(str(hook / 'sendemail-validate'))} REPO/.git/hooks/   # in each repository")
        return out


def _first_existing(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


_MUTT_SENDMAIL = re.compile(r"""^\s*set\s+sendmail\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))""")


def _mutt_like(name: str, paths: list[Path]) -> MailProgram:
    config = _first_existing(paths)
    settings = []
    if config:
        value = None
        for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _MUTT_SENDMAIL.match(line)
            if match:
                value = next(g for g in match.groups() if g is not None)
        if value is not None:
            settings.append(("set sendmail", value))
    shown = str(config or paths[0]).replace(str(home()), "~", 1)
    return MailProgram(name, bool(shutil.which(name)), config, shown, settings)


def _aerc() -> MailProgram:
    path = xdg_config() / "aerc" / "accounts.conf"
    settings = []
    if path.is_file():
        account = "?"
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            stripped = line.strip()
            if stripped.startswith("[") and stripped.endswith("]"):
                account = stripped[1:-1]
            elif re.match(r"outgoing\s*=", stripped):
                settings.append((f"[{account}] outgoing", stripped.split("=", 1)[1].strip()))
    shown = str(path).replace(str(home()), "~", 1) + " (each account)"
    return MailProgram("aerc", bool(shutil.which("aerc")), path if path.is_file() else None, shown, settings)


def _git_config(name: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "config", "--global", "--get", name], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def _git() -> MailProgram:
    installed = bool(shutil.which("git"))
    settings = []
    if installed:
        for key_name in ("sendemail.sendmailCmd", "sendemail.smtpServer"):
            value = _git_config(key_name)
            if value:
                settings.append((key_name, value))
    return MailProgram("git send-email", installed and _has_send_email(), None, "~/.gitconfig", settings)


def _has_send_email() -> bool:
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, timeout=10, check=False)
    return (Path(exec_path.stdout.strip()) / "git-send-email").exists()


def find_mail_programs() -> list[MailProgram]:
    """mutt, neomutt, aerc and git send-email, each whether found or not."""
    h, x = home(), xdg_config()
    return [
        _mutt_like("mutt", [h / ".muttrc", h / ".mutt" / "muttrc", x / "mutt" / "muttrc"]),
        _mutt_like("neomutt", [h / ".neomuttrc", x / "neomutt" / "neomuttrc", h / ".neomutt" / "neomuttrc"]),
        _aerc(),
        _git(),
    ]


# -- the Sent folder ------------------------------------------------------------------------------

_MUTT_SET = re.compile(r"""^\s*set\s+(folder|record)\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))""")
USUAL_SENT = ("Mail/Sent", "Maildir/Sent", "Maildir/.Sent", "mail/Sent", "Mail/sent", ".mail/Sent")


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _expand(value: str, folder: Path) -> Path:
    """A mutt mailbox path: ``+``/``=`` inside ``folder``, ``~`` and ``$HOME`` at home."""
    if value[:1] in ("+", "="):
        return folder / value[1:].lstrip("/")
    if value.startswith("$HOME"):
        value = str(home()) + value[len("$HOME") :]
    return Path(os.path.expanduser(value))


def _mutt_record(config: Path) -> Path | None:
    """mutt's ``record`` (where it files sent mail), with ``+``/``=`` read against ``folder``."""
    found: dict[str, str] = {}
    for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _MUTT_SET.match(line)
        if match:
            found[match.group(1)] = next(g for g in match.groups()[1:] if g is not None)
    if not found.get("record"):
        return None
    folder = _expand(found.get("folder", "~/Mail"), home())
    return _expand(found["record"], folder)


def _aerc_copy_to(path: Path) -> list[Path]:
    """Each aerc account's ``copy-to`` folder, inside its ``source = maildir://...``."""
    out: list[Path] = []
    source = copy_to = None

    def flush() -> None:
        if source and copy_to:
            out.append(Path(os.path.expanduser(source)) / copy_to)

    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            flush()
            source = copy_to = None
        elif re.match(r"source\s*=", stripped):
            value = stripped.split("=", 1)[1].strip()
            source = value.removeprefix("maildir://") if value.startswith("maildir://") else None
        elif re.match(r"copy-to\s*=", stripped):
            copy_to = stripped.split("=", 1)[1].strip() or None
    flush()
    return out


def _aerc_drafts_folders(path: Path) -> list[tuple[Path, str]]:
    """(the account's maildir, its ``postpone`` folder: aerc's Drafts) for each maildir account."""
    out: list[tuple[Path, str]] = []
    source: str | None = None
    postpone = "Drafts"  # aerc's default

    def flush() -> None:
        if source:
            out.append((Path(os.path.expanduser(source)), postpone))

    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            flush()
            source, postpone = None, "Drafts"
        elif re.match(r"source\s*=", stripped):
            value = stripped.split("=", 1)[1].strip()
            source = value.removeprefix("maildir://") if value.startswith("maildir://") else None
        elif re.match(r"postpone\s*=", stripped):
            postpone = stripped.split("=", 1)[1].strip() or "Drafts"
    flush()
    return out


DRAFT_PROGRAMS = ("mutt", "neomutt", "aerc")


def draft_program(sent_with: str = "") -> str:
    """The mail program to open sendguard's drafts in: the one that sent the message, else the
    first that sends through sendguard, else one that is installed (mutt when none is)."""
    if sent_with in DRAFT_PROGRAMS:
        return sent_with
    programs = [p for p in find_mail_programs() if p.name in DRAFT_PROGRAMS]
    for program in programs:
        if program.uses_sendguard:
            return program.name
    return next((p.name for p in programs if p.installed), "mutt")


def open_drafts(drafts: list[Path], drafts_dir: Path, program: str) -> list[str]:
    """How the person opens ``drafts`` (in ``drafts_dir``) in ``program``: commands, one a line.

    mutt and neomutt open a draft file (``-H``). aerc opens drafts only from a folder of its own
    account (``:recall``): where sendguard's drafts maildir is not one, they are copied into the
    account's Drafts (``postpone``) folder."""
    if program in ("mutt", "neomutt"):
        return [f"{program} -H {shlex.quote(str(path))}" for path in drafts]
    accounts: list[tuple[Path, str]] = []
    aerc = xdg_config() / "aerc" / "accounts.conf"
    try:
        accounts = _aerc_drafts_folders(aerc)
    except OSError:
        pass  # no accounts.conf: say where aerc's Drafts usually is
    for root, _ in accounts:
        try:
            folder = drafts_dir.resolve().relative_to(root.resolve())
        except (OSError, ValueError):
            continue
        return [f"in aerc: :cf {folder}  then :recall on each draft"]
    root, postpone = accounts[0] if accounts else (home() / "Mail", "Drafts")
    target = root / postpone
    quoted = " ".join(shlex.quote(str(path)) for path in drafts)
    return [
        f"mkdir -p {shlex.quote(str(target / 'cur'))} && cp {quoted} {shlex.quote(str(target / 'cur'))}/",
        f"in aerc: :cf {postpone}  then :recall on each draft (a folder aerc did not have shows after a restart)",
        f'(for next time, [drafts] maildir = "{_tilde(target)}" in sendguard\'s config puts them there)',
    ]


def _tilde(path: Path) -> str:
    text = str(path)
    mine = str(home())
    return "~" + text[len(mine) :] if text == mine or text.startswith(mine + "/") else text


def sent_folder() -> tuple[Path, str] | None:
    """The mail program's Sent maildir and where it was found: mutt's or neomutt's ``record``,
    aerc's ``copy-to``, else a usual place. None when no maildir is found (an mbox ``record``
    is no maildir: sendguard files only into maildirs)."""
    for program in find_mail_programs():
        if program.config is None or program.name == "git send-email":
            continue
        try:
            candidates = _aerc_copy_to(program.config) if program.name == "aerc" else [_mutt_record(program.config)]
        except OSError:
            continue
        for candidate in candidates:
            if candidate is not None and is_maildir(candidate):
                setting = "copy-to" if program.name == "aerc" else "record"
                return candidate, f"{program.name}'s {setting}"
    for usual in USUAL_SENT:
        if is_maildir(home() / usual):
            return home() / usual, "a usual place"
    return None
