"""msmtp's aliases, expanded by sendguard before the check, so msmtp never expands them after it.

msmtp replaces a *local* recipient (no ``@``) by the addresses its aliases file lists for it (an
account's ``aliases``, or ``--aliases=FILE``), and a ``default:`` entry catches every other local
one. Left to msmtp, that happens after sendguard judged the envelope. So the send path asks
msmtp which file it would use for this account (``--pretend``), expands the local recipients as
msmtp would, and judges the result; the transport is then called with ``--aliases=`` (unset), so
what leaves is exactly what was judged (ARCHITECTURE.md, "The envelope checked is the envelope
sent"). A file that cannot be read, or that msmtp would refuse, keeps the message (exit 78).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from sendguard.errors import SendguardError
from sendguard.exitcodes import ExitCode
from sendguard.mail.message import NOT_IN_BARE_ADDRESS, normalize_address
from sendguard.printable import printable

# msmtp's aliases.c: lines of at most MAXLINE - 2 characters, at most MAXTOKS addresses on one
# line (it drops the rest silently: refused here), nesting at most MAXDEPTH deep.
MAXLINE = 512
MAXTOKS = 32
MAXDEPTH = 16
UNSET = "--aliases="
"""msmtp's option that turns its own alias expansion off, whatever its config says."""
_SPACE = " \t\n\v\f\r"  # C's isspace


class AliasesError(SendguardError):
    """The recipients msmtp's aliases would send the message to cannot be known."""

    exit_code = ExitCode.CONFIG


def is_local(addr: str) -> bool:
    """What msmtp expands: a recipient without an ``@``."""
    return bool(addr) and "@" not in addr


def is_msmtp(command: Sequence[str], environ: Mapping[str, str] | None = None) -> bool:
    """The transport is msmtp itself (also through a link such as Debian's /usr/sbin/sendmail)."""
    if not command:
        return False
    program = command[0]
    path = program if "/" in program else shutil.which(program, path=(environ or os.environ).get("PATH"))
    return os.path.basename(os.path.realpath(path) if path else program) == "msmtp"


