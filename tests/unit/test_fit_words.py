"""The word evidence of a contact: the precomputed per-word rates give exactly the plain formula."""

from __future__ import annotations

import math
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from sendguard.history.fit import DIRICHLET_MU, MAX_WORD_GAIN, FitModel
from sendguard.history.store import Contact


def plain(vocab: dict[str, tuple[int, int, int]], messages: int, contact: Contact, counts: dict) -> float:
    """The formula as first written: every word, its rate computed where it is used."""
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


@given(
    dfs=st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4), st.integers(1, 500), max_size=40),
    extra=st.integers(0, 1000),
    words=st.integers(0, 3000),
    seen=st.data(),
)
def test_word_evidence_is_the_plain_formula_to_the_last_bit(dfs, extra, words, seen):
    messages = max(dfs.values(), default=1) + extra
    vocab = {w: (df, 0, 0) for w, df in dfs.items()}
    contact = Contact(7, "a@b.example", "", "", "", "b.example", 1, 0, 1, words, 0.0, 0.0)
    counts = {(7, w): seen.draw(st.integers(0, 60)) for w in vocab}
    counts[(8, "other")] = 5  # another contact's count is never read
    model = SimpleNamespace(vocab=vocab, messages=messages)
    model._word_rates = FitModel._word_rates.func(model)
    assert FitModel._words(model, contact, counts) == plain(vocab, messages, contact, counts)
