"""How well a contact fits this message: the evidence behind namesake and greeting-mismatch.

Instead of "is this recipient unusual?" (which fires on every new contact) the rules ask "is
there a confusable contact this message fits clearly better than the one it is addressed to?".
:class:`Fit` sums independent log-scale signals; which, and why: ARCHITECTURE.md, "The fit of a
contact". The weights are round numbers, not tuned per name or message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, KeysView, Mapping
from dataclasses import dataclass
from itertools import filterfalse, repeat
from operator import itemgetter
from string import ascii_lowercase
from typing import Any, NamedTuple

from sendguard.history.store import Contact, HistoryStore
from sendguard.lazy import cached_property
from sendguard.mail.greetings import (
    MAX_BODY_CHARS,
    MAX_WORDS,
    Greeting,
    ascii_words,
    distinct_words,
    forwards_in_body,
    is_forward,
    is_reply,
    letter_runs,
    lowered_runs,
    names_one_thread,
    parse_greeting,
    subject_key,
)
from sendguard.mail.message import route_of
from sendguard.mail.quoted import Person, QuotedPeople, address_lines, quoted_people

W_CO = 0.5
CO_SHARE = 6.0  # co-recipients: the share of a contact's mail with each other recipient, in these units
W_WORDS = 1.0
W_GREETING = 3.0
W_THREAD = 2.0
W_MENTION = 1.0
W_QUOTED = 2.0
W_ORG = 1.5
W_RECENT = 1.0
W_TOPIC_ORG = 1.0
MIN_SEEN = 2  # a word of the message is evidence once the history has seen it in this many messages
MIN_INTERNAL_SEEN = 2  # a word counts as internal after this many internal-only messages
MIN_TOPIC_WORDS = 3
MIN_TOPIC_SHARE = 0.4
AGE_CAP = 6.0  # about 400 days: older than that, all contacts are alike
DIRICHLET_MU = 20.0
MAX_WORD_GAIN = 4.0
MAX_TOPIC_WORDS = 50  # the word evidence's words per message (bench/README.md, "Fifty words")
MAX_KEPT_GAINS = 200_000  # per store: about as many as the lookups it keeps


class Read(NamedTuple):
    """What the check read of a message: its subject, body and words. Learning takes the words
    over when it reads the same subject and body."""

    subject: str
    body: str
    words: list[str]


class MessageView:
    """What the recipient rules read from a message; each part computed once, when first asked."""

    def __init__(self, message: Any, recipients: list[str]) -> None:
        self.message = message
        self.recipients = recipients

    @cached_property
    def body(self) -> str:
        return self.message.body_text[:MAX_BODY_CHARS]  # type: ignore[no-any-return]

    @cached_property
    def words(self) -> list[str]:
        """greetings.words of the subject and body, from the body's runs that ``tokens`` shares."""
        subject = letter_runs(self.message.subject.lower(), 3)
        if self.body.isascii() and all(map(str.isascii, subject)):
            return ascii_words(subject, self._runs, MAX_WORDS)
        return distinct_words(subject + [run for run in self._runs if len(run) >= 3], MAX_WORDS)

    @cached_property
    def _runs(self) -> dict[str, None]:
        """The body's distinct lower-cased runs of 2+ letters in order of first use (one scan for
        ``words`` and ``tokens``): both ask only which runs there are."""
        runs = dict.fromkeys(lowered_runs(self.body))
        if self.body.isascii():
            for letter in ascii_lowercase:  # the runs of one letter there can be
                runs.pop(letter, None)
            return runs
        return {run: None for run in runs if len(run) >= 2}

    def read(self) -> Read | None:
        """What was read, when a rule asked for the words: learning may take them over."""
        if "words" not in self.__dict__:
            return None
        return Read(self.message.subject, self.body, self.words)

    @cached_property
    def greeting(self) -> Greeting | None:
        return parse_greeting(self.body)

    @cached_property
    def refs(self) -> list[str]:
        message = self.message
        found = re.findall(r"<[^<>\s]+>", message.header("In-Reply-To") + " " + message.header("References"))
        return [r.strip("<>").lower() for r in found][-20:]

    @cached_property
    def tokens(self) -> KeysView[str]:
        """The body's distinct lower-cased runs of 2+ letters (a set)."""
        return self._runs.keys()

    @cached_property
    def _address_lines(self) -> list[str]:
        return address_lines(self.body)

    @cached_property
    def named(self) -> KeysView[str]:
        """``tokens`` outside quoted To and Cc lines: the names the message itself mentions."""
        lines = set(self._address_lines)
        rest = "\n".join(line for line in self.body.splitlines() if line not in lines)
        return dict.fromkeys(lowered_runs(rest)).keys()

    @cached_property
    def listed(self) -> dict[str, float]:
        """The runs of quoted To and Cc lines, each with 1/k for a line of k people (the largest
        share if on several): who got an earlier message is not who this one is about, the less
        so the longer its list ({} when the body quotes no such line)."""
        out: dict[str, float] = {}
        for line in self._address_lines:
            share = 1.0 / max(line.count(";") + 1, line.count("@"), 1)
            for run in lowered_runs(line):
                if out.get(run, 0.0) < share:
                    out[run] = share
        return out

    @cached_property
    def forward(self) -> bool:
        return is_forward(self.message.subject) or forwards_in_body(self.body)

    @cached_property
    def quoted(self) -> QuotedPeople:
        return quoted_people(self.message.body_text)


