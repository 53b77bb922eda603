"""The vocabulary shared by detect, decide and act: severities, verdicts, findings.

Enums and frozen dataclasses instead of strings, so a typo is an error and not a silent pass.
Their ``.label`` is the lower-case word the outside interface uses (``check --json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum


class _Labelled(IntEnum):
    """An IntEnum whose ``label`` is its name in lower case."""

    @property
    def label(self) -> str:
        return self.name.lower()


class Severity(_Labelled):
    """How much a single finding weighs. Ordered: a higher one is more serious."""

    INFO = 0
    WARN = 1
    HOLD = 2
    BLOCK = 3


class Verdict(_Labelled):
    """What happens to the message. Ordered like Severity."""

    PASS = 0
    WARN = 1
    HOLD = 2
    BLOCK = 3

    @classmethod
    def from_label(cls, label: str) -> Verdict:
        return cls[label.upper()]


class Action(_Labelled):
    """What ``[rules.ID] action`` may say about a rule's findings."""

    OFF = -1
    INFO = 0
    WARN = 1
    HOLD = 2
    BLOCK = 3


@dataclass(frozen=True)
class Finding:
    """One thing a rule noticed. Rules return these; they never act on them.

    ``message`` is a sentence for a person. ``recipient`` is the address concerned, if any;
    ``suggestion`` the address the user most likely meant; ``evidence`` the text that
    triggered it, already masked where secret.

    A rule gives HOLD or BLOCK only for evidence that is conclusive on its own (a checksum-valid
    IBAN to an outsider, a private key, a greeting *and* a topic that point at someone else);
    weak signals are WARN or INFO, and decision.py holds only when independent ones agree.

    ``kind`` names which of a rule's reasons this is, where a rule has several that the learned
    judgement weighs apart (namesake: margin, typo, dormant, reply, crossing); not in the JSON.
    """

    rule: str
    severity: Severity
    message: str
    recipient: str | None = None
    suggestion: str | None = None
    evidence: str | None = None
    kind: str | None = None

    @property
    def mechanism(self) -> str:
        """The rule, and the reason within it when it has several ("namesake:dormant")."""
        return f"{self.rule}:{self.kind}" if self.kind else self.rule

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = self.severity.label
        del data["kind"]
        return data
