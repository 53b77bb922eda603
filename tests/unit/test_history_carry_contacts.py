"""A reader's contact rows, lists of contacts, near addresses and name and list answers carried
over learned batches (history.store.HistoryStore.carry): the store after a change answers every
contact lookup, and names every confusable contact, as a store read afresh."""

from __future__ import annotations

import random
import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendguard.history import twins
from sendguard.history.store import HistoryStore, open_read_only, path_in
from tests.support import history_fixtures as hf
from tests.support import judgement_world as jw
from tests.unit.test_history_carry import CFG, alter

# New people join later: first names with short forms the history has not seen yet, last names
# and domains the first ones share, addresses that sort before and after every other, so that
# their rows sort into windows and lists read before; people first written to by an initial
# ("k.berger") get their full first name from a later display name; a second list appears.
FIRST = [*jw.FIRST, "william", "robert", "katharina", "elisabeth"]
DOMAINS = [jw.ORG, "client1.example", "client3.example", "client5.example"]
LISTS = ["team@lists.home.example", "news@lists.client1.example"]
LATE = ["aaron.abel@home.example", "zoe.zimmer@client5.example"]


def people(seed: int, n: int = 40) -> list[str]:
    """``n`` addresses, the ones written to only later in the second half."""
    rng = random.Random(seed)
    found: list[str] = []
    while len(found) < n:
        first = rng.choice(FIRST)
        addr = f"{first[0] if rng.random() < 0.2 else first}.{rng.choice(jw.LAST)}@{rng.choice(DOMAINS)}"
        if addr not in found and addr not in LATE:
            found.append(addr)
    return found + LATE


def display(addr: str, late: bool) -> str:
    """How the user's mail program writes the address: an initial's full name only later."""
    first, _, rest = addr.partition(".")
    if len(first) > 1 or not late:
        return addr
    full = next(f for f in FIRST if f.startswith(first))
    return f"{full.title()} {rest.partition('@')[0].title()} <{addr}>"


def mail(everyone: list[str], n: int, seed: int) -> list[bytes]:
    """Sent mail to the first half of ``everyone`` at first, to anyone later; every third message
    received from its first recipient instead, every fifth of those through a mailing list (the
    second list only later)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        late = i >= 40
        pool = everyone if late else everyone[: len(everyone) // 2]
        to = rng.sample(pool, rng.randint(1, 3))
        if late and i % 2 == 0 and LATE[i // 2 % 2] not in to:
            to.append(LATE[i // 2 % 2])  # first written to now, sorting before or after everyone
        body = f"Hallo {to[0].split('.')[0].title()},\n\n" + " ".join(rng.sample(jw.WORDS, 8)) + "\n\nGruss\nMe"
        raw = jw.mail([display(a, late) for a in to], "status", body, f"c{seed}-{i}", 1.7e9 + i * 3 * 3600)
        if i % 3 == 2:
            head, body_part = raw.split(b"\n\n", 1)
            lines = [b"From: " + display(to[0], late).encode(), b"To: " + jw.ME.encode()]
            lines += [line for line in head.split(b"\n") if not line.startswith((b"From:", b"To:"))]
            if i % 5 == 0:
                lines.append(b"List-Post: <mailto:" + LISTS[late].encode() + b">")
            raw = b"\n".join(lines) + b"\n\n" + body_part
        out.append(raw)
    return out


def lookups(store: HistoryStore, addr: str) -> object:
    """Every contact lookup the rules make about one address, as plain values."""
    local, _, domain = addr.partition("@")
    first, _, last = local.partition(".")
    contact = store.contact(addr)
    return (
        contact,
        store.by_first([first]),
        store.by_last(last),
        store.at_domain(domain),
        store.by_prefix(addr),
        store.near_addresses(addr),
        store.near_names(first, last),
        store.full_forms([first]),
        store.forms_of(first),
        store.first_names_of(contact) if contact else None,
        store.known_first_names([first, last, "bill", "kate"]),
        store.lists([addr, *LISTS]),
        twins.confusables(store, addr),
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.integers(1, 10), min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_contact_lookups_carried_over_learned_batches_are_what_sqlite_says(tmp_path_factory, batches, seed):
    state = tmp_path_factory.mktemp("carry-contacts")
    everyone = people(seed)
    raws = mail(everyone, 40 + sum(batches), seed)
    hf.learn_into(state, raws[:40], CFG)
    rng = random.Random(seed)
    store = open_read_only(state)
    assert store is not None
    at = 40
    for n in batches:
        for addr in rng.sample(everyone, len(everyone) // 2):  # people known and not known yet
            lookups(store, addr)
        hf.learn_into(state, raws[at : at + n], CFG)
        at += n
        carried = open_read_only(state)
        assert carried is not None and carried is not store
        assert not store.keeps_lookups  # carried over, not read afresh
        store = carried
    fresh = HistoryStore(sqlite3.connect(f"file:{path_in(state)}?mode=ro", uri=True))
    for addr in everyone:
        assert lookups(store, addr) == lookups(fresh, addr), addr
    fresh.db.close()


def test_a_note_that_does_not_name_the_contacts_carries_counts_only(tmp_path):
    """A batch noted by a version that did not list the contacts it wrote to."""
    everyone = people(1)
    raws = mail(everyone, 50, 1)
    hf.learn_into(tmp_path, raws[:45], CFG)
    store = open_read_only(tmp_path)
    assert store is not None
    for addr in everyone:
        lookups(store, addr)
    store.vocab(["budget"])
    hf.learn_into(tmp_path, raws[45:], CFG)
    db = sqlite3.connect(path_in(tmp_path))
    (notes,) = db.execute("SELECT notes FROM changes ORDER BY seq DESC LIMIT 1").fetchone()
    db.close()
    import json

    older = json.loads(notes)
    for key in ("contacts", "names", "lists"):
        del older[key]
    alter(tmp_path, "UPDATE changes SET notes = ? WHERE seq = (SELECT max(seq) FROM changes)", json.dumps(older))
    after = open_read_only(tmp_path)
    assert after is not None and not store.keeps_lookups  # the counts were carried
    assert not after._contacts and not after._rows and not after._near and not after._lists


def test_an_address_new_at_either_end_joins_the_windows_that_reach_it(tmp_path):
    """One message to two people sorting before and after everyone: only the windows read short
    of their limit on that side reach them."""
    everyone = people(2)
    hf.learn_into(tmp_path, mail(everyone, 120, 2), CFG)
    store = open_read_only(tmp_path)
    assert store is not None
    known = [a for a in everyone if store.contact(a)]
    for addr in known:
        store.near_addresses(addr)
    ends = ["aa.aa@first.example", "zz.zz@last.example"]
    hf.learn_into(tmp_path, [jw.mail(ends, "hello", "Hello,\n\nhi\n", "ends", 1.8e9)], CFG)
    carried = open_read_only(tmp_path)
    assert carried is not None and not store.keeps_lookups
    assert carried._near  # the windows that do not reach either end are carried over
    fresh = HistoryStore(sqlite3.connect(f"file:{path_in(tmp_path)}?mode=ro", uri=True))
    for addr in known:
        assert carried.near_addresses(addr) == fresh.near_addresses(addr), addr
    fresh.db.close()