def message_view(message: Any, context: Any) -> MessageView:
    cached = context.cache.get("recipients.view")
    if cached is None:
        cached = MessageView(message, [a for a in context.envelope if not context.is_own(a)])
        context.cache["recipients.view"] = cached
    return cached  # type: ignore[no-any-return]


@dataclass(frozen=True, init=False)
class Fit:
    contact: Contact
    co: float
    words: float
    greeting: bool
    thread: bool
    mention: float
    quoted: float
    org: float
    age: float
    """log(1 + days) since the user last wrote to or heard from the contact (capped; the cap if never)."""
    topic_org: float = 0.0
    """1 when the message's topic has so far stayed inside the organization and so does the contact."""

    def __init__(
        self,
        contact: Contact,
        co: float,
        words: float,
        greeting: bool,
        thread: bool,
        mention: float,
        quoted: float,
        org: float,
        age: float,
        topic_org: float = 0.0,
    ) -> None:
        # one update instead of a frozen dataclass's object.__setattr__ per field (~9 fits a message)
        self.__dict__.update(
            contact=contact,
            co=co,
            words=words,
            greeting=greeting,
            thread=thread,
            mention=mention,
            quoted=quoted,
            org=org,
            age=age,
            topic_org=topic_org,
        )

    def margin_over(self, actual: Fit) -> float:
        """How much better this contact fits than ``actual``, the recipient as addressed.

        No discount for a recipient written to rarely: co-recipients count as a share of each
        contact's own mail, so a contact written to a hundred times does not "fit" every circle.
        """
        return self.total - actual.total

    def content_margin_over(self, actual: Fit) -> float:
        """The margin without recency: what the message itself says (never recency alone)."""
        return self.margin_over(actual) - W_RECENT * (actual.age - self.age)

    @property
    def total(self) -> float:
        return (
            W_CO * self.co
            + W_WORDS * self.words
            + W_GREETING * self.greeting
            + W_THREAD * self.thread
            + W_MENTION * self.mention
            + W_QUOTED * self.quoted
            + W_ORG * self.org
            + W_TOPIC_ORG * self.topic_org
            - W_RECENT * self.age
        )


def _gain_sum(gains: Mapping[str, float], vocab: Mapping[str, Any]) -> float:
    """The gains of the vocabulary's words summed in its order, zeros left out (a sum of gains,
    never below 0.0, is the same without them); NaN when a word has no gain yet. ``sum`` adds
    floats one after the other in C on Python 3.11 (requires-python), as a loop would."""
    total: float = sum(filter(None, map(gains.get, vocab, repeat(math.nan))))
    return total


