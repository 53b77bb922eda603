"""Run the rules over one message and decide: the pure core shared by ``check`` and ``sendmail``.

``check_message`` does no I/O of its own beyond what rules read (the history store), never
delivers and never writes: ``sendguard check`` is the send path's dry run.
A rule that crashes is itself a finding (fail closed: the message is held, the traceback is
not shown to the person but the rule and error are named), never a lost message.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from sendguard.config.schema import Config
from sendguard.decide.decision import Decision, decide
from sendguard.history.fit import Read
from sendguard.mail.message import CONTROL_CHARS, NOT_IN_BARE_ADDRESS, OutgoingMessage, normalize_address
from sendguard.model import Action, Finding, Severity
from sendguard.rules import CONTENT_RULES, Rule, load_rules
from sendguard.rules.context import CheckContext


class CheckResult(NamedTuple):  # not a dataclass: see sendmail_args.SendmailArgs
    message: OutgoingMessage
    envelope: list[str]
    decision: Decision
    read: Read | None = None
    """The recipient model's subject, body and words, when it read them (MessageView.read)."""


def _argument_addresses(argv_recipients: Iterable[str]) -> Iterator[str]:
    """Each address the recipient arguments name (sendmail accepts "a@x,b@y" as one argument)."""
    for arg in argv_recipients:
        for part in arg.split(","):
            addr = part.strip(" ")
            if addr:
                yield addr