def expand(
    command: Sequence[str],
    options: Sequence[str],
    recipients: list[str],
    header: bytes,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> tuple[list[str], dict[str, list[str]]]:
    """(the recipients with each local one replaced as msmtp would replace it, each address once;
    local name -> the addresses it became, for those it changed). ``options``: the sendmail options the transport gets
    (they may choose the account); ``header``: the message's header block (``--read-envelope-from``
    chooses the account by its From). No local recipient: the list as it is, and no msmtp run."""
    local = [addr for addr in recipients if is_local(addr)]
    if not local:
        return recipients, {}
    names = ", ".join(printable(addr) for addr in local)
    if not is_msmtp(command, environ):
        raise AliasesError(
            f"{names} has no domain, and the transport {printable(command[0] if command else '')} may turn it "
            "into addresses sendguard never checked",
            hints=["write the full address (name@domain)"],
        )
    path = aliases_file(command, options, header, environ=environ, cwd=cwd)
    if path is None:
        return recipients, {}
    try:
        with open(os.path.join(cwd or "", path), "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise AliasesError(
            f"msmtp's aliases file {printable(path)} cannot be read ({err.strerror or err}); "
            f"msmtp would replace {names} from it",
            hints=["fix the file or msmtp's aliases setting, then `sendguard release` the message"],
        ) from None
    table = parse(data, path)
    out: dict[str, str] = {}
    became: dict[str, list[str]] = {}
    for addr in recipients:
        try:
            found = _replace(addr, table, 0) if is_local(addr) else [addr]
        except RecursionError:  # msmtp's words
            raise AliasesError(
                f"msmtp's aliases file {printable(path)}: too many redirects when expanding {printable(addr)}",
                hints=["fix the file, then `sendguard release` the message"],
            ) from None
        if found != [addr]:
            became[addr] = found
        for each in found:
            out.setdefault(normalize_address(each), each)
    return list(out.values()), became


def aliases_file(
    command: Sequence[str],
    options: Sequence[str],
    header: bytes,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> str | None:
    """The aliases file msmtp would use with these options (None: none), as ``msmtp --pretend``
    prints it: the same config files, account choice and command-line overrides. Its
    passwordeval is unset for that run (it would ask for a passphrase for nothing)."""
    env = dict(environ if environ is not None else os.environ)
    env["LC_ALL"] = "C"  # "(not set)" untranslated
    argv = [*command, *options, "--pretend", "--passwordeval="]
    try:
        proc = subprocess.run(argv, input=header, capture_output=True, env=env, cwd=cwd, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise AliasesError(f"msmtp could not be asked which aliases file it uses ({err})") from None
    said = proc.stdout.decode("utf-8", "surrogateescape")
    for line in said.splitlines():
        if line.startswith("aliases = ") and proc.returncode == 0:
            value = line[len("aliases = ") :]
            return None if value == "(not set)" else value
    why = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
    raise AliasesError(
        "msmtp could not say which aliases file it would use"
        + (f": {printable(why[-1])}" if why else f" (exit {proc.returncode})")
    )


def parse(data: bytes, path: str) -> dict[str, list[str]]:
    """An aliases file as msmtp 1.8 reads it (aliases.c): ``name: addr, addr`` per line, ``#``
    to the end of the line a comment; what msmtp refuses, or would read otherwise than it is
    written, is an AliasesError naming the line."""
    table: dict[str, list[str]] = {}
    lines = data.split(b"\n")  # msmtp reads with fgets: a line ends at LF only
    ends = [True] * (len(lines) - 1) + [False]
    for number, (raw, newline) in enumerate(zip(lines, ends), start=1):
        if len(raw) + newline >= MAXLINE - 1:
            raise _refused(path, number, f"too long (msmtp reads lines of at most {MAXLINE - 3} characters)")
        if b"\0" in raw:
            raise _refused(path, number, "a NUL byte")
        line = raw.decode("utf-8", "surrogateescape").split("#", 1)[0].strip(_SPACE)
        if not line:
            continue
        parts = [part.strip(_SPACE) for part in line.split(":")]
        if len(parts) != 2:
            raise _refused(path, number, "single ':' delimiter expected")
        name, listed = parts
        if not is_local(name):
            raise _refused(path, number, f"invalid alias {printable(name)!r}")
        if name in table:
            raise _refused(path, number, f"duplicate alias {printable(name)!r}")
        addresses = [addr.strip(_SPACE) for addr in listed.split(",")]
        if len(addresses) > MAXTOKS:
            raise _refused(path, number, f"more than {MAXTOKS} addresses (msmtp would drop the rest)")
        for addr in addresses:
            bad = sorted(NOT_IN_BARE_ADDRESS.intersection(addr))
            if not addr or bad:
                what = f"the address {printable(addr)!r} contains {bad}" if addr else "an empty address"
                raise _refused(path, number, what)
        table[name] = addresses
    return table


def _refused(path: str, number: int, what: str) -> AliasesError:
    return AliasesError(
        f"msmtp's aliases file {printable(path)}, line {number}: {what}",
        hints=["fix the file, then `sendguard release` the message"],
    )


def _replace(name: str, table: dict[str, list[str]], depth: int) -> list[str]:
    """What msmtp sends a local ``name`` to: its entry, else ``default``'s, else itself; local
    names in an entry are replaced in turn, at most MAXDEPTH deep (aliases.c's expand_alias).

    Every local recipient, as msmtp's manual says: msmtp 1.8.23 itself skips one that directly
    follows a replaced one ("a b c" became "1@x b 3@x", measured); here "b" is replaced too."""
    if depth > MAXDEPTH:
        raise RecursionError(name)
    entry = table.get(name, table.get("default"))
    if entry is None:
        return [name]
    out: list[str] = []
    for addr in entry:
        out.extend(_replace(addr, table, depth + 1) if is_local(addr) else [addr])
    return out
