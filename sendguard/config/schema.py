"""The configuration: one typed model, validated when loaded.

Every key is declared once, with its type, default and ``doc`` (the man page test reads them);
loading reports every problem at once, with file, line and the nearest valid key. Sections use
:func:`section`, not ``@dataclass``: this module is imported on every mail (ARCHITECTURE.md,
"Config").
"""

from __future__ import annotations

import functools
import os
import stat
import typing
from dataclasses import MISSING, Field, dataclass, field, fields  # noqa: F401  (dataclass: sections may still use it)
from pathlib import Path
from typing import Any, Literal, TypeVar, dataclass_transform, get_args, get_origin

from sendguard.errors import ConfigError, ConfigProblem
from sendguard.model import Action
from sendguard.rules import RULES, rule_class


def key(
    default: Any,
    doc: str,
    *,
    least: float | None = None,
    most: float | None = None,
    command: bool = False,
    path: bool = False,
) -> Any:
    """Declare a config key with its default and documentation; a number's value must be
    finite, and within ``least`` .. ``most`` where given; a ``command`` (a list) must name a
    program; a ``path``'s ``~user`` must name a user."""
    if isinstance(default, (list, dict)):
        metadata = {"doc": doc, "command": command}
        return field(default_factory=functools.partial(type(default), default), metadata=metadata)
    return field(default=default, metadata={"doc": doc, "range": (least, most), "path": path})


YEAR = 365 * 86400  # the longest wait or window: beyond it, dates overflow


_T = TypeVar("_T")


@dataclass_transform(field_specifiers=(field,))
def section(cls: type[_T]) -> type[_T]:
    """A light ``@dataclass`` for config sections (see the module docstring for why)."""
    declared: dict[str, Field[Any]] = {}
    for name in cls.__dict__.get("__annotations__", {}):
        value = cls.__dict__.get(name, MISSING)
        f = value if isinstance(value, Field) else field(default=value)
        f.name = name
        declared[name] = f
        if f.default is not MISSING:
            setattr(cls, name, f.default)
        elif name in cls.__dict__:
            delattr(cls, name)

    def __init__(self: Any, *args: Any, **values: Any) -> None:  # noqa: N807
        values.update(zip(declared, args))
        for name, f in declared.items():
            if name in values:
                value = values.pop(name)
            elif f.default_factory is not MISSING:
                value = f.default_factory()
            elif f.default is not MISSING:
                value = f.default
            else:
                raise TypeError(f"{cls.__name__}() needs {name!r}")
            setattr(self, name, value)
        if values:
            raise TypeError(f"{cls.__name__}() got unexpected {', '.join(sorted(values))}")

    def __eq__(self: Any, other: Any) -> bool:  # noqa: N807
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in declared)

    def __repr__(self: Any) -> str:  # noqa: N807
        return f"{cls.__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in declared)})"

    cls.__init__ = __init__  # type: ignore[method-assign]
    cls.__eq__ = __eq__  # type: ignore[method-assign]
    cls.__repr__ = __repr__  # type: ignore[method-assign]
    cls.__hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq
    cls.__config_keys__ = declared  # type: ignore[attr-defined]
    return cls


def _keys(cls: type) -> dict[str, Field[Any]]:
    """The declared keys of a section, whether made with :func:`section` or ``@dataclass``."""
    declared = cls.__dict__.get("__config_keys__")
    return declared if declared is not None else {f.name: f for f in fields(cls)}


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The evaluated annotations of a section, once per class (they are strings until asked)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


@section
class IdentitySection:
    """Who the user is."""

    addresses: list[str] = key([], "The user's own addresses. Mail from them counts as sent when learning.")
    name: str = key("", "The user's name: signs `sendguard oops` drafts and stands in their From (setup fills it).")


@section
class OrganizationSection:
    """The user's own organization: mail to these domains is internal."""

    domains: list[str] = key([], "Domains of the organization. Subdomains count too.")
    name: str = key("", "The organization's name, used in incident records.")


