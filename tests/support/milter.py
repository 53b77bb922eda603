"""Drive a milter Policy the way the milter process does (sendguard.milter.adapter)."""

from __future__ import annotations

from typing import Any

from sendguard.milter.policy import Outcome, Policy, Transaction


def answer(policy: Policy, tx: Transaction, cancelled: Any = None) -> Outcome:
    """``policy.judge``, and then what the adapter does once it has handed a hold's 550 to the
    MTA: note the copy as told, so that an identical resend may confirm it."""
    outcome = policy.judge(tx, cancelled)
    if outcome.untold:
        policy.told(outcome.entry_id)
    return outcome


class Broken(Policy):
    """A policy whose check raises ``error`` on every message (a rule that breaks on it)."""

    def __init__(self, *args: Any, error: type[BaseException] = RuntimeError, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error = error

    def judge(self, tx: Transaction, cancelled: Any = None) -> Outcome:
        raise self.error("boom")
