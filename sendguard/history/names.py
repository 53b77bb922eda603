"""Contact names: first and last name from a display name or, failing that, from the address.

Much real mail carries no display name at all (``To: william.bradford@example.com``), and the
address itself is most often built from the name ("first.last", "f.last", "first_last"), so the
address is a fallback source. Names are folded (``greetings.fold``) so "Köhler", "koehler" and
"Kohler" compare equal.

Nicknames: the English short forms come from the ``nicknames`` package (a curated table), loaded
only when learning — its 40 ms import has no place on the send path. Learning stores every alias
of every first name it sees in the history (table ``alias``), so at check time "Bill" finds
William with one indexed query. German, French, Spanish, Dutch and Russian short forms are a
small table here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from sendguard.mail.greetings import fold

# Short forms the English table lacks: full name -> short forms.
SHORT_FORMS: dict[str, tuple[str, ...]] = {
    "alexander": ("alex", "sascha", "sasha", "sandro", "xander"),
    "alexandra": ("alex", "sascha", "sasha", "sandra"),
    "andreas": ("andi", "andy"),
    "christian": ("chris",),
    "christina": ("chris", "tina"),
    "christine": ("chris", "tine"),
    "christoph": ("chris", "christoph"),
    "daniel": ("dani", "dan", "danny"),
    "elisabeth": ("lisa", "liesl", "sabine", "elli", "elise"),
    "franziska": ("franzi",),
    "friedrich": ("fritz",),
    "gabriele": ("gabi",),
    "johann": ("hans",),
    "johannes": ("hans", "jo", "johnny"),
    "josef": ("sepp", "joe", "jupp"),
    "katharina": ("kathi", "katja", "kati", "kata"),
    "magdalena": ("lena", "leni"),
    "margarete": ("grete", "gretel", "marga"),
    "matthias": ("matze", "matt"),
    "maximilian": ("max",),
    "michael": ("micha", "michi", "mike"),
    "nikolaus": ("klaus", "niko"),
    "sebastian": ("basti", "seb"),
    "stefan": ("steffen", "steve"),
    "stephanie": ("steffi",),
    "susanne": ("susi", "sanne"),
    "thomas": ("tom", "tommy"),
    "tobias": ("tobi",),
    "wolfgang": ("wolf",),
    "barbara": ("babsi", "barbie"),
    "jean": ("jeannot",),
    "dominique": ("dom",),
    "francois": ("francis",),
    "guillaume": ("guillou",),
    "jose": ("pepe",),
    "francisco": ("paco", "pancho", "curro"),
    "enrique": ("quique",),
    "ignacio": ("nacho",),
    "guadalupe": ("lupe",),
    "dolores": ("lola",),
    "concepcion": ("concha",),
    "johanna": ("hanna", "jo"),
    "wilhelmus": ("wim",),
    "willem": ("wim",),
    "hendrik": ("henk",),
    "cornelis": ("kees",),
    "jacobus": ("koos",),
    "gerardus": ("gerard", "gert"),
    "olga": ("olya", "olenka"),
    "aleksandr": ("sasha", "sanya", "alex"),
    "ekaterina": ("katya", "katia"),
    "dmitry": ("dima",),
    "dmitriy": ("dima",),
    "vladimir": ("volodya", "vova"),
    "mikhail": ("misha",),
    "nikolay": ("kolya",),
    "sergey": ("serezha", "seryozha"),
    "tatiana": ("tanya",),
    "tatyana": ("tanya",),
    "natalia": ("natasha",),
    "natalya": ("natasha",),
    "mariya": ("masha",),
    "maria": ("masha", "mia", "mimi", "ria"),
    "ivan": ("vanya",),
    "yelena": ("lena",),
    "elena": ("lena",),
    "anastasia": ("nastya",),
    "svetlana": ("sveta",),
    "yulia": ("yulya",),
}

LOCAL_SPLIT = re.compile(r"[._\-+]+")


def split_display(display: str) -> tuple[str, str]:
    """(first, last) from a display name, folded; '' where unknown."""
    display = re.sub(r"\(.*?\)|\[.*?\]|<.*?>|\"|'", " ", display).strip()
    if not display or "@" in display:
        return "", ""
    if "," in display:
        last, _, rest = display.partition(",")
        first_tokens, last_tokens = rest.split(), last.split()
    else:
        tokens = display.split()
        if len(tokens) < 2:
            return fold(tokens[0]) if tokens else "", ""
        first_tokens, last_tokens = tokens[:1], tokens[-1:]
    first = fold(first_tokens[0]) if first_tokens else ""
    last = fold(last_tokens[-1]) if last_tokens else ""
    return first, last


def split_local(addr: str) -> tuple[str, str]:
    """(first, last) from an address like 'first.last@', 'f.last@', 'first_last@'; folded."""
    local = addr.partition("@")[0]
    parts = [fold(p) for p in LOCAL_SPLIT.split(local)]
    parts = [p for p in parts if p]
    if len(parts) < 2:
        return "", ""
    return parts[0], parts[-1]


def contact_names(display: str, addr: str) -> tuple[str, str]:
    """(first, last) for a contact: the display name where it has them, else the address."""
    first, last = split_display(display)
    lfirst, llast = split_local(addr)
    if not first or (len(first) == 1 and len(lfirst) > 1):
        first = lfirst if lfirst else first
    if not last:
        last = llast
    return first, last


def aliases(first: str) -> set[str]:
    """Every form a first name may be greeted with (the name itself included). Learn-time only."""
    out = {first}
    if len(first) < 2:
        return out
    out.update(SHORT_FORMS.get(first, ()))
    for full, shorts in SHORT_FORMS.items():
        if first in shorts:
            out.add(full)
    english = _english()
    if english is not None:
        out.update(english.nicknames_of(first))
        out.update(english.canonicals_of(first))
    return {fold(a) for a in out if len(fold(a)) >= 2}


@lru_cache(maxsize=1)
def _english():  # type: ignore[no-untyped-def]
    """The English nickname table, or None where the package is missing (short forms above only)."""
    try:
        from nicknames import NickNamer
    except ImportError:
        return None
    return NickNamer()


def all_aliases(firsts: Iterable[str]) -> set[tuple[str, str]]:
    """(alias, first name) rows for the ``alias`` table."""
    return {(alias, first) for first in firsts for alias in aliases(first)}
