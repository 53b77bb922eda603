"""Confusable contacts: who the user could have picked instead of a recipient by mistake.

What autocomplete really confuses (Carvalho & Cohen; the misdirection benchmark's method): the
same first name, the same last name, the same first letters typed, an address a couple of edits
away, a full name a spelling away ("Jon Smyth" for "John Smith", found through the first letters
of both names). Never a second mailing list for a list the user receives mail through: one public
list for another shows nothing to anyone who should not read it, and a patch series goes to a
different list with each patch. Each is one indexed lookup; the near-address one is bounded by a
two-letter range, and rapidfuzz measures the edits only for the few candidates that pass exact
cheap prefilters (so most checks never import it).
"""

from __future__ import annotations

from collections.abc import Iterable

from sendguard.history.names import LOCAL_SPLIT, contact_names
from sendguard.history.store import Contact, HistoryStore, prefix_of

MAX_TWINS = 15
NEAR_EDITS = 2


def edit_distance(a: str, b: str, bound: int = NEAR_EDITS) -> int:
    """Levenshtein distance, capped at ``bound + 1`` (rapidfuzz's ``score_cutoff`` contract).

    Two exact prefilters come first, so rapidfuzz (about 18 ms to import) is loaded only when
    there is a near string to compare: the lengths differ by at most ``bound``, and no more
    than ``2 * bound`` distinct letters occur in only one of them (an edit adds at most one new
    letter and removes at most one).
    """
    if a == b:
        return 0
    over = bound + 1
    if abs(len(a) - len(b)) > bound or len(set(a) ^ set(b)) > 2 * bound:
        return over
    from rapidfuzz.distance import Levenshtein

    return min(Levenshtein.distance(a, b, score_cutoff=bound), over)


def warm() -> None:
    """Import what measuring edits needs (about 18 ms), for a process that checks many mails:
    its first mail with a near address should not pay for it."""
    from rapidfuzz.distance import Levenshtein  # noqa: F401


def near_name(a: str, b: str) -> bool:
    """Two full names a spelling away: at most NEAR_EDITS edits, and at most one in five letters.

    "Jon Smyth" / "John Smith" (2 of 10) and "Katrin Maier" / "Kathrin Meier" (2 of 13) are;
    "Anna Li" / "Anne Lu" (2 of 7) is not: in a short name two letters make another person.
    """
    d = edit_distance(a, b)
    return d <= NEAR_EDITS and 5 * d <= max(len(a), len(b))


def same_person(store: HistoryStore, addr: str, first: str, last: str, other: Contact) -> bool:
    """Two addresses of one person, never twins of each other.

    The same mailbox at another domain (an old job, a private address), or the same last name
    with the same first name, an initial (of the first or a middle name), a short form ("Bill" for William) or a middle
    name in the address ("j.r.smith" and "robert.smith").
    """
    local, other_local = addr.partition("@")[0], other.addr.partition("@")[0]
    if local == other_local and len(local) >= 3:
        return True
    if len(last) < 2 or last != other.last or not first or not other.first:
        return False
    a, b = first, other.first
    if a == b or len(a) == 1 or len(b) == 1:
        return True  # an initial may be the first or the middle one ("t..hodge", Jeffrey T. Hodge)
    if a in store.first_names_of(other) or b in _aliases_of(store, a):
        return True  # a short form of the other's first name, or the other way round
    tokens, other_tokens = set(LOCAL_SPLIT.split(local)), set(LOCAL_SPLIT.split(other_local))
    return a in other_tokens or b in tokens


def _aliases_of(store: HistoryStore, first: str) -> set[str]:
    key = ("aliases", first)
    found = store.memo.get(key)
    if found is None:
        rows = store.db.execute("SELECT alias FROM alias WHERE first = ?", (first,))
        found = store.memo[key] = {r[0] for r in rows} | {first}
    return found  # type: ignore[return-value]


def names_of(store: HistoryStore, addr: str, display: str = "") -> tuple[str, str]:
    contact = store.contact(addr)
    if contact is not None and (contact.first or contact.last):
        return contact.first, contact.last
    return contact_names(display, addr)


def confusables(
    store: HistoryStore, addr: str, display: str = "", exclude: Iterable[str] = ()
) -> list[tuple[Contact, str]]:
    """(contact, why) for each contact the user could have meant instead of ``addr``."""
    key = ("twins", addr, display)
    found = store.memo.get(key)
    if found is None:
        found = store.memo[key] = _candidates(store, addr, display)
    skip = set(exclude)
    ranked = [cw for cw in found if cw[0].addr not in skip]  # type: ignore[attr-defined]
    return ranked[:MAX_TWINS]


def _candidates(store: HistoryStore, addr: str, display: str) -> list[tuple[Contact, str]]:
    """Every confusable contact of ``addr``, best known first (before excluding co-recipients).

    Excluding afterwards gives the same answer as excluding during the lookups (each lookup's
    own limit is applied by sqlite before either), so the result can be kept per process.
    """
    first, last = names_of(store, addr, display)
    found: dict[str, tuple[Contact, str]] = {}
    is_list = bool(store.lists([addr]))

    def add(contacts: list[Contact], why: str) -> None:
        for c in contacts:
            if c.addr != addr and c.addr not in found and not same_person(store, addr, first, last, c):
                found[c.addr] = (c, why)

    if len(first) >= 2:
        add(store.by_first([first], limit=MAX_TWINS), "same first name")
    if len(last) >= 2:
        add(store.by_last(last, limit=MAX_TWINS), "same last name")
    add(store.by_prefix(addr, limit=MAX_TWINS), f"same first letters ({prefix_of(addr)}…)")
    local, _, domain = addr.partition("@")
    letters = set(addr)
    # a typo is in the local part or in the domain, rarely in both
    near = [
        c
        for c in store.near_addresses(addr)
        if abs(len(c.addr) - len(addr)) <= NEAR_EDITS
        and (c.domain == domain or c.addr.startswith(local + "@"))
        and len(letters ^ set(c.addr)) <= 2 * NEAR_EDITS
    ]
    add([c for c in near if edit_distance(c.addr, addr) <= NEAR_EDITS], "nearly the same address")
    if len(first) >= 2 and len(last) >= 2:
        name = f"{first} {last}"
        add(
            [c for c in store.near_names(first, last, limit=MAX_TWINS) if near_name(f"{c.first} {c.last}", name)],
            "a near-identical name",
        )
    if is_list:  # one public list for another publishes nothing to anyone who should not read it
        public = store.lists(found)
        found = {a: cw for a, cw in found.items() if a not in public}
    return sorted(found.values(), key=lambda cw: (-cw[0].sent, -cw[0].seen))