@section
class ClientSection:
    """One client (``[clients.NAME]``): who belongs to it and which words name it."""

    domains: list[str] = key([], "The client's mail domains. Subdomains count too.")
    keywords: list[str] = key([], "Project and company names that identify this client in a text.")
    addresses: list[str] = key([], "Contacts of this client at other domains (e.g. freemail).")


@section
class TransportSection:
    """How accepted mail leaves."""

    command: list[str] = key(
        ["msmtp"], "The transport and its arguments; the caller's sendmail options are appended.", command=True
    )
    timeout: float = key(
        300.0, "Seconds the transport may take before it counts as failed (temporary).", least=1, most=YEAR
    )


@section
class SendmailSection:
    """What the sendmail interface does with held mail."""

    hold_action: Literal["reject", "queue"] = key(
        "reject",
        "reject: exit 75 and explain on stderr (the mail program keeps or forgets its copy; "
        "sendguard keeps one). queue: exit 0 and keep it until `sendguard release ID`.",
    )
    confirm_window: int = key(
        600, "Seconds within which sending the identical message again confirms a hold.", least=0, most=YEAR
    )
    duplicate_window: int = key(
        86400,
        "Seconds within which a message that already left (same Message-ID, same content) is held "
        "instead of sent again; 0: never compare.",
        least=0,
        most=YEAR,
    )
    notify: bool = key(True, "Show a desktop notification (notify-send) when a message is held.")
    notice_mail: bool = key(
        True,
        "When a message is held or blocked and the mail program shows nothing sendguard writes "
        "(silent_callers, or standard error is /dev/null), also mail a notice to your own [identity] "
        "address through the transport: the reasons, the id and the way out, in your inbox.",
    )
    silent_callers: list[str] = key(
        ["aerc"],
        "Mail programs (process names) that show nothing sendguard writes: sending a held message "
        "again from them does not confirm it, and holds and warnings reach you as notices "
        "(sendguard review, the next sendguard command, a desktop notification; a hold also as a "
        "notice mail, notice_mail).",
    )
    resident: bool = key(
        True,
        "Keep a checker process running between mails (it stops after resident_idle seconds without "
        "mail): each mail then costs a small client instead of a Python start-up with every rule. "
        "false: every mail is checked in a process of its own.",
    )
    resident_idle: int = key(600, "Seconds without mail after which the resident checker stops.", least=0, most=YEAR)


@section
class CheckSection:
    """Bounds on the checking of one message."""

    budget: float = key(
        2.0,
        "Seconds the content checks of one message may take. What is not read by then (attachments, "
        "content rules) makes the message unreadable-message's finding (default: hold), never a silent pass.",
        least=0,
        most=YEAR,
    )


@section
class ListSection:
    """Addresses and domains."""

    addresses: list[str] = key([], "Addresses, compared case-insensitively.")
    domains: list[str] = key([], "Domains; subdomains count too.")


@section
class DelaySection:
    """The undo window: accepted mail waits before it leaves."""

    seconds: int = key(0, "Seconds every accepted message waits before delivery (0: none).", least=0, most=YEAR)
    outside_seconds: int = key(
        0,
        "Seconds a message with a recipient outside the organization waits (0: use `seconds`).",
        least=0,
        most=YEAR,
    )
    rules: list[str] = key([], "Rule ids whose findings (of any severity) make a message wait `rule_seconds`.")
    rule_seconds: int = key(
        0,
        "Seconds a message waits when one of `rules` found something (the longest delay wins).",
        least=0,
        most=YEAR,
    )


@section
class HistorySection:
    """What sendguard learned from the user's mail."""

    learn_delivered: bool = key(True, "Add every delivered message to the history.")


@section
class JudgementSection:
    """How the recipient model is fitted to the user's mail (at learn time)."""

    false_holds: float = key(
        0.01,
        "The false-hold budget: the share of ordinary sent mail the recipient model may hold, "
        "measured on the user's own held-out mail when it is fitted (0.01: one in a hundred).",
        least=0,
        most=1,
    )


@section
class LogSection:
    """The incident log."""

    enabled: bool = key(True, "Write an incident record for every decision.")
    notmuch: bool = key(True, "Index the incident log in sendguard's own notmuch database.")