def recipients_for(message: OutgoingMessage, argv_recipients: Iterable[str], read_headers: bool) -> list[str]:
    """The recipient list handed to the transport, each address once (case kept).

    The argv ones (sendmail accepts "a@x,b@y" as one argument), plus — with -t, or when argv
    names none — the ones ``sendmail -t`` reads from the headers (message.sendmail_recipients).
    A recipient argument with a line break, angle bracket or space is refused (UsageError)."""
    seen: dict[str, str] = {}
    for addr in _argument_addresses(argv_recipients):
        bad = sorted(NOT_IN_BARE_ADDRESS.intersection(addr))
        if bad:
            from sendguard.errors import UsageError
            from sendguard.printable import printable

            shown = printable(addr.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t"))
            raise UsageError(
                f"the recipient argument {shown} contains {', '.join(repr(c) for c in bad)}; "
                "give each address bare, as its own argument"
            )
        seen.setdefault(normalize_address(addr), addr)
    if read_headers or not seen:
        for box in message.sendmail_recipients:
            seen.setdefault(normalize_address(box.addr), box.addr)
    return list(seen.values())


def refuse_guessed_envelope(message: OutgoingMessage, argv_recipients: Iterable[str], read_headers: bool) -> None:
    """Raise MessageReadError when the recipients would be read from a header block with a NUL
    byte or a bare CR: readers disagree about where its fields end (msmtp ends a line at a NUL
    and reads a bare CR as part of it; others start a new field there), so any envelope would be
    a guess. The send path keeps such a message as unreadable (exit 65), and release refuses it
    until it is fixed. (``recipients_for`` itself still reads it: learning and evaluating old
    mail must not stop at one odd message.)"""
    from sendguard.mail.addresses import AMBIGUOUS_BYTES

    if not read_headers and any(_argument_addresses(argv_recipients)):
        return  # the envelope is the arguments

    block = message.header_block
    found = [problem for problem in block.problems if problem in AMBIGUOUS_BYTES]
    if not found:
        _refuse_control_characters(message)
        return
    from sendguard.errors import MessageReadError

    head = message.raw[: block.end]
    where = min(i for i in (head.find(b"\0"), _bare_cr(head)) if i >= 0)
    line = head.count(b"\n", 0, where) + 1
    what = " and ".join(AMBIGUOUS_BYTES[problem] for problem in found)
    raise MessageReadError(
        f"the message's header has {what} in line {line}; programs disagree on where its fields "
        "end, so who would get it cannot be known",
        hints=["fix the message in your mail program and send it again"],
    )


def _refuse_control_characters(message: OutgoingMessage) -> None:
    """Raise MessageReadError when a To, Cc or Bcc address holds a control character: the
    transport or the server would send it to another address than the one judged."""
    for box in message.sendmail_recipients:
        bad = sorted(CONTROL_CHARS.intersection(box.addr))
        if bad:
            from sendguard.errors import MessageReadError
            from sendguard.printable import printable

            raise MessageReadError(
                f"the recipient address {printable(box.addr)} contains {', '.join(repr(c) for c in bad)}; "
                "no server takes it as written, so who would get it cannot be known",
                hints=["fix the address in your mail program and send it again"],
            )


def _bare_cr(head: bytes) -> int:
    """The offset of the first CR not followed by a LF, or -1."""
    pos = head.find(b"\r")
    while pos >= 0 and head[pos + 1 : pos + 2] == b"\n":
        pos = head.find(b"\r", pos + 1)
    return pos


def envelope_for(message: OutgoingMessage, argv_recipients: Iterable[str], read_headers: bool) -> list[str]:
    """The recipients the message will go to, normalised (recipients_for, lower-cased)."""
    return [normalize_address(addr) for addr in recipients_for(message, argv_recipients, read_headers)]


def check_message(
    message: OutgoingMessage,
    config: Config,
    *,
    envelope: list[str],
    state_dir: Path,
    options: tuple[str, ...] = (),
    now: float | None = None,
) -> CheckResult:
    actions = config.actions()
    context = CheckContext(
        config=config,
        envelope=envelope,
        now=time.time() if now is None else now,
        state_dir=state_dir,
        options=options,
    )
    context.deadline = time.monotonic() + config.check.budget
    findings: list[Finding] = []
    off = frozenset(rule for rule, action in actions.items() if action is Action.OFF)
    rules, content = _rule_set(off)
    spent = False
    for rule in rules:
        if rule in content and (spent or time.monotonic() > context.deadline):
            if not spent:
                message.problem(
                    f"too large or complex to read fully: checked {content.index(rule)} of {len(content)} "
                    f"content checks within the time budget ({config.check.budget:g} s)"
                )
            spent = True
            continue
        try:
            findings.extend(rule.check(message, context))
        except (RecursionError, MemoryError) as err:
            findings.append(
                Finding(
                    "unreadable-message",
                    Severity.HOLD,
                    f"The message is too complex to check ({type(err).__name__} in {rule.id}).",
                    evidence=rule.id,
                )
            )
        except Exception as err:  # noqa: BLE001 — a broken rule must hold the mail, not lose it
            # sqlite's errors (a damaged history) have a fix the person can run
            hint = " `sendguard doctor` checks the history it read." if type(err).__module__ == "sqlite3" else ""
            findings.append(
                Finding(
                    "internal-error",
                    Severity.HOLD,
                    f"The rule {rule.id} failed ({type(err).__name__}: {err}); "
                    f"the message was held because it could not be checked.{hint}",
                    evidence=rule.id,
                )
            )
    view = context.cache.get("recipients.view")
    read = view.read() if view is not None else None
    # The rules' shared memos refer to the context (the fit model's organization lookup does):
    # a cycle that would keep the message's parsed view alive until the garbage collector ran,
    # and with it a 200 MB message beside the next thing that reads the kept file.
    context.cache.clear()
    # A person's "false alarm" marks make that rule one step milder for that contact.
    from sendguard.decide import false_alarms

    marks = false_alarms.load(state_dir)
    if marks:
        findings = false_alarms.demote(findings, marks, envelope)
    return CheckResult(message, envelope, decide(findings, actions, _demoted(context)), read)


@functools.lru_cache(maxsize=64)
def _rule_set(off: frozenset[str]) -> tuple[list[Rule], list[Rule]]:
    """(the rules to run, those of them about content), once per process and set of rules off:
    a rule keeps nothing of a message."""
    # unreadable-message last: it reports what the others could not read (within the budget)
    rules = sorted(load_rules(skip=off), key=lambda rule: rule.id == "unreadable-message")
    content = [rule for rule in rules if rule.id in CONTENT_RULES and rule.id != "unreadable-message"]
    return rules, content


def _demoted(context: CheckContext) -> dict[str, str]:
    """What the judgement fitted to the user's mail only lets warn (decide.train), if a rule
    opened the history; mechanism -> why, for the evidence."""
    store = context.__dict__.get("history")  # never opened here only to read this
    if store is None:
        return {}
    from sendguard.history.judgement import judgement_of

    config = context.config
    judgement = judgement_of(
        store, config.rule_option("namesake", "hold_margin"), config.rule_option("namesake", "warn_margin")
    )
    return judgement.demotions()
