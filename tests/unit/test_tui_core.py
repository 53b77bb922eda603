"""The core under the review screen, without a terminal: ordering, fixes, config edits, marks."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendguard.act.queue import Queue
from sendguard.config import edit as config_edit
from sendguard.config import schema as config_mod
from sendguard.decide import false_alarms
from sendguard.errors import ConfigError, QueueError
from sendguard.model import Finding, Severity
from sendguard.recover import fix
from sendguard.recover.review_data import message_view, queue_rows
from tests.conftest import make_message
from tests.support import tui_snapshot_app as data


@pytest.fixture
def queue(tmp_path):
    data.build_queue(tmp_path / "queue")
    return Queue(tmp_path / "queue")


def test_queue_rows_most_urgent_first_and_recent_delivered_only(queue):
    rows = queue_rows(queue, data.NOW)
    assert [r.id for r in rows] == [
        data.HELD_ID,
        data.HOSTILE_ID,
        data.BLOCKED_ID,
        data.DELAYED_ID,
        data.DEFERRED_ID,
        data.DELIVERED_ID,
    ]
    assert data.DISCARDED_ID not in {r.id for r in rows}  # final: only in the incidents
    # a day later the delivered message is no longer "recent"
    assert data.DELIVERED_ID not in {r.id for r in queue_rows(queue, data.NOW + 2 * 86400)}
    everything = queue_rows(queue, data.NOW, include_all=True)
    assert len(everything) == 7 and everything[0].id == data.DELAYED_ID  # newest first


def test_countdown_and_filter(queue):
    rows = {r.id: r for r in queue_rows(queue, data.NOW)}
    delayed = rows[data.DELAYED_ID]
    assert delayed.countdown(data.NOW) == "0:42"
    assert delayed.countdown(data.NOW + 41.5) == "0:01"
    assert delayed.countdown(data.NOW + 100) == "due"
    assert rows[data.HELD_ID].countdown(data.NOW) == ""
    assert rows[data.HELD_ID].matches("markus KUNDENFIRMA")  # words from reason and recipient
    assert not rows[data.HELD_ID].matches("lunch")
    assert rows[data.DEFERRED_ID].reason.startswith("transport: msmtp: cannot connect")


def test_message_view_marks_outside_and_clients_and_reads_real_types(queue):
    config = config_mod.parse(data.CONFIG)
    view = message_view(queue, data.HELD_ID, config)
    (anna,) = view.recipients
    assert (anna.addr, anna.name, anna.outside, anna.client) == (
        "anna@kundenfirma.example",
        "Anna Schmidt",
        True,
        "kundenfirma",
    )
    assert view.suggestions == ["Markus Berger <m.berger@falkenbau.example>"]
    assert "Hallo Markus" in view.evidence
    (att,) = message_view(queue, data.BLOCKED_ID, config).attachments
    assert (att.filename, att.declared_type, att.real_type) == ("report.txt", "text/plain", "application/pdf")
    assert att.mismatch and att.size == len(data.PDF)


def test_rewrite_recipients_touches_only_the_named_field():
    raw = (
        b"From: me@nordwerk.example\r\nTo: Anna <anna@kundenfirma.example>,\r\n bob@x.example\r\n"
        b"Cc: carl@y.example\r\nSubject: hi\r\n\r\nbody\r\n"
    )
    new, changes = fix.rewrite_recipients(raw, {"anna@kundenfirma.example": ("Markus Berger", "m.berger@f.example")})
    assert new == (
        b"From: me@nordwerk.example\r\nTo: Markus Berger <m.berger@f.example>, bob@x.example\r\n"
        b"Cc: carl@y.example\r\nSubject: hi\r\n\r\nbody\r\n"
    )
    assert [(c.where, c.after) for c in changes] == [("To", "Markus Berger <m.berger@f.example>, bob@x.example")]


def test_rewrite_encodes_non_ascii_names():
    raw = b"To: anna@k.example\nSubject: x\n\nbody\n"
    new, _ = fix.rewrite_recipients(raw, {"anna@k.example": ("Jürgen Groß", "j@k.example")})
    assert b"=?utf-8?" in new and new.endswith(b"\nSubject: x\n\nbody\n")
    from sendguard.mail.message import OutgoingMessage

    assert [(a.name, a.addr) for a in OutgoingMessage(new).header_recipients] == [("Jürgen Groß", "j@k.example")]


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=300),
    subject=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)
def test_rewrite_never_changes_the_body_or_other_headers(body, subject):
    raw = b"From: me@n.example\nTo: a@k.example\nSubject: " + subject.encode() + b"\n\n" + body
    new, _ = fix.rewrite_recipients(raw, {"a@k.example": ("", "b@k.example")})
    assert new == raw.replace(b"To: a@k.example", b"To: b@k.example", 1)


def test_take_suggestion_without_sending_keeps_the_original(queue, tmp_path):
    config = config_mod.parse(data.CONFIG)
    plan = fix.plan_suggestion(queue, data.HELD_ID)
    assert [c.where for c in plan] == ["To", "envelope"]
    result = fix.take_suggestion(queue, data.HELD_ID, config, tmp_path, send=False)
    entry = queue.get(data.HELD_ID)
    assert entry.meta["envelope"] == ["m.berger@falkenbau.example"]
    assert entry.meta["recipients"] == ["m.berger@falkenbau.example"]
    assert b"To: Markus Berger <m.berger@falkenbau.example>\n" in entry.raw()
    assert b"anna@kundenfirma.example" in (entry.path / "original.eml").read_bytes()
    assert not result.delivered and entry.state == "held"
    with pytest.raises(QueueError):
        fix.plan_suggestion(queue, data.DELAYED_ID)  # nothing suggested there


def test_replace_message_follows_the_edit_and_keeps_bcc_only_recipients(queue, tmp_path):
    config = config_mod.parse(data.CONFIG)
    entry = queue.get(data.HELD_ID)
    entry.save(envelope=[*entry.meta["envelope"], "hidden@nordwerk.example"])  # a Bcc mutt took out
    new_raw = entry.raw().replace(b"Anna Schmidt <anna@kundenfirma.example>", b"lena@nordwerk.example")
    result = fix.replace_message(queue, data.HELD_ID, new_raw, config, tmp_path)
    meta = queue.get(data.HELD_ID).meta
    assert meta["envelope"] == ["hidden@nordwerk.example", "lena@nordwerk.example"]
    assert [c.where for c in result.changes] == ["envelope"]
    assert queue.get(data.HELD_ID).raw() == new_raw
    with pytest.raises(QueueError):
        fix.replace_message(queue, data.DELIVERED_ID, new_raw, config, tmp_path)


def test_config_edit_keeps_comments_and_validates(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(data.CONFIG)
    config = config_mod.parse(data.CONFIG)
    choices = config_edit.choices_for("Anna@Kundenfirma-Group.example", config)
    assert [c.label for c in choices] == [
        "always allow the address anna@kundenfirma-group.example",
        "always allow the domain kundenfirma-group.example",
        "anna@kundenfirma-group.example belongs to client kundenfirma",
    ]
    # a client's own address is not offered to a client again
    assert [c.kind for c in config_edit.choices_for("anna@kundenfirma.example", config)] == ["address", "domain"]
    # a mail provider's domain is everyone's: only the address is offered
    assert [c.kind for c in config_edit.choices_for("markus@gmail.com", config)] == ["address", "client"]
    # nothing of the own organization is ever offered: allowing it would change nothing
    assert config_edit.choices_for("m.berger@nordwerk.example", config) == []
    new = config_edit.allow(path, choices[0])
    assert new.allow.addresses == ["anna@kundenfirma-group.example"]
    config_edit.allow(path, choices[2])
    text = path.read_text()
    assert text.startswith(data.CONFIG.split("\n[clients")[0])  # comments and layout untouched
    assert 'domains = ["nordwerk.example"]   # us' in text
    assert config_mod.load(path).clients["kundenfirma"].addresses == ["anna@kundenfirma-group.example"]
    before = path.read_text()
    config_edit.allow(path, choices[0])  # already there: the file is not rewritten
    assert path.read_text() == before
    path.write_text(data.CONFIG + "\n[allow]\naddresses = 3\n")
    with pytest.raises(ConfigError):
        config_edit.allow(path, choices[1])  # never write a config the send path would reject
    assert path.read_text().endswith("addresses = 3\n")


def test_false_alarm_record_and_demote(queue, tmp_path):
    meta = queue.get(data.HELD_ID).meta
    assert false_alarms.record(tmp_path, meta) == [("greeting-mismatch", "anna@kundenfirma.example")]
    false_alarms.record(tmp_path, meta)
    marks = false_alarms.load(tmp_path)
    assert marks == {("greeting-mismatch", "anna@kundenfirma.example"): 2}
    assert (tmp_path / "false-alarms.json").stat().st_mode & 0o077 == 0
    findings = [
        Finding("greeting-mismatch", Severity.WARN, "x", recipient="Anna@kundenfirma.example"),
        Finding("greeting-mismatch", Severity.WARN, "x", recipient="other@k.example"),
        Finding("blocked-recipient", Severity.BLOCK, "x", recipient="anna@kundenfirma.example"),
    ]
    assert [f.severity for f in false_alarms.demote(findings, marks)] == [Severity.INFO, Severity.WARN, Severity.BLOCK]
    assert json.loads((tmp_path / "false-alarms.json").read_text())["marks"][0]["entry"] == data.HELD_ID


def test_review_needs_a_terminal_and_the_core_never_imports_textual(world):
    result = world.cli("review")
    assert result.returncode == 64
    assert result.stderr.startswith("sendguard: error: sendguard review needs a terminal")
    import subprocess
    import sys

    code = (
        "import sys, sendguard.cli.review_cmd, sendguard.recover.fix, sendguard.config.edit, sendguard.decide.false_alarms, "
        "sendguard.recover.review_data, sendguard.sendpath.path, sendguard.decide.check; "
        "print(sorted(m for m in sys.modules if m.startswith(('textual', 'sendguard.tui'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


CONTROL = st.characters(min_codepoint=0, max_codepoint=0x2070)
MARKUP = st.sampled_from(
    [
        "[bold]",
        "[/]",
        "[@click=app.quit]",
        "[link=https://e.example]",
        "\x1b[2J",
        "\x1b]0;t\x07",
        "\u202e",
        ":smile:",
        "\r",
        "\x08",
    ]
)
HOSTILE = st.lists(st.one_of(st.text(CONTROL, max_size=8), MARKUP), max_size=8).map("".join)


@settings(max_examples=80, deadline=None)
@given(subject=HOSTILE, name=HOSTILE, body=HOSTILE, reason=HOSTILE)
def test_rendered_message_text_is_inert(subject, name, body, reason):
    """Whatever a message says, the screen gets it as plain text: no markup applied, no control
    character reaching the terminal, and our own styles only on our own labels."""
    from rich.console import Console

    from sendguard.printable import printable
    from sendguard.recover.review_data import FindingView, MessageView, RecipientView
    from sendguard.tui import render
    from sendguard.tui.safe import text

    view = MessageView(
        id="x",
        state="held",
        subject=subject,
        sender=name,
        recipients=[RecipientView("a@b.example", name, True, None, False)],
        findings=[FindingView("rule", "hold", reason, "a@b.example", name, body[:5] or None)],
        body=body,
        attachments=[],
    )
    rendered = render.detail(view)
    assert printable(subject) in rendered.plain and printable(body, keep_newlines=True).rstrip("\n") in rendered.plain
    console = Console(width=80, color_system="truecolor", force_terminal=True, legacy_windows=False)
    with console.capture() as capture:
        console.print(rendered)
        console.print(text(subject))
    out = capture.get()
    # the only escapes are Rich's own SGR styles (ESC [ ... m); no OSC, no cursor movement, no BEL
    import re

    assert not re.search(r"\x1b(?!\[[0-9;]*m)", out)
    assert "\x07" not in out and "\x08" not in out and "\r" not in out and "\u202e" not in out
    assert "\x1b]8" not in out  # no hyperlink, whatever [link=] said


def test_evidence_is_highlighted_in_the_body(tmp_path):
    from sendguard.recover.review_data import message_view
    from sendguard.tui import render

    data.build_queue(tmp_path / "queue")
    view = message_view(Queue(tmp_path / "queue"), data.HELD_ID, config_mod.parse(data.CONFIG))
    rendered = render.detail(view)
    start = rendered.plain.index("Hallo Markus,")
    assert any(
        span.start <= start and span.end >= start + len("Hallo Markus") and span.style == render.EVIDENCE
        for span in rendered.spans
    )


def test_rewrite_folds_long_address_lists():
    many = ", ".join(f"person{i}@kundenfirma.example" for i in range(6))
    raw = f"To: {many}, anna@k.example\r\nSubject: x\r\n\r\nbody".encode()
    new, _ = fix.rewrite_recipients(raw, {"anna@k.example": ("", "markus@k.example")})
    head = new.split(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    from sendguard.mail.message import OutgoingMessage

    assert [a.addr for a in OutgoingMessage(new).header_recipients][-1] == "markus@k.example"


def test_config_edit_keeps_a_symlinked_config_a_symlink(tmp_path):
    real = tmp_path / "dotfiles" / "sendguard.toml"
    real.parent.mkdir()
    real.write_text(data.CONFIG)
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    config_edit.allow(link, config_edit.AllowChoice("domain", "partner.example"))
    assert link.is_symlink() and 'domains = ["partner.example"]' in real.read_text()


def test_a_hold_of_warnings_that_agree_says_so_on_the_message_screen(world):
    """Two reasons marked "warn" under HELD read as a contradiction unless the screen says why."""
    from sendguard.tui import render

    world.write_config('[rules.external-recipient]\naction = "warn"\n')
    body = "Hallo Anna,\n\nbitte vertraulich behandeln: die Zahlen zum Umbau.\n"
    sent = world.send(make_message(to="anna@kundenfirma.example", body=body), "-t")
    assert sent.returncode == 75 and b"each alone would only warn" in sent.stderr
    queue = Queue.default()
    (entry,) = queue.entries()
    view = message_view(queue, entry.id, config_mod.load(world.config_path))
    shown = render.detail(view).plain
    why = shown.split("\nWhy\n")[1].split("\nMessage\n")[0]
    assert re.findall(r"^ +(\w+) ", why, re.M) == ["warn", "warn"], "no reason holds by itself"
    assert "each alone would only warn; together they hold the message" in shown


_NAMES = st.sampled_from(
    ["", "Anna", "Müller, Hans", "boss@nordwerk.example", "a@b.example, c@d.example", "O'Neil <x@y>", "Jürgen"]
)
_ADDRS = st.sampled_from(["hans@kunde.example", "anna@kundenfirma.example", "kai@nordwerk.example", "c@d.example"])


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(_NAMES, _ADDRS, st.sampled_from(["encoded", "quoted"])), min_size=1, max_size=4))
def test_taking_a_suggestion_changes_the_one_address_and_no_other_recipient(boxes):
    """A name that decodes to an "@" or a comma was read again as addresses of its own: fixing
    a typo'd recipient added boss@nordwerk.example and a bare "Müller" to the To field."""
    from email.header import Header

    from sendguard.mail.message import OutgoingMessage

    def written(name: str, form: str) -> str:
        if not name:
            return ""
        if form == "encoded":
            return Header(name, "utf-8").encode() + " "
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '" '

    to = ", ".join(f"{written(name, form)}<{addr}>" for name, addr, form in boxes)
    raw = f"From: me@nordwerk.example\nTo: {to}, typo@nordwerk.exmaple\nSubject: x\n\nbody\n".encode()
    before = [box.addr for box in OutgoingMessage(raw).sendmail_recipients]
    new, _ = fix.rewrite_recipients(raw, {"typo@nordwerk.exmaple": ("", "typo@nordwerk.example")})
    after = [box.addr for box in OutgoingMessage(new).sendmail_recipients]
    assert after == [a if a != "typo@nordwerk.exmaple" else "typo@nordwerk.example" for a in before]
    names_before = [box.name for box in OutgoingMessage(raw).header_recipients][:-1]
    assert [box.name for box in OutgoingMessage(new).header_recipients][:-1] == names_before