@section
class QueueSection:
    """The local queue."""

    keep_days: int = key(
        30, "Days delivered and discarded messages are kept (for `sendguard oops`).", least=0, most=36500
    )


@section
class DraftsSection:
    """Where `sendguard undo` and `sendguard oops` leave drafts for the mail program."""

    maildir: str = key(
        "",
        "A maildir for drafts, e.g. the mail program's Drafts folder (empty: $XDG_DATA_HOME/sendguard/drafts).",
        path=True,
    )


@section
class SentSection:
    """Where the mail sendguard itself delivers from the queue is filed."""

    maildir: str = key(
        "",
        "A maildir (the mail program's Sent folder) that gets a copy, marked seen, of every message sendguard "
        "itself delivers from the queue: released, fixed in review, after the undo window, by `queue run`. "
        "Empty: none.",
        path=True,
    )


@section
class OopsSection:
    """`sendguard oops`: after a message reached the wrong person."""

    manager: str = key("", "Who gets the facts after a mistake (manager or DPO); empty: no such draft.")
    privacy_contact: str = key(
        "", "The data protection officer or privacy contact named in the breach record (GDPR art. 33(3)(b))."
    )


@section
class MilterSection:
    """`sendguard milter`: the same checks on a Postfix or Sendmail server, for a whole team."""

    hold: Literal["reject", "quarantine"] = key(
        "reject",
        "reject: a held message gets 550 5.7.1 at the end of DATA with the reason and the way out "
        "(send it again unchanged within confirm_window to send it anyway). quarantine: it goes to "
        "Postfix's hold queue for an administrator (`sendguard queue list --postfix`).",
    )
    state_dir: str = key(
        "",
        "Where the milter keeps each sender's history and its held copies (empty: $XDG_DATA_HOME/sendguard/milter).",
        path=True,
    )
    confirm_window: int = key(
        600, "Seconds within which sending the identical message again confirms a hold.", least=0, most=YEAR
    )
    timeout: float = key(
        20.0,
        "Seconds one message may take to check; past that the milter answers 451 4.3.0 and the "
        "client tries again later (never an unchecked message, never a lost one).",
        least=1,
        most=YEAR,
    )
    workers: int = key(
        2,
        "Check processes: each judges one message at a time, so this many are checked at once "
        "(one per core is right; 0: check in the milter process itself, on one thread).",
        least=0,
        most=1024,
    )
    learn: bool = key(True, "Add every message the milter lets through to its sender's history.")
    notify: bool = key(
        True,
        "Mail the sender a notice for each message held: what, why (every reason, with its "
        "suggestion) and the way out; with reject also one line when a resend sends it anyway "
        "(some mail programs, neomutt among them, show no SMTP error at all).",
    )
    notice_command: list[str] = key(
        ["/usr/sbin/sendmail", "-i", "-t"],
        "How a notice mail is submitted (a sendmail command; -t reads To).",
        command=True,
    )
    postfix_config: str = key(
        "", "The Postfix configuration directory `queue --postfix` passes to postqueue/postsuper (empty: the default)."
    )
    keep_days: int = key(
        30,
        "Days the milter keeps its copy of a held, blocked or confirmed message after it last changed; "
        "a copy of a message still in Postfix's hold queue is kept whatever its age.",
        least=0,
        most=36500,
    )


@section
class RuleConfig:
    """``[rules.ID]``: ``action`` plus the options the rule declares."""

    action: Action | None = None
    options: dict[str, Any] = field(default_factory=dict)


