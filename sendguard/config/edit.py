"""Change the user's config file from the review screen, keeping its comments and layout.

The file is the user's: it is edited with tomlkit (a round-trip TOML parser), so comments,
ordering, quoting and blank lines survive and only the touched array grows by one item. The
new text is validated with the same loader the send path uses *before* it replaces the old
file (write-temp-fsync-rename): a change that would break the config is refused, never written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sendguard.config.schema import Config, parse
from sendguard.errors import ConfigError, ConfigProblem
from sendguard.mail.message import domain_of, normalize_address

AllowKind = Literal["address", "domain", "client"]


@dataclass(frozen=True)
class AllowChoice:
    """One thing the person may allow from now on."""

    kind: AllowKind
    value: str
    client: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "address":
            return f"always allow the address {self.value}"
        if self.kind == "domain":
            return f"always allow the domain {self.value}"
        return f"{self.value} belongs to client {self.client}"


def is_outside(addr: str, config: Config) -> bool:
    """Neither one of the user's own addresses nor in the organization's domains."""
    from sendguard.rules.context import domain_matches

    addr = normalize_address(addr)
    if addr in {a.lower() for a in config.identity.addresses}:
        return False
    return not domain_matches(domain_of(addr), config.organization.domains)


def choices_for(addr: str, config: Config) -> list[AllowChoice]:
    """What may be allowed for ``addr``: itself, its domain (not a mail provider's), and (when it
    belongs to no client yet) a pairing with each client. Nothing for the user's own organization: allowing it would
    change nothing the recipient rules say, and would read as if it did."""
    from sendguard.mail.providers import FREEMAIL
    from sendguard.rules.context import domain_matches

    addr = normalize_address(addr)
    if not is_outside(addr, config):
        return []
    out = [AllowChoice("address", addr)]
    if domain_of(addr) and domain_of(addr) not in FREEMAIL:  # gmail.com: that would be everyone
        out.append(AllowChoice("domain", domain_of(addr)))
    known = any(
        addr in {a.lower() for a in client.addresses} or domain_matches(domain_of(addr), client.domains)
        for client in config.clients.values()
    )
    if not known:
        out.extend(AllowChoice("client", addr, name) for name in sorted(config.clients))
    return out


def _append_unique(array: object, value: str) -> bool:
    existing = {str(v).lower() for v in array}  # type: ignore[attr-defined]
    if value.lower() in existing:
        return False
    array.append(value)  # type: ignore[attr-defined]
    return True


def apply_choice(text: str, choice: AllowChoice) -> tuple[str, bool]:
    """The config text with ``choice`` added; False when it was already there."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as err:
        raise ConfigError([ConfigProblem("<config>", getattr(err, "line", None), "(syntax)", str(err))]) from None
    if choice.kind == "client":
        clients = doc.get("clients")
        if clients is None or choice.client not in clients:
            raise ConfigError([ConfigProblem("<config>", None, f"clients.{choice.client}", "no such client")])
        table = clients[choice.client]
        key = "addresses"
    else:
        if "allow" not in doc:
            doc.add(tomlkit.nl())
            doc.add("allow", tomlkit.table())
        table = doc["allow"]
        key = "addresses" if choice.kind == "address" else "domains"
    if key not in table:
        table[key] = tomlkit.array()
    changed = _append_unique(table[key], choice.value)
    return tomlkit.dumps(doc), changed


def allow(config_path: Path, choice: AllowChoice) -> Config:
    """Add ``choice`` to the config file and return the config as now loaded."""
    from sendguard.fsutil import atomic_write
    from sendguard.paths import ensure_private_dir

    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([ConfigProblem(str(config_path), None, "(file)", f"cannot be read: {err}")]) from None
    new_text, changed = apply_choice(text, choice)
    config = parse(new_text, str(config_path))  # refuse to write a config the send path would reject
    config.path = config_path
    if changed:
        target = config_path.resolve()  # a symlinked config (dotfiles) stays a symlink
        ensure_private_dir(target.parent)
        atomic_write(target, new_text.encode("utf-8"))
    return config


def add_clients(config_path: Path, clients: list[tuple[str, str, int]]) -> list[str]:
    """Add a ``[clients.NAME]`` table for each (name, domain, mails sent) to the config file,
    keeping its comments; the names added (a name already there is skipped)."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    from sendguard.fsutil import atomic_write

    try:
        text = config_path.read_text(encoding="utf-8")
        doc = tomlkit.parse(text)
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([ConfigProblem(str(config_path), None, "(file)", f"cannot be read: {err}")]) from None
    except TOMLKitError as err:
        raise ConfigError([ConfigProblem(str(config_path), getattr(err, "line", None), "(syntax)", str(err))]) from None
    if "clients" not in doc:
        doc.add(tomlkit.nl())
        doc.add("clients", tomlkit.table(is_super_table=True))
    section = doc["clients"]
    added = []
    for name, domain, sent in clients:
        if name in section:
            continue
        table = tomlkit.table()
        table.add(
            tomlkit.comment(
                f"proposed from your history: {sent} mails sent to {domain}. "
                "Add project and company names to keywords; delete the table if it is no client."
            )
        )
        table.add("domains", tomlkit.array().multiline(False))
        table["domains"].append(domain)
        table.add("keywords", tomlkit.array())
        section.add(name, table)
        added.append(name)
    if added:
        new_text = tomlkit.dumps(doc)
        parse(new_text, str(config_path))  # refuse to write a config the send path would reject
        atomic_write(config_path.resolve(), new_text.encode("utf-8"))
    return added