def test_message_view_shows_a_crlf_message_without_carriage_returns(tmp_path):
    """aerc hands sendmail CRLF lines, quoted-printable: the body on the review screen reads
    as text, not with a visible "\\r" at the end of every line; a lone CR is still escaped."""
    from sendguard.tui import render

    raw = (
        b"From: Daniel Wolff <d.wolff@nordwerk.example>\r\nTo: <anna@kundenfirma.example>\r\n"
        b"Subject: Falke\r\nContent-Type: text/plain; charset=UTF-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Hallo Anna,\r\n\r\ndas Review f=C3=BCr Falke ist am Donnerstag.\r\nA\rB\r\n"
    )
    data.put(tmp_path / "queue", "20261205-120000-aaaaaa", raw, "held", -60, verdict="hold", findings=[])
    view = message_view(Queue(tmp_path / "queue"), "20261205-120000-aaaaaa", config_mod.parse(data.CONFIG))
    shown = render.detail(view).plain
    assert "Hallo Anna,\n\ndas Review für Falke ist am Donnerstag.\n" in shown
    assert "A\\rB" in shown and "Donnerstag.\\r" not in shown


async def test_the_preview_shows_a_namesake_reason_whole_on_80_columns(tmp_path, monkeypatch):
    """The lines under the list promise every recipient and the main reason in full: a
    namesake's reason takes three lines of 80 columns and was cut after two, mid-sentence."""
    from textual.widgets import Static

    from sendguard.tui.rowlist import RowList
    from tests.support.tui_pilot import settle

    monkeypatch.setenv("TZ", "UTC")
    app = data.make_app(tmp_path)
    reason = (
        "markus.brandt@kundenfirma.example may be the wrong person: m.berger@nordwerk.example (same first "
        "name) fits this message better (the other recipients, the organization of the other recipients, "
        "a topic you keep inside the organization)."
    )
    long_id = "20261127-085600-bbbbbb"
    data.put(
        tmp_path / "sendguard" / "queue",
        long_id,
        data.message("markus.brandt@kundenfirma.example", "Kosten", "Hallo Markus,\n"),
        "held",
        -200,
        verdict="hold",
        findings=[data.finding("namesake", "hold", reason, "markus.brandt@kundenfirma.example")],
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one(RowList).move_to(long_id)
        await pilot.pause()
        preview = app.screen.query_one("#preview", Static)
        lines = preview.render().wrap(preview.content_size.width)
        assert "inside the organization)." in str(lines[-1])
        assert preview.content_size.height >= len(lines), (preview.content_size, len(lines))