@section
class Config:
    """The whole configuration. ``Config()`` is the embedded default."""

    identity: IdentitySection = field(default_factory=IdentitySection)
    organization: OrganizationSection = field(default_factory=OrganizationSection)
    clients: dict[str, ClientSection] = field(default_factory=dict)
    transport: TransportSection = field(default_factory=TransportSection)
    sendmail: SendmailSection = field(default_factory=SendmailSection)
    check: CheckSection = field(default_factory=CheckSection)
    rules: dict[str, RuleConfig] = field(default_factory=dict)
    allow: ListSection = field(default_factory=ListSection)
    block: ListSection = field(default_factory=ListSection)
    delay: DelaySection = field(default_factory=DelaySection)
    history: HistorySection = field(default_factory=HistorySection)
    judgement: JudgementSection = field(default_factory=JudgementSection)
    log: LogSection = field(default_factory=LogSection)
    queue: QueueSection = field(default_factory=QueueSection)
    drafts: DraftsSection = field(default_factory=DraftsSection)
    sent: SentSection = field(default_factory=SentSection)
    oops: OopsSection = field(default_factory=OopsSection)
    milter: MilterSection = field(default_factory=MilterSection)
    path: Path | None = None
    """The file it was read from (None for the embedded default)."""

    def actions(self) -> dict[str, Action]:
        return {rule: rc.action for rule, rc in self.rules.items() if rc.action is not None}

    def rule_option(self, rule_id: str, name: str) -> Any:
        """An option of a rule: the configured value or the rule's declared default."""
        rc = self.rules.get(rule_id)
        if rc is not None and name in rc.options:
            return rc.options[name]
        return rule_class(rule_id).options[name][1]


# Sections that are a table of named sub-tables rather than keys.
SECTIONS: dict[str, type] = {
    "identity": IdentitySection,
    "organization": OrganizationSection,
    "transport": TransportSection,
    "sendmail": SendmailSection,
    "check": CheckSection,
    "allow": ListSection,
    "block": ListSection,
    "delay": DelaySection,
    "history": HistorySection,
    "judgement": JudgementSection,
    "log": LogSection,
    "queue": QueueSection,
    "drafts": DraftsSection,
    "sent": SentSection,
    "oops": OopsSection,
    "milter": MilterSection,
}
TABLE_SECTIONS = ("clients", "rules")


def nearest(word: str, choices: typing.Iterable[str]) -> str | None:
    """The closest valid name, for 'did you mean'. Only runs on the error path."""
    choices = list(choices)
    if not choices:
        return None
    from rapidfuzz import fuzz, process

    match = process.extractOne(word, choices, scorer=fuzz.ratio, score_cutoff=60)
    return match[0] if match else None


def _elsewhere(key_name: str) -> str | None:
    """Where a key of this name is, when it was put in the wrong table or before any table
    (``hold_action`` at the top, ``seconds`` under [sendmail]): "sendmail.hold_action"."""
    found = [f"{section}.{key_name}" for section, cls in SECTIONS.items() if key_name in _keys(cls)]
    return "' or '".join(found) or None  # shown as: did you mean 'a.x' or 'b.x'?


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    if origin is list:
        inner = get_args(tp)[0]
        plural = {str: "strings", int: "integers", float: "numbers", bool: "booleans"}
        return f"a list of {plural.get(inner) or _type_name(inner)}"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


def _check_value(value: Any, tp: Any) -> bool:
    origin = get_origin(tp)
    if origin is Literal:
        return value in get_args(tp)
    if origin is list:
        (inner,) = get_args(tp)
        return isinstance(value, list) and all(_check_value(v, inner) for v in value)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _key_path(line: str, pos: int) -> tuple[list[str], int] | None:
    """The dotted key starting at ``line[pos]`` (bare, "basic" or 'literal' parts) and the
    offset after it, or None where no key starts."""
    import json
    import re

    parts: list[str] = []
    while True:
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if line.startswith('"', pos):
            end = pos + 1
            while end < len(line) and line[end] != '"':
                end += 2 if line[end] == "\\" else 1
            if end >= len(line):
                return None
            try:
                parts.append(json.loads(line[pos : end + 1]))
            except ValueError:
                parts.append(line[pos + 1 : end])
            pos = end + 1
        elif line.startswith("'", pos):
            end = line.find("'", pos + 1)
            if end < 0:
                return None
            parts.append(line[pos + 1 : end])
            pos = end + 1
        else:
            found = re.compile(r"[A-Za-z0-9_-]+").match(line, pos)
            if found is None:
                return None
            parts.append(found.group())
            pos = found.end()
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if not line.startswith(".", pos):
            return parts, pos
        pos += 1


def _in_range(value: float, bounds: tuple[float | None, float | None]) -> bool:
    """Whether a number is finite and within its key's bounds (either may be None)."""
    least, most = bounds
    if value != value or value in (float("inf"), float("-inf")):  # nan, or infinite
        return False
    return (least is None or value >= least) and (most is None or value <= most)


