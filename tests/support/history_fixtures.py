"""A small synthetic mail world for the history and recipient-rule tests (written for sendguard).

The user Petra Lang works at lindenhof.example; clients: Bergwerk AG (bergwerk.example,
project "Granit") and Seeblick GmbH (seeblick.example, project "Lotse"). Her boss is Thomas
Keller; a client contact is Thomas Kern — the namesake pair.
"""

from __future__ import annotations

import email.utils
from pathlib import Path
from typing import Any

from sendguard.config.schema import parse

ME = "p.lang@lindenhof.example"
BOSS = "t.keller@lindenhof.example"
COLLEAGUE = "m.sommer@lindenhof.example"
CLIENT_THOMAS = "thomas.kern@bergwerk.example"
CLIENT_ANNA = "anna.brandl@seeblick.example"

CONFIG_TEXT = f"""
[identity]
addresses = ["{ME}", "petra@privat.example"]

[organization]
domains = ["lindenhof.example"]

[clients.bergwerk]
domains = ["bergwerk.example"]
keywords = ["Granit", "Bergwerk"]

[clients.seeblick]
domains = ["seeblick.example"]
keywords = ["Lotse", "Seeblick"]
"""

NAMES = {
    ME: "Petra Lang",
    BOSS: "Thomas Keller",
    COLLEAGUE: "Mia Sommer",
    CLIENT_THOMAS: "Thomas Kern",
    CLIENT_ANNA: "Anna Brandl",
}


def config():  # type: ignore[no-untyped-def]
    return parse(CONFIG_TEXT)


def mail(
    to: list[str],
    subject: str,
    body: str,
    *,
    cc: list[str] = (),
    frm: str = ME,
    n: int = 0,  # type: ignore[assignment]
    msgid: str | None = None,
    reply_to: str | None = None,
    date: float = 1_700_000_000.0,
    names: dict[str, str] = NAMES,
) -> bytes:
    def fmt(addrs: list[str]) -> str:
        return ", ".join(email.utils.formataddr((names.get(a, ""), a)) for a in addrs)

    lines = [f"From: {fmt([frm])}", f"To: {fmt(to)}"]
    if cc:
        lines.append(f"Cc: {fmt(list(cc))}")
    lines += [
        f"Subject: {subject}",
        f"Date: {email.utils.formatdate(date + n * 3600)}",
        f"Message-ID: <{msgid or f'm{n}@test.example'}>",
    ]
    if reply_to:
        lines += [f"In-Reply-To: <{reply_to}>", f"References: <{reply_to}>"]
    lines += [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
        "",
    ]
    return "\n".join(lines).encode()


# How often, to whom (Cc, or received from), about what: the synthetic history, in order.
_HISTORY: list[tuple[int, list[str], str, str, dict[str, Any]]] = [
    (
        8,
        [BOSS],
        "Personalkosten Abteilung",
        "Hallo Thomas,\n\ndie Personalkosten und "
        "Gehälter der Abteilung liegen über Budget. Umstrukturierung nötig.\n\nGruß\nPetra",
        {"cc": [COLLEAGUE]},
    ),
    (
        6,
        [BOSS],
        "Budget Quartal",
        "Hallo Thomas,\n\ndas Budget für Umstrukturierung und Personalkosten steht.\n\nGruß\nPetra",
        {"cc": [COLLEAGUE]},
    ),
    (
        6,
        [CLIENT_THOMAS],
        "Granit Meilenstein",
        "Hallo Thomas,\n\nder Meilenstein für Granit ist erreicht, die Abnahme folgt.\n\nGruß\nPetra",
        {},
    ),
    (6, [CLIENT_ANNA], "Lotse Wartung", "Hallo Anna,\n\ndie Wartung für Lotse ist am Freitag.\n\nGruß\nPetra", {}),
    (4, [COLLEAGUE], "Urlaubsplanung", "Hi Mia,\n\nkannst du die Urlaubsplanung übernehmen?\n\nPetra", {}),
    (
        3,
        [ME],
        "Re: Granit Meilenstein",
        "Hallo Petra,\n\ndanke, Abnahme nächste Woche.\n\nThomas",
        {"frm": CLIENT_THOMAS},
    ),
    (
        1,
        [BOSS],
        "Reorganisation Team",
        "Hallo Thomas,\n\nerste Ideen zur Reorganisation.\n\nPetra",
        {"cc": [COLLEAGUE], "msgid": "reorg-1@lindenhof.example"},
    ),
]


def history_messages() -> list[bytes]:
    """About forty messages of sent (and some received) mail."""
    out = []
    for count, to, subject, body, extra in _HISTORY:
        for _ in range(count):
            out.append(mail(to, subject, body, n=len(out) + 1, **extra))
    return out


def write_maildir(root: Path, messages: list[bytes]) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(messages):
        (root / "cur" / f"{1700000000 + i}.{i}.test:2,S").write_bytes(raw)
    return root


def notmuch_mail_root(mail_root: Path, folder: str) -> Path:
    """The synthetic history as a maildir ``folder`` under ``mail_root``, indexed by a real notmuch
    database at ``mail_root`` (empty config: the developer's own notmuch is never read)."""
    import notmuch2

    write_maildir(mail_root / folder, history_messages())
    db = notmuch2.Database.create(str(mail_root), config=notmuch2.Database.CONFIG.EMPTY)
    for f in sorted((mail_root / folder / "cur").iterdir()):
        db.add(str(f))
    db.close()
    return mail_root


def learn_into(state: Path, messages: list[bytes], cfg: Any = None) -> Any:
    """Learn ``messages`` (sent by ``cfg``'s identity, Petra's by default) into the history in
    ``state``, as ``sendguard learn`` does; returns the Learner (its counts)."""
    from sendguard.history.learn import Learner
    from sendguard.history.store import open_for_write

    cfg = cfg or config()
    db = open_for_write(state)
    with Learner(db, cfg.identity.addresses, cfg.organization.domains) as learner:
        for raw in messages:
            learner.add(raw)
    db.close()
    return learner


def learned_state(tmp_path: Path) -> Path:
    """A state dir with the synthetic history learned."""
    state = tmp_path / "state"
    learn_into(state, history_messages())
    return state


def damage_table(history: Path, table: str = "contacts") -> None:
    """Scribble on every page of one table of a history file (what the rules read), leaving the
    file's header and its meta table as they were: sqlite opens it and fails on reading."""
    import sqlite3

    db = sqlite3.connect(history)
    try:
        (page,) = db.execute("PRAGMA page_size").fetchone()
        pages = [n for (n,) in db.execute("SELECT pageno FROM dbstat WHERE name = ?", (table,))]
    finally:
        db.close()
    raw = bytearray(history.read_bytes())
    for n in pages:
        raw[(n - 1) * page + 8 : (n - 1) * page + 200] = b"\xff" * 192
    history.write_bytes(bytes(raw))


def tables_of(state: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the history in ``state``, its rows sorted: two histories learned alike."""
    from sendguard.history.store import open_for_write

    db = open_for_write(state)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    dump = {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}  # noqa: S608
    db.close()
    return dump
