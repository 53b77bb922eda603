"""Confirm by sending again: when an identical resend counts as the person's yes.

A held message sent again unchanged within ``[sendmail] confirm_window`` goes out once: the
person read why it was held and says it is right. That is a yes only if they *could* read it:
a mail program that throws the explanation away (aerc shows only ``exit status 75``) turns
the natural retry into a blind confirmation. So a resend confirms only when the caller could
show the hold; otherwise the message stays held, once, and the person confirms knowingly
(``sendguard review``, ``sendguard release ID``).

The queue is passed in (anything with ``find_confirmable`` and ``find_confirmed_thread``):
this module decides, the send path acts.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol


class HeldMail(Protocol):
    def find_confirmable(self, fingerprint: str, window: float, now: float | None = None) -> Any: ...

    def find_confirmed_thread(
        self, envelope: list[str], thread_ids: list[str], rules: list[str], window: float, now: float | None = None
    ) -> Any: ...


class Resend(NamedTuple):
    """What an identical (or same-series) resend of held mail means."""

    kind: str
    """``confirm``: it confirms ``earlier``; ``series``: it belongs to the confirmed series of
    ``earlier``; ``repeat``: ``earlier`` is the same message, still held, and this resend
    cannot confirm it (the caller could not show why it was held)."""
    earlier: Any
    """The queue entry it refers to."""


def resend(
    queue: HeldMail,
    *,
    fingerprint: str,
    envelope: list[str],
    thread: list[str],
    rules: list[str],
    window: float,
    now: float,
    could_show_hold: bool,
) -> Resend | None:
    """What this held message is, as a resend; None: a new hold."""
    earlier = queue.find_confirmable(fingerprint, window, now)
    if earlier is not None:
        return Resend("confirm" if could_show_hold else "repeat", earlier)
    # git send-email sends a series as one call per patch, threaded to the first, and stops at
    # the first held one. Confirming that one confirms the rest of its series: same recipients,
    # same thread, held for nothing the confirmed message was not.
    if thread:
        series = queue.find_confirmed_thread(envelope, thread, rules, window, now)
        if series is not None:
            return Resend("series", series)
    return None
