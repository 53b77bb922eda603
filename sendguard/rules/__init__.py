"""Detect: the rules. One rule per module, each small, each returning findings and never acting.

A rule is a subclass of :class:`Rule` with an ``id`` (kebab-case, stable: configs and
``check --json`` name it), a one-line ``description``, declared ``options`` (validated by
config.py, documented in sendguard-rules(7)) and ``check(message, context) -> list[Finding]``.

RULES maps each id to the module that holds it. Modules are imported when the rule set is
loaded, so a rule must import anything heavy (libmagic, rapidfuzz) inside ``check`` and only
when it has something to look at: a plain-text mail to a known contact must stay cheap.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any, ClassVar

from sendguard.model import Finding

if TYPE_CHECKING:
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules.context import CheckContext

# id -> module name under sendguard.rules. Order is the order findings are reported in.
RULES: dict[str, str] = {
    "unreadable-message": "unreadable_message",
    "blocked-recipient": "blocked_recipient",
    "routed-address": "routed_address",
    "external-recipient": "external_recipient",
    "audience-size": "audience_size",
    "attachment-type": "attachment_type",
    "forgotten-attachment": "forgotten_attachment",
    "sensitive-data": "sensitive_data",
    "secrets": "secrets",
    "first-time-recipient": "first_time_recipient",
    "namesake": "namesake",
    "greeting-mismatch": "greeting_mismatch",
    "internal-to-outside": "internal_to_outside",
    "other-client": "other_client",
    "client-in-internal-thread": "client_in_internal_thread",
    "lookalike-domain": "lookalike_domain",
    "sender-identity": "sender_identity",
}

# The rules about what a message carries, as against who gets it. "[allow]" and a "don't ask
# again" for an address vouch for the person, not for what is sent to them: these rules still
# apply to an allowed or trusted address. Only a "don't ask again" naming one of them
# (`sendguard trust --rule ID`) silences it for that address, and a false alarm never weakens
# them for a contact (it was about that one message).
CONTENT_RULES: frozenset[str] = frozenset(
    {
        "unreadable-message",
        "attachment-type",
        "forgotten-attachment",
        "sensitive-data",
        "secrets",
        "internal-to-outside",
        "other-client",
        "client-in-internal-thread",
    }
)


class Rule:
    """Base class for rules. Subclasses set the class attributes and implement ``check``."""

    id: ClassVar[str]
    description: ClassVar[str]
    options: ClassVar[dict[str, tuple[Any, Any, str]]] = {}
    """option name -> (type, default, doc); read with ``context.config.rule_option(id, name)``."""

    def check(self, message: OutgoingMessage, context: CheckContext) -> list[Finding]:
        raise NotImplementedError


@functools.cache
def rule_class(rule_id: str) -> type[Rule]:
    module = importlib.import_module(f"sendguard.rules.{RULES[rule_id]}")
    return module.RULE  # type: ignore[no-any-return]


def load_rules(skip: frozenset[str] = frozenset()) -> list[Rule]:
    """Instances of every rule not in ``skip`` (rules switched off are not even run)."""
    return [rule_class(rule_id)() for rule_id in RULES if rule_id not in skip]
