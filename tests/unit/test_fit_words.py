"""The word evidence of a contact: the kept per-word gains give exactly the plain formula."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Callable
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.history.fit import DIRICHLET_MU, MAX_TOPIC_WORDS, MAX_WORD_GAIN, FitModel
from sendguard.history.store import Contact, HistoryStore


def run_together(jobs: list[Callable[[], None]]) -> None:
    """Each job on a thread of its own, all started before any is waited for."""
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def rarest(vocab: dict[str, tuple[int, int, int]]) -> dict[str, tuple[int, int, int]]:
    """The MAX_TOPIC_WORDS words seen in the fewest messages, the first ones on a tie."""
    ranked = sorted(enumerate(vocab.items()), key=lambda item: (item[1][1][0], item[0]))
    keep = {word for _, (word, _) in ranked[:MAX_TOPIC_WORDS]}
    return {w: v for w, v in vocab.items() if w in keep}


def plain(vocab: dict[str, tuple[int, int, int]], messages: int, contact: Contact, counts: dict) -> float:
    """The formula as first written: every word of the topic (the vocabulary's rarest) in the
    vocabulary's order, its rate computed where it is used, the flat (id, word) -> n counts."""
    vocab = rarest(vocab)
    if not vocab or contact.words == 0:
        return 0.0
    total = 0.0
    for w, (df, _, _) in vocab.items():
        n = counts.get((contact.id, w), 0)
        if not n:
            continue
        p = df / messages
        gain = math.log((n + DIRICHLET_MU * p) / ((contact.words + DIRICHLET_MU) * p))
        total += min(max(gain, 0.0), MAX_WORD_GAIN)
    return total / math.sqrt(len(vocab))


def model_of(store: SimpleNamespace, vocab: dict, messages: int) -> FitModel:
    model = FitModel(store, SimpleNamespace())  # type: ignore[arg-type]
    model.__dict__.update(vocab=vocab, messages=messages)
    return model


WORDS = st.text("abcdefgh", min_size=1, max_size=4)


@given(
    dfs=st.dictionaries(WORDS, st.integers(1, 500), max_size=40),
    extra=st.integers(0, 1000),
    words=st.sampled_from([0, 1, 2, 7, 60, 3000]) | st.integers(0, 3000),
    later=st.integers(0, 3000),
    data=st.data(),
)
def test_word_evidence_is_the_plain_formula_to_the_last_bit(dfs, extra, words, later, data):
    """Several messages against one store, each with its own words in any order. As a kept
    store does, the contact's counts grow between them, each word's decided when it is first
    asked about (no row, or a count; never changed), other words asked about too. Then a copy
    (a store that does not keep them) less a message's words (LeaveOut: zero counts), and
    the same counts with another number of words for the contact or of messages."""
    messages = max(dfs.values(), default=1) + extra
    store = SimpleNamespace(memo={})
    contact = Contact(7, "a@b.example", "", "", "", "b.example", 1, 0, 1, words, 0.0, 0.0)
    kept: dict[str, int] = {}
    asked: set[str] = set()
    pool = list(dfs)
    some = st.lists(st.sampled_from(pool), unique=True) if pool else st.just([])
    for round_ in range(5):
        chosen = data.draw(some)
        vocab = {w: (dfs[w], 0, 0) for w in chosen}
        for w in chosen + data.draw(some):
            if w not in asked:
                asked.add(w)
                n = data.draw(st.integers(0, 60))
                if n:
                    kept[w] = n
        counts = kept
        if round_ == 2:
            less = set(data.draw(some))
            counts = {w: n - (w in less) for w, n in kept.items()}
        elif round_ == 3:  # the same counts, but not the contact's words or the messages: anew
            contact = Contact(7, "a@b.example", "", "", "", "b.example", 1, 0, 1, later, 0.0, 0.0)
        elif round_ == 4:
            messages += data.draw(st.integers(1, 3))
        flat = {(7, w): n for w, n in counts.items()}
        flat[(8, "other")] = 5  # another contact's count is never read
        model = model_of(store, vocab, messages)
        assert model._words(contact, counts) == plain(vocab, messages, contact, flat)


@given(st.lists(st.integers(2, 9), max_size=130))
def test_the_topic_is_the_rarest_words_the_first_on_a_tie(seen):
    """Counts with many ties: the topic holds the MAX_TOPIC_WORDS words of the fewest messages,
    those at the last count taken in the vocabulary's order, and keeps that order."""
    vocab = {f"w{i:03d}": (n, 0, 0) for i, n in enumerate(seen)}
    topic = model_of(SimpleNamespace(memo={}), vocab, 1000).topic
    assert list(topic.items()) == list(rarest(vocab).items())


def test_a_long_message_is_read_for_its_rarest_words_only():
    """Sixty words the history knows: a contact who got only the ten most common of them has no
    word evidence, one who got the rarest has it; with those ten alone, the first has it too."""
    vocab = {f"w{i:02d}": (2 + i, 0, 0) for i in range(60)}
    common, rare = list(vocab)[-10:], list(vocab)[:10]
    usual = Contact(7, "a@b.example", "", "", "", "b.example", 1, 0, 1, 40, 0.0, 0.0)
    other = Contact(8, "c@b.example", "", "", "", "b.example", 1, 0, 1, 40, 0.0, 0.0)
    assert model_of(SimpleNamespace(memo={}), vocab, 1000)._words(usual, dict.fromkeys(common, 30)) == 0.0
    assert model_of(SimpleNamespace(memo={}), vocab, 1000)._words(other, dict.fromkeys(rare, 30)) > 0.0
    few = {w: vocab[w] for w in common}
    assert model_of(SimpleNamespace(memo={}), few, 1000)._words(usual, dict.fromkeys(common, 30)) > 0.0


def test_a_gain_is_kept_for_the_same_counts_and_computed_again_for_others():
    store = SimpleNamespace(memo={})
    contact = Contact(7, "a@b.example", "", "", "", "b.example", 1, 0, 1, 10, 0.0, 0.0)
    counts = {"ledger": 5}
    first = model_of(store, {"ledger": (3, 0, 0)}, 100)
    gain = first._words(contact, counts)
    # a store that keeps its counts hands out the same dict: the gain kept is used
    assert model_of(store, {"ledger": (3, 0, 0)}, 100)._words(contact, counts) == gain
    # one that does not hands out another: computed again from what it says
    assert model_of(store, {"ledger": (3, 0, 0)}, 100)._words(contact, {"ledger": 1}) < gain
    assert model_of(store, {"ledger": (3, 0, 0)}, 50)._words(contact, {"ledger": 5}) != gain


def test_threads_sharing_a_store_read_each_gain_whole():
    """Checks on several threads share the kept gains: one being computed is missing to the
    others (they compute it too), never a provisional value."""
    import sys

    vocab = {f"w{i:03d}": (3 + i % 7, 0, 0) for i in range(300)}
    counts = {w: 1 + i % 5 for i, w in enumerate(vocab)}
    contact = Contact(7, "a@b.example", "", "", "", "b.example", 1, 0, 1, 40, 0.0, 0.0)
    want = plain(vocab, 1000, contact, {(7, w): n for w, n in counts.items()})
    got: list[float] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    try:
        for _ in range(100):
            store = SimpleNamespace(memo={})

            def check(store: SimpleNamespace = store) -> None:
                got.append(model_of(store, vocab, 1000)._words(contact, counts))

            run_together([check] * 4)
    finally:
        sys.setswitchinterval(interval)
    assert len(got) == 400 and set(got) == {want}


class Answers:
    """A store's vocabulary and first-name answers, a new dict each time as the store gives them."""

    def __init__(self, vocab: dict[str, tuple[int, int, int]], names: set[str]) -> None:
        self.answers, self.names, self.memo = vocab, names, {}

    def vocab(self, words: list[str]) -> dict[str, tuple[int, int, int]]:
        return {w: self.answers[w] for w in sorted(words) if w in self.answers}

    def known_first_names(self, words: list[str]) -> set[str]:
        return self.names & set(words)


COUNTS = st.tuples(st.integers(1, 6), st.integers(0, 6), st.integers(0, 6))


@given(st.dictionaries(WORDS, COUNTS, max_size=30), st.sets(WORDS, max_size=10), st.lists(WORDS, max_size=40))
def test_vocabulary_and_internal_topic_are_the_plain_filters(answers, names, words):
    """Names taken out of the store's dict in place, the rare words only when there are any, the
    topic from the vocabulary itself: the same words in the same order as filtering a copy."""
    from sendguard.history.fit import MIN_INTERNAL_SEEN, MIN_TOPIC_SHARE, MIN_TOPIC_WORDS

    words = list(dict.fromkeys(words))
    store = Answers(answers, names)
    model = FitModel(store, SimpleNamespace(words=words))  # type: ignore[arg-type]
    found = store.vocab(words)
    plain = {w: v for w, v in found.items() if v[0] >= 2 and w not in names}
    assert list(model.vocab.items()) == list(plain.items())
    known = {w: v for w, v in plain.items() if v[0] >= MIN_INTERNAL_SEEN}
    internal = [w for w, (_, inside, outside) in known.items() if inside >= MIN_INTERNAL_SEEN and outside == 0]
    topic = internal if len(internal) >= MIN_TOPIC_WORDS and len(internal) >= MIN_TOPIC_SHARE * len(known) else []
    assert model.internal_topic == topic


def history(counts: dict[int, dict[str, int]], dfs: dict[str, int], messages: int) -> sqlite3.Connection:
    """A history file's tables in memory: each contact's word counts, each word's messages."""
    from sendguard.history.store import SCHEMA

    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.executescript(SCHEMA)
    for i, words in counts.items():
        db.execute(
            "INSERT INTO contacts (id, addr, sent, seen, words) VALUES (?, ?, 1, 1, ?)",
            (i, f"c{i}@x.example", sum(words.values()) + 1),
        )
    db.executemany("INSERT INTO words VALUES (?, ?, ?)", [(i, w, n) for i, ws in counts.items() for w, n in ws.items()])
    db.executemany("INSERT INTO vocab VALUES (?, ?, 0, 0)", list(dfs.items()))
    db.execute("INSERT INTO meta VALUES ('messages', ?)", (str(messages),))
    db.commit()
    return db


def view_of(words: list[str]) -> SimpleNamespace:
    """What fits reads of a message besides its words: nothing (no thread, greeting or quote)."""
    message = SimpleNamespace(subject="")
    return SimpleNamespace(
        words=words, refs=[], message=message, greeting=None, tokens=set(), named=set(), listed={}, forward=True
    )


def plain_words(store: HistoryStore, vocab: dict, contact: Contact) -> float:
    flat = {(contact.id, w): n for w, n in store._contact_words([contact.id], list(vocab))[contact.id].items()}
    return plain(vocab, store.meta("messages"), contact, flat)


FEW_WORDS = st.text("abcd", min_size=1, max_size=2)  # 20 words: contacts, history and messages share them


@settings(max_examples=100, deadline=None)
@given(
    counts=st.dictionaries(st.integers(1, 6), st.dictionaries(FEW_WORDS, st.integers(1, 30), max_size=12), max_size=5),
    dfs=st.dictionaries(FEW_WORDS, st.integers(1, 300), max_size=20),
    messages=st.lists(st.lists(FEW_WORDS, max_size=12), min_size=1, max_size=6),
)
def test_word_evidence_from_the_kept_gains_is_the_plain_formula(counts, dfs, messages):
    """A store that keeps its lookups is asked for counts only for contacts whose kept gains miss
    a word of the message; every contact's evidence is still the plain formula, message after
    message, as from a store that keeps nothing."""
    total = max(dfs.values(), default=1) + 10
    db = history(counts, dfs, total)
    kept, fresh = HistoryStore(db, keep_lookups=True), HistoryStore(db)
    assert kept.keeps_lookups and not fresh.keeps_lookups
    for words in messages:
        words = list(dict.fromkeys(words))
        for store in (kept, fresh):
            model = FitModel(store, view_of(words))  # type: ignore[arg-type]
            contacts = [store.contact(f"c{i}@x.example") for i in counts]
            fits = model.fits(contacts, [])
            for c in contacts:
                assert fits[c.id].words == plain_words(fresh, model.vocab, c)


def test_threads_sharing_a_kept_store_get_the_plain_evidence():
    """Four threads check messages against one store that keeps its lookups: a contact's gains
    are summed without asking for counts only once every word's gain is in."""
    import random
    import sys

    rng = random.Random(7)
    pool = [f"w{i:03d}" for i in range(400)]
    dfs = {w: 2 + i % 9 for i, w in enumerate(pool)}
    counts = {i: {w: 1 + (i + j) % 4 for j, w in enumerate(rng.sample(pool, 150))} for i in range(1, 7)}
    db = history(counts, dfs, 1000)
    messages = [rng.sample(pool, 120) for _ in range(8)]
    reference = HistoryStore(db)
    want = {}
    for k, words in enumerate(messages):
        model = FitModel(reference, view_of(words))  # type: ignore[arg-type]
        for i in counts:
            c = reference.contact(f"c{i}@x.example")
            want[(k, i)] = plain_words(reference, model.vocab, c)
    bad: list[tuple[int, int]] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(15):
            store = HistoryStore(db, keep_lookups=True)

            def check(order: list[int], store: HistoryStore = store) -> None:
                for k in order:
                    model = FitModel(store, view_of(messages[k]))  # type: ignore[arg-type]
                    contacts = [store.contact(f"c{i}@x.example") for i in counts]
                    for c in contacts:
                        if model.fits([c], [])[c.id].words != want[(k, c.id)]:
                            bad.append((k, c.id))

            orders = [rng.sample(range(8), 8) for _ in range(4)]
            run_together([lambda order=order, check=check: check(order) for order in orders])
    finally:
        sys.setswitchinterval(interval)
    assert bad == []
