"""The man pages cover what exists: every command and option, every config key, every rule.

The lists come from the code (sendguard.cli.COMMANDS and the click commands behind it,
sendguard.config.schema.documented_keys(), sendguard.rules.RULES and each rule's options), so a
command, key or rule added without documentation fails here, naming what is missing.

The pages are written in scdoc (man/*.scd); the roff next to them (man/sendguard.1, ...) is what
gets installed. It is generated with ``make -C man`` (scdoc, with the fixed SOURCE_DATE_EPOCH
the Makefile sets) and committed, so installing needs no scdoc; a test fails when it is stale.
"""

from __future__ import annotations

import re

import click

from sendguard.cli import COMMANDS, cli
from sendguard.config import schema as config_mod
from sendguard.errors import ConfigError
from sendguard.rules import RULES, rule_class
from sendguard.sendpath.args import VALUE_OPTIONS
from tests.unit.test_man_render import source


def sections(text: str) -> dict[str, str]:
    """``## heading`` -> the text up to the next ``#``/``##`` heading."""
    out: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("#"):
            current = line.lstrip("#").strip() if line.startswith("## ") else None
            if current is not None:
                out[current] = ""
            continue
        if current is not None:
            out[current] += line + "\n"
    return out


def leaf_commands() -> list[tuple[str, click.Command]]:
    """('queue list', command), ('check', command), ... for every command a person can run."""
    ctx = click.Context(cli)
    out = []

    def walk(prefix: str, command: click.Command) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(f"{prefix} {name}", sub)
        else:
            out.append((prefix, command))

    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None, name
        if not command.hidden:
            walk(name, command)
    return out


def option_names(command: click.Command) -> list[str]:
    return [
        opt
        for p in command.params
        if isinstance(p, click.Option) and not p.hidden
        for opt in [*p.opts, *p.secondary_opts]
        if opt not in ("-h", "--help")
    ]


def _heading_for(heads: dict[str, str], path: str) -> str | None:
    want = f"sendguard {path}"
    return next((h for h in heads if h == want or h.startswith(want + " ")), None)


def test_every_command_and_option_is_in_sendguard_1():
    heads = sections(source("sendguard.1"))
    missing = []
    for path, command in leaf_commands():
        head = _heading_for(heads, path)
        if head is None:
            missing.append(f"command: sendguard {path} (a '## sendguard {path} ...' heading)")
            continue
        for opt in option_names(command):
            if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", heads[head]):
                missing.append(f"option: sendguard {path} {opt}")
    text = source("sendguard.1")
    for opt in option_names(cli):
        if opt not in text:
            missing.append(f"global option: {opt}")
    assert not missing, "missing from man/sendguard.1.scd:\n  " + "\n  ".join(missing)


def test_every_sendmail_option_is_in_sendguard_1():
    head = _heading_for(sections(source("sendguard.1")), "sendmail")
    assert head, "## sendguard sendmail heading"
    body = sections(source("sendguard.1"))[head]
    wanted = [f"-{c}" for c in sorted(VALUE_OPTIONS)] + ["-t", "-i", "-oi", "-oem", "--"]
    missing = [opt for opt in wanted if not re.search(rf"\*{re.escape(opt)}", body)]
    assert not missing, f"sendmail options missing from sendguard.1: {missing}"


def toml_repr(value: object) -> str:
    """A default as the pages show it: in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_repr(v) for v in value) + "]"
    return str(value)


def _key_entries(body: str) -> dict[str, str]:
    """``*key* = ...`` entries of a config section, each with its text."""
    out: dict[str, str] = {}
    current = None
    for line in body.splitlines():
        match = re.match(r"\*([a-z_]+)\*", line)
        if match:
            current = match.group(1)
            out[current] = ""
        elif current:
            out[current] += line + "\n"
    return out


def _examples(heads: dict[str, str]) -> list[tuple[str, str]]:
    """(section, 'key = value') for every 'Example:' line of a [section] (not [rules.ID])."""
    out = []
    for head, body in heads.items():
        if not head.startswith("[") or head == "[rules.ID]":
            continue
        section = head.strip("[]").replace("clients.NAME", "clients.example")
        for match in re.finditer(r"^Example: (.+)$", body, re.M):
            out.append((section, match.group(1).strip()))
    return out


def test_every_config_key_is_in_sendguard_toml_5_with_type_default_and_example():
    heads = sections(source("sendguard.toml.5"))
    missing = []
    for dotted, _type_name, _default, _doc in config_mod.documented_keys():
        section, _, name = dotted.rpartition(".")
        body = heads.get(f"[{section}]")
        if body is None:
            missing.append(f"section [{section}] (a '## [{section}]' heading)")
            continue
        entry = _key_entries(body).get(name)
        if entry is None:
            missing.append(f"key {dotted} (a line '*{name}* = _type_' under ## [{section}])")
            continue
        for part in (f"Default: {toml_repr(_default)}", "Example:"):
            if part not in entry:
                missing.append(f"key {dotted}: no '{part}'")
    for example_section, example in _examples(heads):
        try:
            config_mod.parse(f"[{example_section}]\n{example}\n", "sendguard.toml.5.scd")
        except ConfigError as err:
            missing.append(f"[{example_section}] example does not load: {example!r}: {err.details()[0]}")
    if "[rules.ID]" not in heads or "*action*" not in heads["[rules.ID]"]:
        missing.append("section [rules.ID] with *action*")
    assert not missing, "missing from man/sendguard.toml.5.scd:\n  " + "\n  ".join(dict.fromkeys(missing))


def test_every_rule_and_rule_option_is_in_sendguard_rules_7():
    heads = sections(source("sendguard-rules.7"))
    missing = []
    for rule_id in RULES:
        body = heads.get(rule_id)
        if body is None:
            missing.append(f"rule {rule_id} (a '## {rule_id}' heading)")
            continue
        for option, (_type, default, _doc) in rule_class(rule_id).options.items():
            if f"*{option}*" not in body:
                missing.append(f"rule {rule_id}: option *{option}*")
            elif f"(default {toml_repr(default)})" not in body:
                missing.append(f"rule {rule_id}: option *{option}* with '(default {toml_repr(default)})'")
        if "Example" not in body:
            missing.append(f"rule {rule_id}: no example")
    assert not missing, "missing from man/sendguard-rules.7.scd:\n  " + "\n  ".join(missing)