class _Locator:
    """Finds the line of a key in the source text (tomllib has no positions): under its
    ``[table]`` header (a comment after the header is fine), as a dotted key
    (``sendmail.hold_action = 5``) or inside an inline table (``sendmail = { hold_action = 5 }``).
    Lines inside multi-line strings are not read as keys. Read on the first ``find``: only an
    error needs a line."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._entries: list[tuple[int, str, bool]] | None = None

    @property
    def entries(self) -> list[tuple[int, str, bool]]:
        """(line, the full dotted path a header or key line names, whether it opens an inline table)"""
        if self._entries is None:
            self._entries = self._scan(self.text)
        return self._entries

    @staticmethod
    def _scan(text: str) -> list[tuple[int, str, bool]]:
        entries: list[tuple[int, str, bool]] = []
        table: list[str] = []
        closing = ""  # the delimiter of the multi-line string a line is inside
        for number, line in enumerate(text.splitlines(), 1):
            if closing:
                if closing in line:
                    closing = ""
                continue
            stripped = line.lstrip()
            if stripped.startswith("["):
                found = _key_path(stripped, 2 if stripped.startswith("[[") else 1)
                if found is not None and stripped.startswith("]", found[1]):
                    table = found[0]
                    entries.append((number, ".".join(table), False))
                continue
            found = _key_path(stripped, 0)
            if found is None or not stripped.startswith("=", found[1]):
                continue
            value = stripped[found[1] + 1 :].lstrip()
            entries.append((number, ".".join([*table, *found[0]]), value.startswith("{")))
            for delim in ('"""', "'''"):
                if value.startswith(delim) and delim not in value[3:]:
                    closing = delim
        return entries

    def find(self, section: str, key_name: str | None = None) -> int | None:
        target = f"{section}.{key_name}" if key_name else section
        best: tuple[int, int] | None = None  # (length of the path matched, line)
        for number, path, inline in self.entries:
            if path == target:
                return number
            if key_name is None and path.startswith(target + "."):
                return number  # the section written as dotted keys or an inline table
            if inline and target.startswith(path + ".") and (best is None or len(path) > best[0]):
                best = (len(path), number)
        return best[1] if best else None


def _build_section(cls: type, data: Any, name: str, ctx: _Loader) -> Any:
    if not isinstance(data, dict):
        ctx.problem(name, None, f"must be a table [{name}]")
        return cls()
    known = _keys(cls)
    values = {}
    for k, v in data.items():
        f = known.get(k)
        if f is None:
            ctx.problem(name, k, "unknown key", nearest(k, known) or _elsewhere(k))
            continue
        tp = _hints(cls)[k]
        if not _check_value(v, tp):
            choices = [str(a) for a in get_args(tp)] if get_origin(tp) is Literal else []
            ctx.problem(name, k, f"expected {_type_name(tp)}, got {v!r}", nearest(str(v), choices))
            continue
        if f.metadata.get("command") and not (v and v[0].strip()):
            ctx.problem(name, k, f"expected a program and its arguments, got {v!r}")
            continue
        user = v[1:].split("/", 1)[0] if f.metadata.get("path") and v.startswith("~") else ""
        if user and os.path.expanduser(v).startswith("~"):  # unknown: pathlib's expanduser raises RuntimeError
            ctx.problem(name, k, f"{v!r}: there is no user {user!r} on this machine (~/ is your own home)")
            continue
        if tp in (int, float) and not _in_range(v, f.metadata.get("range", (None, None))):
            least, most = f.metadata.get("range", (None, None))
            span = f"from {least:.10g} to {most:.10g}" if least is not None and most is not None else "that is finite"
            ctx.problem(name, k, f"expected a number {span}, got {v!r}")
            continue
        values[k] = v
    return cls(**values)


