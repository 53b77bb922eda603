"""False alarms: the person said "this hold was wrong" for a rule and a contact.

One mark per (rule, contact) in ``$XDG_DATA_HOME/sendguard/false-alarms.json`` (0600, replaced
atomically); :func:`demote` turns that rule's findings about that contact one step milder, so
the rule alone no longer holds mail to them while an independent signal still does
(ARCHITECTURE.md, "False alarms"). Reading the file is cheap, so the send path may consult it.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sendguard.mail.message import normalize_address
from sendguard.model import Finding, Severity

FILE_NAME = "false-alarms.json"


@functools.lru_cache(maxsize=256)
def _path(state_dir: Path) -> Path:
    """The marks file of a state directory (the send path and the milter ask per message)."""
    return state_dir / FILE_NAME


def load(state_dir: Path) -> dict[tuple[str, str], int]:
    """(rule, contact) -> how many times it was marked a false alarm."""
    path = _path(state_dir)
    try:
        os.stat(path)  # most people never mark one: a failed stat is cheaper than a failed open
    except FileNotFoundError:
        return {}
    except OSError:
        pass  # read_text says what it is
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {
        (m["rule"], m["contact"]): int(m.get("count", 1))
        for m in data.get("marks", [])
        if isinstance(m, dict) and "rule" in m and "contact" in m
    }


def record(state_dir: Path, meta: Mapping[str, Any], *, now: float | None = None) -> list[tuple[str, str]]:
    """Mark every warning or hold of a queued message's findings as a false alarm.

    Findings about the message as a whole are marked for each of its recipients. Returns the
    (rule, contact) pairs marked.
    """
    from sendguard.clock import now_iso
    from sendguard.fsutil import atomic_write
    from sendguard.paths import ensure_private_dir
    from sendguard.rules import CONTENT_RULES

    envelope = [normalize_address(a) for a in meta.get("envelope", [])]
    pairs: dict[tuple[str, str], None] = {}
    for finding in meta.get("findings", []):
        if finding.get("severity") not in ("warn", "hold") or finding.get("rule") in CONTENT_RULES:
            continue
        contacts = [normalize_address(finding["recipient"])] if finding.get("recipient") else envelope
        for contact in contacts:
            pairs[(str(finding.get("rule")), contact)] = None
    if not pairs:
        return []
    ensure_private_dir(state_dir)
    try:
        data = json.loads(_path(state_dir).read_text())
    except (FileNotFoundError, ValueError):
        data = {"version": 1, "marks": []}
    marks = {(m["rule"], m["contact"]): m for m in data.get("marks", []) if isinstance(m, dict)}
    stamp = now_iso(now)
    for rule, contact in pairs:
        mark = marks.setdefault((rule, contact), {"rule": rule, "contact": contact, "count": 0})
        mark.update(count=int(mark.get("count", 0)) + 1, last=stamp, entry=meta.get("id"))
    data["marks"] = list(marks.values())
    atomic_write(_path(state_dir), json.dumps(data, indent=1, ensure_ascii=False).encode())
    _tell_history(state_dir, list(pairs))
    return list(pairs)


def _tell_history(state_dir: Path, pairs: list[tuple[str, str]]) -> None:
    """Hand each mark to the history's per-contact, per-rule "don't ask again" when it exists."""
    try:
        from sendguard.history import trust as history_trust
    except ImportError:  # the history is optional: our own record above is what counts then
        return
    for rule, contact in pairs:
        history_trust.trust(state_dir, contact, rule)


def demote(
    findings: Iterable[Finding], marks: dict[tuple[str, str], int], envelope: Iterable[str] = ()
) -> list[Finding]:
    """Findings with one step less weight where the person marked (rule, recipient) false.

    A finding about the message as a whole was marked for each recipient (see :func:`record`),
    so it is demoted when every recipient of this message carries that mark."""
    from sendguard.rules import CONTENT_RULES

    recipients = [normalize_address(a) for a in envelope]
    out = []
    for finding in findings:
        if finding.rule in CONTENT_RULES:  # marked by an older version: about a message, not a contact
            out.append(finding)
            continue
        if finding.recipient:
            marked = bool(marks.get((finding.rule, normalize_address(finding.recipient))))
        else:
            marked = bool(recipients) and all(marks.get((finding.rule, a)) for a in recipients)
        if marked and finding.severity in (Severity.WARN, Severity.HOLD):
            finding = replace(finding, severity=Severity(finding.severity - 1))
        out.append(finding)
    return out
