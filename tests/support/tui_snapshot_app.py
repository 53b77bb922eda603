"""Deterministic review-app data: a queue with fixed ids and times, and an app factory.

Used by the Pilot tests (tests/test_tui_*.py) and, as a file, by pytest-textual-snapshot
(the snapshot tests pass ``make_app(...)`` to ``snap_compare``). Times are
fixed (NOW), the time zone is UTC, so the pictures never depend on the clock.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NOW = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC).timestamp()

HOSTILE_SUBJECT = "[bold red]PWNED[/] [@click=app.quit]click me[/] \x1b]0;owned\x07\x1b[2J"


def iso(offset: float) -> str:
    return datetime.fromtimestamp(NOW + offset, UTC).isoformat(timespec="seconds")


def message(
    to: str,
    subject: str,
    body: str,
    *,
    cc: str = "",
    attachment: tuple[str, str, bytes] | None = None,
    sender: str = "Me <me@nordwerk.example>",
) -> bytes:
    head = (
        f"From: {sender}\nTo: {to}\n"
        + (f"Cc: {cc}\n" if cc else "")
        + f"Subject: {subject}\nDate: Fri, 27 Nov 2026 08:55:00 +0000\nMessage-ID: <{hashlib.sha256(subject.encode()).hexdigest()[:16]}@x>\n"
        "MIME-Version: 1.0\n"
    )
    if attachment is None:
        return (head + f"Content-Type: text/plain; charset=utf-8\n\n{body}").encode()
    import base64

    name, ctype, data = attachment
    return (
        head + 'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\n'
        f"Content-Type: text/plain; charset=utf-8\n\n{body}\n--b1\n"
        f'Content-Type: {ctype}; name="{name}"\nContent-Disposition: attachment; filename="{name}"\n'
        f"Content-Transfer-Encoding: base64\n\n{base64.encodebytes(data).decode()}--b1--\n"
    ).encode()


def finding(
    rule: str,
    severity: str,
    text: str,
    recipient: str | None = None,
    suggestion: str | None = None,
    evidence: str | None = None,
) -> dict[str, Any]:
    return {
        "rule": rule,
        "severity": severity,
        "message": text,
        "recipient": recipient,
        "suggestion": suggestion,
        "evidence": evidence,
    }


def put(queue_root: Path, entry_id: str, raw: bytes, state: str, created: float, **meta: Any) -> Path:
    """Write one entry as queue.py would, with a fixed id and time."""
    path = queue_root / entry_id
    path.mkdir(parents=True, mode=0o700)
    (path / "message.eml").write_bytes(raw)
    (path / "lock").touch()
    from sendguard.mail.message import OutgoingMessage

    msg = OutgoingMessage(raw)
    envelope = [a.addr for a in msg.header_recipients]
    data = {
        "id": entry_id,
        "created": iso(created),
        "updated": iso(created),
        "state": state,
        "argv": ["--", *envelope],
        "options": [],
        "recipients": envelope,
        "envelope": envelope,
        "read_recipients": False,
        "subject": msg.subject,
        "verdict": "hold",
        "findings": [],
        "events": [{"time": iso(created), "event": "kept", "state": state}],
        **meta,
    }
    (path / "meta.json").write_text(json.dumps(data, indent=1))
    return path


HELD_ID = "20261127-085500-aaaaaa"
DELAYED_ID = "20261127-085930-bbbbbb"
DEFERRED_ID = "20261127-083000-cccccc"
DELIVERED_ID = "20261127-080000-dddddd"
HOSTILE_ID = "20261127-084500-eeeeee"
BLOCKED_ID = "20261127-081500-ffffff"
DISCARDED_ID = "20261126-120000-999999"

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def build_queue(queue_root: Path) -> None:
    """The fixed queue every TUI test and snapshot starts from."""
    put(
        queue_root,
        HELD_ID,
        message(
            "Anna Schmidt <anna@kundenfirma.example>",
            "Falke: Angebot",
            "Hallo Markus,\n\nhier der Stand für Falke.\n\nGruß\nMe\n",
        ),
        "held",
        -300,
        verdict="hold",
        findings=[
            finding(
                "greeting-mismatch",
                "warn",
                "The greeting says Markus, but the message goes to anna@kundenfirma.example.",
                "anna@kundenfirma.example",
                "Markus Berger <m.berger@falkenbau.example>",
                "Hallo Markus",
            ),
            finding(
                "first-time-recipient",
                "info",
                "You have never written to anna@kundenfirma.example.",
                "anna@kundenfirma.example",
            ),
        ],
    )
    put(
        queue_root,
        DELAYED_ID,
        message("bob@nordwerk.example", "Lunch?", "Lunch at noon?\n"),
        "delayed",
        -30,
        verdict="pass",
        not_before=iso(42),
    )
    put(
        queue_root,
        DEFERRED_ID,
        message("carl@partner.example", "Minutes", "Minutes attached.\n"),
        "deferred",
        -1800,
        verdict="pass",
        transport_error="msmtp: cannot connect to smtp.example: Connection refused",
    )
    put(
        queue_root,
        DELIVERED_ID,
        message("dora@nordwerk.example", "Done", "Done.\n"),
        "delivered",
        -3600,
        verdict="pass",
        delivered=iso(-3590),
    )
    put(
        queue_root,
        HOSTILE_ID,
        message(
            "[red]eve[/] <eve@evil.example>",
            HOSTILE_SUBJECT,
            "[@click=app.quit]Click[/] \x1b[31mred\x1b[0m\n[link=https://evil.example]x[/link]\n",
            sender="\x1b]8;;https://evil.example\x07Boss\x1b]8;;\x07 <boss@evil.example>",
        ),
        "held",
        -900,
        verdict="hold",
        findings=[
            finding(
                "[b]rule[/b]",
                "hold",
                "[blink]Evil[/blink] \x1b[5m finding [@click=app.quit]x[/]",
                "eve@evil.example",
                "[@click=app.quit]x[/] <x@evil.example>",
                "[@click=app.quit]Click[/]",
            )
        ],
    )
    put(
        queue_root,
        BLOCKED_ID,
        message(
            "ops@outside.example",
            "Q3 figures",
            "See the attached report.\n",
            attachment=("report.txt", "text/plain", PDF),
        ),
        "blocked",
        -2700,
        verdict="block",
        findings=[
            finding("attachment-type", "block", "report.txt is really a PDF document.", None, None, "report.txt")
        ],
    )
    put(
        queue_root,
        DISCARDED_ID,
        message("old@nordwerk.example", "Old news", "Old.\n"),
        "discarded",
        -75600,
        verdict="hold",
    )


CONFIG = """\
# my sendguard config — comments must survive edits
[identity]
addresses = ["me@nordwerk.example"]