class _Loader:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.locator = _Locator(text)
        self.problems: list[ConfigProblem] = []

    def problem(self, section: str, key_name: str | None, what: str, suggestion: str | None = None) -> None:
        line = self.locator.find(section, key_name) or self.locator.find(section)
        dotted = f"{section}.{key_name}" if key_name else section
        self.problems.append(ConfigProblem(self.file, line, dotted, what, suggestion))

    def load(self, data: dict[str, Any]) -> Config:
        config = Config()
        for section, value in data.items():
            if section in SECTIONS:
                setattr(config, section, _build_section(SECTIONS[section], value, section, self))
            elif section == "clients":
                if not isinstance(value, dict):
                    self.problem(section, None, "must be tables [clients.NAME]")
                    continue
                for client, table in value.items():
                    config.clients[client] = _build_section(ClientSection, table, f"clients.{client}", self)
            elif section == "rules":
                if not isinstance(value, dict):
                    self.problem(section, None, "must be tables [rules.ID]")
                    continue
                for rule_id, table in value.items():
                    if rule_id not in RULES:
                        self.problem(f"rules.{rule_id}", None, "no such rule", nearest(rule_id, RULES))
                        continue
                    # A table with only `action` needs no options: do not import the rule for it
                    # (`action = "off"` should cost nothing on the send path).
                    only_action = isinstance(table, dict) and set(table) <= {"action"}
                    config.rules[rule_id] = self._rule(
                        rule_id, table, {} if only_action else rule_class(rule_id).options
                    )
            else:
                if isinstance(value, dict):
                    self.problem(section, None, "unknown section", nearest(section, [*SECTIONS, *TABLE_SECTIONS]))
                else:  # a key before any [table]
                    self.problem(section, None, "a key outside any [table]", _elsewhere(section))
        return config

    def _rule(self, rule_id: str, table: Any, options: dict[str, tuple[Any, Any, str]]) -> RuleConfig:
        name = f"rules.{rule_id}"
        rc = RuleConfig()
        if not isinstance(table, dict):
            self.problem(name, None, "must be a table")
            return rc
        for k, v in table.items():
            if k == "action":
                labels = [a.label for a in Action]
                if v in labels:
                    rc.action = Action[v.upper()]
                else:
                    self.problem(name, k, f"expected one of {', '.join(labels)}, got {v!r}", nearest(str(v), labels))
            elif k in options:
                tp = options[k][0]
                if _check_value(v, tp):
                    rc.options[k] = v
                else:
                    self.problem(name, k, f"expected {_type_name(tp)}, got {v!r}")
            else:
                self.problem(name, k, "unknown key", nearest(k, ["action", *options]))
        return rc


def parse(text: str, file: str = "<config>") -> Config:
    """Parse and validate config text; raise ConfigError listing every problem."""
    return _validate(_toml(text, file), text, file)


def _toml(text: str, file: str) -> dict[str, Any]:
    import tomllib  # not at import: with config_cache, a mail rarely needs it

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        line = getattr(err, "lineno", None)  # Python >= 3.14; before, only the text has it
        if line is None:
            import re

            found = re.search(r"\(at line (\d+)", str(err))
            line = int(found.group(1)) if found else None
        opened = _unclosed_at(text, line) if line and _ends_an_array(str(err), text, line) else None
        if opened is not None:  # tomllib notices where the next line cannot be an element
            what = "inline table" if "table" in str(err) else "array"
            problem = f"this {what} is never closed (the parser noticed at line {line})"
            raise ConfigError([ConfigProblem(file, opened, "(syntax)", problem)]) from None
        raise ConfigError([ConfigProblem(file, line, "(syntax)", str(err))]) from None


def _ends_an_array(error: str, text: str, line: int) -> bool:
    """Whether the error is tomllib meeting the next key or table inside an array left open: it
    says "Unclosed array", or "Invalid value" after a trailing comma."""
    if error.startswith("Unclosed"):
        return True
    import re

    lines = text.splitlines()
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    return error.startswith("Invalid value") and bool(
        re.match(r"\s*(\[\[?[\w.\"' -]+\]\]?\s*(#.*)?$|[\w.\"'-]+\s*=)", here)
    )