class FitModel:
    """Scores contacts against one message; all lookups are bounded by the message's size."""

    def __init__(
        self, store: HistoryStore, view: MessageView, org_of: Callable[[str], str] | None = None, when: float = 0.0
    ) -> None:
        self.store = store
        self.when = when
        self.view = view
        self._org_of = org_of or (lambda addr: addr.rpartition("@")[2])
        self._orgs: dict[str, str] = {}
        self._greeted: dict[int, bool] = {}

    def org_of(self, addr: str) -> str:
        """The organization of an address, asked once per address (fits compares every pair)."""
        org = self._orgs.get(addr)
        if org is None:
            org = self._orgs[addr] = self._org_of(addr)
        return org

    @cached_property
    def vocab(self) -> dict[str, tuple[int, int, int]]:
        """The message's words the history has seen at least twice, names excluded."""
        found = self.store.vocab(self.view.words)  # a new dict, in the store's order
        # Names are who the mail is to, not what it is about: the greeting and signature
        # would otherwise make every contact named alike look like the topic's owner.
        for name in self.store.known_first_names(list(found)):
            found.pop(name, None)
        if min(map(itemgetter(0), found.values()), default=MIN_SEEN) < MIN_SEEN:
            found = {w: v for w, v in found.items() if v[0] >= MIN_SEEN}
        return found

    @cached_property
    def topic(self) -> dict[str, tuple[int, int, int]]:
        """The words a contact's word evidence is read from: the vocabulary, or of a long message
        the MAX_TOPIC_WORDS the history has seen in the fewest messages (the most telling, as a
        "more like this" search keeps its query's rarest terms; ties in the vocabulary's order),
        in the vocabulary's order."""
        found = self.vocab
        if len(found) <= MAX_TOPIC_WORDS:
            return found
        keep = set(sorted(found, key=lambda w: found[w][0])[:MAX_TOPIC_WORDS])
        return {w: v for w, v in found.items() if w in keep}

    @cached_property
    def internal_topic(self) -> list[str]:
        """The message's words the user has only ever used inside the organization.

        Several words seen repeatedly in internal-only mail and never in mail with an outside
        participant, making up a good part of what the history knows of the message.
        """
        known = self.vocab  # each word seen at least MIN_SEEN times
        if MIN_INTERNAL_SEEN > MIN_SEEN:
            known = {w: v for w, v in known.items() if v[0] >= MIN_INTERNAL_SEEN}
        internal = [w for w, (_, inside, outside) in known.items() if inside >= MIN_INTERNAL_SEEN and outside == 0]
        if len(internal) >= MIN_TOPIC_WORDS and len(internal) >= MIN_TOPIC_SHARE * len(known):
            return internal
        return []

    @cached_property
    def messages(self) -> int:
        return max(self.store.meta("messages"), 1)

    @cached_property
    def thread(self) -> set[str]:
        """Who took part in the thread: by References, else (a reply) by its subject."""
        if self.view.refs:
            found = self.store.thread_participants(self.view.refs)
            if found:
                return found
        subject = self.view.message.subject
        if is_reply(subject) and not is_forward(subject):
            key = subject_key(subject)
            if names_one_thread(key):
                return self.store.subject_participants(key, limit=50)
        return set()

    def greets(self, contact: Contact) -> bool:
        greeting = self.view.greeting
        if greeting is None:
            return False
        if contact.id not in self._greeted:
            if greeting.by_last_name:
                hit = contact.last in greeting.names
            elif len(contact.first) >= 2:
                hit = bool(self.store.first_names_of(contact) & set(greeting.names))
            else:
                hit = self._may_be_greeted(contact, greeting.names)
            self._greeted[contact.id] = hit
        return self._greeted[contact.id]

    def _may_be_greeted(self, contact: Contact, names: tuple[str, ...]) -> bool:
        """Whether a contact whose first name is unknown (an initial at most) may be the one greeted:
        then the greeting counts for it, as greeting-mismatch reads it; a greeting that cannot be
        checked against a recipient is no evidence that someone else was meant."""
        if contact.first:  # an initial: "Bill" may greet w.brown@
            return contact.first in self._greeted_initials
        local = contact.addr.partition("@")[0]
        return any(len(name) >= 3 and name in local for name in names)

    @cached_property
    def _greeted_initials(self) -> set[str]:
        """The initials of the greeted names and of the full forms the history knows them as."""
        greeting = self.view.greeting
        names = greeting.names if greeting is not None else ()
        return {name[:1] for name in self.store.full_forms(names)}

    def mention(self, contact: Contact) -> float:
        """Half for each of the contact's names in the text; a name only on a quoted To or Cc
        line counts its share of that line (MessageView.listed)."""
        view = self.view
        score = 0.0
        for name in (contact.first, contact.last):
            if len(name) >= 3 and name in view.tokens:
                share = view.listed.get(name)
                score += 0.5 if share is None or name in view.named else 0.5 * share
        return score

    def person_match(self, contact: Contact, who: Person) -> float:
        """How surely a written name is this contact: 1 sure, 0.8 by initials, 0 not at all."""
        if not who.last or who.last != contact.last:
            return 0.0
        if len(contact.first) == 1:  # "s..bradford": an initial, maybe the middle one
            return 0.8 if contact.first in who.initials else 0.0
        if who.first and (who.first == contact.first or who.first in self.store.first_names_of(contact)):
            return 1.0
        return 0.0

    def quoted(self, contact: Contact) -> float:
        """The quoted message was written by (2), addressed to (1) or mentions (0.5) this contact.

        Not for forwards: a forward goes to someone new, so being in the quoted header says
        nothing for (if anything, against) being the one it was meant for.
        """
        if self.view.forward:
            return 0.0
        q = self.view.quoted
        score = 2.0 * self.person_match(contact, q.author) if q.author else 0.0
        if q.author_addr and contact.addr == q.author_addr:
            score = 2.0
        score += max((self.person_match(contact, who) for who in q.addressees), default=0.0)
        score += 0.5 * max((self.person_match(contact, who) for who in q.others), default=0.0)
        if contact.addr in q.addresses:
            score += 1.0
        return score

    def fits(self, contacts: list[Contact], others: list[str]) -> dict[int, Fit]:
        """The fit of each contact, with ``others`` (addresses) as the co-recipients."""
        other_ids = [c.id for c in (self.store.contact(a) for a in others) if c is not None]
        ids = [c.id for c in contacts]
        pairs = self.store.pair_counts(ids, other_ids)
        # a contact never sent words has no word evidence (``_words``): its counts are not looked up,
        # nor those of a contact whose kept gains answer for every word (``_kept_words``)
        words = self._kept_words([c for c in contacts if c.words])
        asked = [c.id for c in contacts if c.words and c.id not in words]
        counts = self.store.contact_words(asked, list(self.topic)) if asked else {}
        out = {}
        for c in contacts:
            # the share of the contact's mail each other recipient was in: how often the user writes to
            # someone says nothing of whom they write with (a raw count would reward volume)
            co = sum(CO_SHARE * pairs.get((c.id, o), 0) / (c.seen + 1) for o in other_ids if o != c.id)
            co /= max(len(other_ids), 1)  # a mean: one mass mailing must not outweigh everything
            org = self.org_of(c.addr)
            same_org = sum(self.org_of(a) == org for a in others if a != c.addr)
            topic_org = float(bool(self.internal_topic) and org == "internal")
            out[c.id] = Fit(
                c,
                co,
                words[c.id] if c.id in words else self._words(c, counts.get(c.id, {}), c.id in self._unsummed),
                self.greets(c),
                c.addr in self.thread,
                self.mention(c),
                self.quoted(c),
                same_org / math.sqrt(max(len(others), 1)),
                self.age(c),
                topic_org,
            )
        return out

    def age(self, contact: Contact) -> float:
        """How long since the user and the contact were last in touch, either way: answering
        someone who wrote yesterday is as current as writing to someone one wrote to yesterday."""
        last = max(contact.last_sent, contact.last_received)
        if not last or not self.when:
            return AGE_CAP
        days = max(self.when - last, 0.0) / 86400
        return min(math.log1p(days), AGE_CAP)

    def _kept_words(self, contacts: list[Contact]) -> dict[int, float]:
        """The word evidence of each contact whose gains kept in a store that keeps its lookups
        cover the message's words, without asking the store for counts: such a store's count of a
        word, once handed out, is its answer for the store's lifetime, and a gain is kept only
        once computed from it. The others are left to ``_words`` (and ``_unsummed``: their sum
        came out NaN)."""
        vocab = self.topic
        if not vocab or not getattr(self.store, "keeps_lookups", False):
            return {}
        kept, messages = self._kept_gains[1], self.messages
        out = {}
        for c in contacts:
            entry = kept.get(c.id)
            if entry is None or entry[1] != c.words or entry[2] != messages:
                continue
            total = _gain_sum(entry[3], vocab)
            if total == total:
                out[c.id] = total / math.sqrt(len(vocab))
            else:
                self._unsummed.add(c.id)
        return out

    @cached_property
    def _unsummed(self) -> set[int]:
        """Contacts whose kept gains were summed to NaN (a word without one): not summed again."""
        return set()

    def _words(self, contact: Contact, counts: Mapping[str, int], incomplete: bool = False) -> float:
        """Positive evidence only: words that go to this contact more often than to anyone.

        Per message (Bernoulli), Dirichlet-smoothed toward the word's rate in the whole history.
        A word never sent to the contact adds nothing rather than counting against it: otherwise
        a contact the user knows well would lose to one they never wrote to. Summed in the
        vocabulary's order, as the gains come; a gain of 0.0 is left out (adding it to a sum of
        gains, never below 0.0, would change nothing). ``incomplete``: the kept gains were summed
        to NaN already (``_kept_words``), so the sum starts with the missing gains.
        """
        if not self.topic or contact.words == 0:
            return 0.0
        gains = self._gains(contact, counts)
        total = math.nan if incomplete else _gain_sum(gains, self.topic)
        if total != total:  # NaN: a word without its gain yet (each gain is a number)
            scale, messages, vocab, log = contact.words + DIRICHLET_MU, self.messages, self.topic, math.log
            missing = list(filterfalse(gains.__contains__, vocab))
            for w in missing:
                n = counts.get(w, 0)
                gain = 0.0
                if n:
                    p = vocab[w][0] / messages
                    gain = max(log((n + DIRICHLET_MU * p) / (scale * p)), 0.0)
                gains[w] = gain if gain < MAX_WORD_GAIN else MAX_WORD_GAIN  # once: a reader on another thread
            self._kept_gains[0] += len(missing)
            total = _gain_sum(gains, vocab)
        return total / math.sqrt(len(self.topic))

    def _gains(self, contact: Contact, counts: Mapping[str, int]) -> dict[str, float]:
        """word -> the contact's gain (capped; 0.0 if none) for the words asked about so far.

        Kept in the store's memo while the store hands out the same counts: a kept store's counts
        of a word asked about, its rates and contacts never change, and the next message of the
        same writer mostly asks about the same contacts and words.
        """
        kept = self._kept_gains
        entry = kept[1].get(contact.id)
        if entry is None or entry[0] is not counts or entry[1] != contact.words or entry[2] != self.messages:
            if kept[0] > MAX_KEPT_GAINS:
                kept[0] = 0
                kept[1].clear()
            entry = kept[1][contact.id] = (counts, contact.words, self.messages, {})
        return entry[3]  # type: ignore[no-any-return]

    @cached_property
    def _kept_gains(self) -> list[Any]:
        """[gains kept, {contact id: (counts, words, messages, {word: gain})}] in the store's memo."""
        found = self.store.memo.get(("fit.gains",))
        if found is None:
            found = self.store.memo[("fit.gains",)] = [0, {}]
        return found  # type: ignore[return-value]


def model_for(message: Any, context: Any) -> FitModel | None:
    """The message's fit model, shared by the rules of one check (None without a history)."""
    store = context.history
    if store is None:
        return None
    model = context.cache.get("recipients.model")
    if model is None:
        model = FitModel(
            store,
            message_view(message, context),
            org_of=lambda addr: organization(context, addr),
            when=written_at(message, context.now),
        )
        context.cache["recipients.model"] = model
    return model  # type: ignore[no-any-return]


def written_at(message: Any, now: float) -> float:
    """When the message was written: its Date (checking an old file judges it as of then), else now."""
    import email.utils

    try:
        parsed = email.utils.parsedate_to_datetime(message.header("Date"))
        stamp = parsed.timestamp() if parsed else now
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return now  # no date, or one no calendar can hold
    return stamp if stamp <= now + 86400 else now


def organization(context: Any, addr: str) -> str:
    """Which organization an address belongs to: 'internal', a configured client, or its domain."""
    if context.is_internal(addr) or context.is_own(addr):
        return "internal"
    client = context.client_of(addr)
    if client:
        return f"client:{client}"
    route = route_of(addr)  # a routed address belongs where it ends, not to the relay it names
    return route.destination if route else addr.rpartition("@")[2].lower()