[organization]
domains = ["nordwerk.example"]   # us

[clients.kundenfirma]
domains = ["kundenfirma.example"]
keywords = ["Falke", "Kundenfirma"]
"""


def make_app(home: Path, config_text: str = CONFIG, now: float = NOW, config_path: Path | None = None) -> Any:
    """A ReviewApp on a fresh fixed queue under ``home``."""
    from sendguard.act.queue import Queue
    from sendguard.config import schema as config_mod
    from sendguard.tui.app import ReviewApp

    state_dir = home / "sendguard"
    build_queue(state_dir / "queue")
    if config_path is None:
        config_path = home / "config.toml"
        config_path.write_text(config_text)
    config = config_mod.load(config_path, required=True)
    return ReviewApp(
        queue=Queue(state_dir / "queue"), config=config, config_path=config_path, state_dir=state_dir, now=lambda: now
    )


# Postfix's hold queue as `postqueue -j` lists it, and the milter's copies of what it quarantined.
POSTFIX_WRONG_ID = "4ZpQ3x1HkLz9"
POSTFIX_PDF_ID = "4ZpQ2w0GjKy8"
POSTFIX_OTHER_ID = "4ZpQ1v9FhJx7"


def postfix_hold_queue() -> list[dict[str, Any]]:
    def item(qid: str, offset: float, sender: str, *rcpts: str) -> dict[str, Any]:
        return {
            "queue_name": "hold",
            "queue_id": qid,
            "arrival_time": int(NOW + offset),
            "message_size": 1200,
            "forced_expire": False,
            "sender": sender,
            "recipients": [{"address": r} for r in rcpts],
        }

    return [
        item(POSTFIX_WRONG_ID, -120, "d.wolff@nordwerk.example", "m.berger@kundenfirma.example"),
        item(POSTFIX_PDF_ID, -1500, "j.krause@nordwerk.example", "ops@outside.example", "cfo@outside.example"),
        item(POSTFIX_OTHER_ID, -7200, "newsletter@nordwerk.example", "list@partner.example"),
    ]


def build_milter_copies(queue_root: Path) -> None:
    """The copies ``sendguard milter`` kept when it quarantined two of the held messages."""
    put(
        queue_root,
        "20261127-085800-111111",
        message("m.berger@kundenfirma.example", "Personalkosten Abteilung", "Die Zahlen für die Abteilung.\n"),
        "quarantined",
        -120,
        sender="d.wolff@nordwerk.example",
        milter_sender="d.wolff@nordwerk.example",
        checker="milter",
        postfix_queue_id=POSTFIX_WRONG_ID,
        findings=[
            finding(
                "wrong-recipient",
                "hold",
                "m.berger@kundenfirma.example may be the wrong person: you write about internal matters "
                "with m.berger@nordwerk.example.",
                "m.berger@kundenfirma.example",
                "m.berger@nordwerk.example",
            )
        ],
    )
    put(
        queue_root,
        "20261127-083500-222222",
        message(
            "ops@outside.example",
            "Q3 figures",
            "See the attached report.\n",
            cc="cfo@outside.example",
            attachment=("report.txt", "text/plain", PDF),
        ),
        "quarantined",
        -1500,
        sender="j.krause@nordwerk.example",
        milter_sender="j.krause",
        checker="milter",
        postfix_queue_id=POSTFIX_PDF_ID,
        findings=[finding("attachment-type", "hold", "report.txt is really a PDF document.", None, None, "report.txt")],
    )


def make_postfix_app(home: Path, config_text: str = CONFIG, now: float = NOW) -> Any:
    """A ReviewApp on Postfix's hold queue (``review --postfix``) with fixed contents."""
    from sendguard.act.queue import Queue
    from sendguard.config import schema as config_mod
    from sendguard.recover.review_data import postfix_rows
    from sendguard.tui.app import ReviewApp

    root = home / "milter"
    build_milter_copies(root / "queue")
    config_path = home / "config.toml"
    config_path.write_text(config_text + f'\n[milter]\nhold = "quarantine"\nstate_dir = "{root}"\n')
    config = config_mod.load(config_path, required=True)
    return ReviewApp(
        queue=Queue(root / "queue"),
        config=config,
        config_path=config_path,
        state_dir=root,
        now=lambda: now,
        hold_queue=lambda: postfix_rows("", root, held=postfix_hold_queue()),
    )


def _snapshot_app() -> Any:
    import tempfile

    os.environ["TZ"] = "UTC"
    time.tzset()
    home = Path(tempfile.mkdtemp(prefix="sendguard-snap-"))
    return make_app(home)


if __name__ == "__main__":  # look at the fixed queue by hand: python tests/support/tui_snapshot_app.py
    _snapshot_app().run()