def _unclosed_at(text: str, before_line: int) -> int | None:
    """The line where the outermost array or inline table still open before ``before_line``
    was opened, skipping strings, comments and table headers; None when none is open."""
    stack: list[int] = []
    in_value = False  # after a key's "=" on its line, or inside brackets
    i, line, n = 0, 1, len(text)
    while i < n and line < before_line:
        c = text[i]
        if c == "\n":
            line += 1
            in_value = bool(stack)
        elif c == "#":
            end = text.find("\n", i)
            i = n if end == -1 else end
            continue
        elif c in "\"'":
            delim = c * 3 if text.startswith(c * 3, i) else c
            j = i + len(delim)
            while j < n and not text.startswith(delim, j) and (len(delim) == 3 or text[j] != "\n"):
                j += 2 if c == '"' and text[j] == "\\" else 1
            line += text.count("\n", i, j)
            i = j + len(delim)
            continue
        elif c == "=" and not stack:
            in_value = True
        elif c in "[{" and in_value:
            stack.append(line)
        elif c in "]}" and stack:
            stack.pop()
        i += 1
    return stack[0] if stack else None


def _validate(data: dict[str, Any], text: str, file: str) -> Config:
    loader = _Loader(file, text)
    config = loader.load(data)
    if loader.problems:
        raise ConfigError(loader.problems)
    return config


def _decode(raw: bytes, file: str) -> str:
    """The file's text; where it is not UTF-8, or starts with a byte order mark (which TOML
    readers refuse as an 'invalid statement'), a ConfigError naming the line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        problem = f"not UTF-8 (byte 0x{raw[err.start]:02x} at column {column}); save the file as UTF-8"
        raise ConfigError([ConfigProblem(file, line, "(file)", problem)]) from None
    if text.startswith("\ufeff"):
        problem = "starts with a byte order mark (U+FEFF); save the file as UTF-8 without one"
        raise ConfigError([ConfigProblem(file, 1, "(file)", problem)])
    return text


MAX_CONFIG_BYTES = 1024 * 1024


def _read_config(file: Path) -> bytes:
    """The file's bytes. A FIFO (opening it would wait for a writer) and anything past
    MAX_CONFIG_BYTES (``--config /dev/zero`` read until memory ran out) are config errors."""
    mode = os.stat(file).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise ConfigError([ConfigProblem(str(file), None, "(file)", "is a FIFO or a socket, not a config file")])
    with open(file, "rb") as f:
        raw = f.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        problem = f"is larger than {MAX_CONFIG_BYTES // 1024} KiB: is it the config file?"
        raise ConfigError([ConfigProblem(str(file), None, "(file)", problem)])
    return raw


def load(path: Path | None, *, required: bool = False) -> Config:
    """Load the config file at ``path``; the embedded default when it does not exist.

    ``required`` (an explicit ``--config``) turns a missing file into an error.
    """
    from sendguard import paths
    from sendguard.config import cache as config_cache

    file = path or paths.config_path()
    cached = config_cache.read(file, paths.state_dir())
    if cached is not None:
        loader = _Loader(str(file), "")
        config = loader.load(cached)
        if not loader.problems:
            config.path = file
            return config
        # valid when cached, not now (sendguard changed): the file gives the errors their lines
    key = config_cache.key_of(file)
    try:
        raw = _read_config(file)
    except FileNotFoundError:
        if required:
            raise ConfigError([ConfigProblem(str(file), None, "(file)", "no such file")]) from None
        return Config()
    except OSError as err:
        raise ConfigError(
            [ConfigProblem(str(file), None, "(file)", f"cannot be read: {err.strerror or err}")]
        ) from None
    text = _decode(raw, str(file))
    data = _toml(text, str(file))
    config = _validate(data, text, str(file))
    config_cache.write(key, data, paths.state_dir())
    config.path = file
    return config


def documented_keys() -> list[tuple[str, str, Any, str]]:
    """Every key: (dotted name, type, default, doc). The man page check reads this."""
    out = []
    for section, cls in [*SECTIONS.items(), ("clients.NAME", ClientSection)]:
        hints = _hints(cls)
        for f in _keys(cls).values():
            default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[operator]  # MISSING was ruled out
            out.append((f"{section}.{f.name}", _type_name(hints[f.name]), default, f.metadata.get("doc", "")))
    return out
