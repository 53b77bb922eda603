"""The incident log: records are mail, indexed in a real notmuch database, searchable with
notmuch's query language; a missing or locked notmuch delays the index, never the record."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

notmuch2 = pytest.importorskip("notmuch2")

from sendguard.act import events  # noqa: E402
from sendguard.act import queue as q  # noqa: E402
from sendguard.config import schema as config_mod  # noqa: E402
from sendguard.incidents import log_dir, pending_dir, store  # noqa: E402
from sendguard.incidents.indexer import index_now  # noqa: E402
from sendguard.incidents.record import record  # noqa: E402
from tests.conftest import make_message  # noqa: E402
from tests.support.wait import wait_until  # noqa: E402

NOW = 1795770000.0  # 2026-11-27 09:00 UTC
DAY = 86400.0

CONFIG = config_mod.parse("""
[organization]
domains = ["nordwerk.example"]
[clients.kundenfirma]
domains = ["kundenfirma.example"]
""")

EXTERNAL = {
    "rule": "external-recipient",
    "severity": "warn",
    "message": "outside",
    "recipient": "anna@kundenfirma.example",
    "suggestion": None,
    "evidence": None,
}


def keep(
    state_dir: Path,
    *,
    state: str = q.HELD,
    verdict: str = "hold",
    to: str = "anna@kundenfirma.example",
    subject: str = "Falke status",
    findings: list | None = None,
    body: str = "Hello,\nthe rollout.\n",
) -> q.Entry:
    queue = q.Queue(state_dir / "queue")
    raw = make_message(to=to, subject=subject, body=body)
    entry, lock = queue.create(
        raw,
        {
            "state": state,
            "verdict": verdict,
            "envelope": [to],
            "subject": subject,
            "from": "Me <me@nordwerk.example>",
            "findings": [EXTERNAL] if findings is None else findings,
        },
    )
    lock.release()
    return entry


@pytest.fixture
def state_dir(tmp_path) -> Path:
    return tmp_path / "state"


def test_a_record_is_a_mail_with_summary_tags_and_the_original_attached(state_dir):
    entry = keep(state_dir)
    path = record(entry, "held", CONFIG, now=NOW)
    assert path.parent == log_dir(state_dir) / "cur" and path.name.endswith(":2,S")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "[held] Falke status"
    assert msg["To"] == "anna@kundenfirma.example"
    assert msg["X-Sendguard-Id"] == entry.id
    assert email.utils.parsedate_to_datetime(msg["Date"]).timestamp() == NOW
    tags = msg["X-Sendguard-Tags"].split()
    assert {"held", "state:held", "decision:hold", "rule:external-recipient", "client:kundenfirma", "outside"} <= set(
        tags
    )
    summary, meta_part, attached = list(msg.iter_parts())
    assert json.loads(meta_part.get_content())["id"] == entry.id
    assert "held — not sent" in summary.get_content()
    assert "external-recipient: outside" in summary.get_content()
    assert attached.get_content_type() == "message/rfc822"
    original = path.read_bytes().split(b"Content-Transfer-Encoding: 8bit\n\n")[-1]
    assert original.startswith(entry.raw())
    assert (pending_dir(state_dir) / path.name).exists()


def test_a_non_ascii_subject_survives_as_rfc2047_and_is_found(state_dir):
    entry = keep(state_dir, subject="Größe der Übergabe – Angebot", to="jörg@kundenfirma.example")
    path = record(entry, "held", CONFIG, now=NOW)
    head = path.read_bytes().split(b"\n\n")[0]
    assert head.isascii() or b"j\xc3\xb6rg" in head  # subject encoded; an IDN address may stay UTF-8
    store.index_pending(state_dir)
    rows = store.search(state_dir, "Übergabe")
    assert [r.subject for r in rows] == ["Größe der Übergabe – Angebot"]


def test_a_long_non_ascii_subject_reads_back_whole_wherever_its_words_split(state_dir):
    """notmuch (GMime) drops the rest of a subject after an RFC 2047 word that ends in a space."""
    subjects = [f"{'x' * n} Kostenoptimierung Niederlassung – bitte um Freigabe" for n in range(1, 16)]
    for subject in subjects:
        for event in ("held", "released", "delivered"):
            record(keep(state_dir, subject=subject), event, CONFIG, now=NOW)
    store.index_pending(state_dir)
    rows = store.search(state_dir, "Kostenoptimierung")
    assert len(rows) == 3 * len(subjects)
    assert sorted({r.subject for r in rows}) == sorted(subjects)


def test_notmuch_queries_find_records_by_tag_date_recipient_and_words(state_dir):
    held = keep(state_dir, subject="Falke Angebot", body="the quarterly numbers\n")
    record(held, "held", CONFIG, now=NOW - 10 * DAY)
    sent = keep(
        state_dir,
        state=q.DELIVERED,
        verdict="warn",
        to="bob@nordwerk.example",
        subject="Lunch",
        findings=[{"rule": "audience-size", "severity": "warn", "message": "many"}],
    )
    record(sent, "delivered", CONFIG, now=NOW)
    report = store.index_pending(state_dir)
    assert (report.indexed, report.dropped, report.failed) == (2, 0, [])
    assert store.pending_markers(state_dir) == []

    def ids(query: str) -> list[str]:
        return [r.id for r in store.search(state_dir, query)]

    assert ids("tag:held") == [held.id]
    assert ids("tag:warned") == [sent.id]
    assert ids("tag:rule:audience-size") == [sent.id]
    assert ids("tag:client:kundenfirma") == [held.id]
    assert ids("to:kundenfirma.example") == [held.id]
    assert ids("quarterly") == [held.id]  # words of the attached original are indexed too
    assert ids("date:2026-11-16..2026-11-18") == [held.id]
    assert ids("*") == [sent.id, held.id]  # newest first
    row = store.search(state_dir, "tag:held")[0]
    assert row.recipients == ["anna@kundenfirma.example"]
    assert row.date == "2026-11-17T09:00:00+00:00"
    assert row.event == "held" and row.subject == "Falke Angebot"


def test_only_a_message_with_an_attachment_is_tagged_attachment(state_dir):
    plain = keep(state_dir, subject="No file")
    record(plain, "held", CONFIG, now=NOW)
    queue = q.Queue(state_dir / "queue")
    with_file = (
        b"From: Me <me@nordwerk.example>\nTo: anna@kundenfirma.example\nSubject: The offer\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
        b"Attached.\n--b\nContent-Type: application/pdf\nContent-Disposition:\n attachment; filename=offer.pdf\n"
        b"Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--\n"
    )
    attached, lock = queue.create(with_file, {"state": q.HELD, "verdict": "hold", "subject": "The offer"})
    lock.release()
    record(attached, "held", CONFIG, now=NOW)
    store.index_pending(state_dir)
    assert [r.id for r in store.search(state_dir, "tag:attachment")] == [attached.id]
    assert [r.id for r in store.search(state_dir, "attachment:offer.pdf")] == [attached.id]
    (row,) = store.search(state_dir, "tag:held and not tag:attachment")
    assert row.id == plain.id
    store.reindex_all(state_dir)
    assert [r.id for r in store.search(state_dir, "tag:attachment")] == [attached.id], "and after a rebuild"


def test_a_record_caught_between_its_marker_and_its_rename_is_indexed_once_it_lands(state_dir):
    """Another sendmail's indexer can run between write_record's marker and its rename: it must
    not take the record still in tmp/ for a crashed write and drop its marker."""
    from sendguard.incidents.record import build_record, write_record

    write_record(state_dir, build_record(keep(state_dir).meta, b"x", "held", [], now=NOW)[0], "first", now=NOW)
    store.index_pending(state_dir)  # the log's database and dirs exist, as after any earlier mail
    data, message_id = build_record(keep(state_dir, subject="caught").meta, b"x", "held", ["held"], now=NOW)
    name = f"{int(NOW)}.{os.getpid()}_{message_id.partition('@')[0]}.sendguard"
    (log_dir(state_dir) / "tmp" / name).write_bytes(data)  # the writer's steps, stopped halfway
    marker = pending_dir(state_dir) / f"{name}:2,S"
    marker.touch()
    report = store.index_pending(state_dir)
    assert report.dropped == 0 and marker.exists(), "the record is on its way: keep its marker"
    os.rename(log_dir(state_dir) / "tmp" / name, log_dir(state_dir) / "cur" / f"{name}:2,S")
    store.index_pending(state_dir)
    assert [r.subject for r in store.search(state_dir, "subject:caught")] == ["caught"]
    assert store.pending_markers(state_dir) == []


def test_indexing_twice_and_a_marker_without_record_are_harmless(state_dir):
    path = record(keep(state_dir), "held", CONFIG, now=NOW)
    store.index_pending(state_dir)
    (pending_dir(state_dir) / path.name).touch()  # as if the indexer died before removing it
    (pending_dir(state_dir) / "123.crashed_before_rename:2,S").touch()
    report = store.index_pending(state_dir)
    assert (report.indexed, report.dropped) == (1, 1)
    assert len(store.search(state_dir, "*")) == 1
    assert store.pending_markers(state_dir) == []


def test_reindex_rebuilds_a_lost_database(state_dir):
    for n in range(3):
        record(keep(state_dir, subject=f"m{n}"), "held", CONFIG, now=NOW + n)
    store.index_pending(state_dir)
    import shutil

    shutil.rmtree(log_dir(state_dir) / ".notmuch")
    assert store.search(state_dir, "*") == []
    assert store.reindex_all(state_dir).indexed == 3
    assert {r.subject for r in store.search(state_dir, "tag:held")} == {"m0", "m1", "m2"}


def test_a_locked_database_delays_indexing_but_not_the_record_nor_the_search(state_dir):
    record(keep(state_dir, subject="first"), "held", CONFIG, now=NOW)
    store.index_pending(state_dir)
    writer = notmuch2.Database(
        str(log_dir(state_dir)), mode=notmuch2.Database.MODE.READ_WRITE, config=notmuch2.Database.CONFIG.EMPTY
    )  # someone else holds the lock
    try:
        path = record(keep(state_dir, subject="second"), "held", CONFIG, now=NOW + 1)
        assert path.exists()
        pending = index_now(state_dir, wait=0.5)  # bounded wait, then search what is indexed
        assert pending.count == 1 and "busy" in pending.problem, "it gave up waiting for the lock, as told"
        assert [r.subject for r in store.search(state_dir, "tag:held")] == ["first"]
    finally:
        writer.close()
    # the indexer it started goes on by itself once the lock is free
    wait_until(lambda: not store.pending_markers(state_dir), 30)
    assert [r.subject for r in store.search(state_dir, "tag:held")] == ["second", "first"]


def test_without_notmuch_the_record_is_written_and_indexed_later(state_dir, tmp_path, monkeypatch):
    path = record(keep(state_dir), "held", CONFIG, now=NOW)
    fake = tmp_path / "no-notmuch"
    fake.mkdir()
    (fake / "notmuch2.py").write_text("raise ImportError('libnotmuch is not installed')\n")
    env = {**os.environ, "PYTHONPATH": f"{fake}{os.pathsep}{Path(__file__).parents[2]}"}
    proc = subprocess.run(
        [sys.executable, "-m", "sendguard.incidents.indexer", str(state_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "libnotmuch is not installed" in proc.stderr
    assert path.exists() and store.pending_markers(state_dir) != []
    with monkeypatch.context() as patched:  # what `sendguard log` then says
        patched.setenv("PYTHONPATH", env["PYTHONPATH"])
        pending = index_now(state_dir, wait=30)
    assert pending.count == 1 and "libnotmuch is not installed" in pending.problem
    assert index_now(state_dir, wait=30).count == 0  # notmuch is back: indexed now
    assert len(store.search(state_dir, "tag:held")) == 1


# ---- through the real send path and CLI --------------------------------------------------------


def _wait_indexed(world, timeout: float = 30) -> None:
    state = Path(os.environ["XDG_DATA_HOME"]) / "sendguard"
    assert events.settle(state, timeout)  # sendmail's detached observers have written the records
    pending = state / "incidents-pending"
    wait_until(lambda: not any(not p.name.startswith(".") for p in pending.glob("*")), timeout)


def test_every_decision_of_the_send_path_is_in_the_log(world):
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    assert world.send(make_message(to="bob@nordwerk.example", subject="Lunch"), "-t").returncode == 0
    held = world.send(make_message(to="anna@kundenfirma.example", subject="Falke numbers"), "-t")
    assert held.returncode == 75
    entries = {e.meta["subject"]: e for e in q.Queue.default().entries()}
    _wait_indexed(world)
    out = world.cli("log", "--json", "tag:held")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 1
    assert {"id", "subject", "recipients", "tags", "date"} <= set(rows[0])
    assert rows[0]["id"] == entries["Falke numbers"].id
    assert rows[0]["subject"] == "Falke numbers"
    assert rows[0]["recipients"] == ["anna@kundenfirma.example"]
    assert "rule:external-recipient" in rows[0]["tags"] and "client:kundenfirma" in rows[0]["tags"]
    delivered = [json.loads(line) for line in world.cli("log", "--json", "tag:delivered").stdout.splitlines()]
    assert [r["id"] for r in delivered] == [entries["Lunch"].id]
    released = world.cli("release", entries["Falke numbers"].id)
    assert released.returncode == 0, released.stderr
    events = [
        json.loads(line)["event"]
        for line in world.cli(
            "log", "--json", f"id:{rows[0]['record']} or to:anna@kundenfirma.example"
        ).stdout.splitlines()
    ]
    assert sorted(events) == ["delivered", "held", "released"]
    text = world.cli("log", "to:kundenfirma.example")
    assert "Falke numbers" in text.stdout and "Lunch" not in text.stdout


def test_log_disabled_writes_nothing_and_notmuch_off_still_writes_records(world):
    world.write_config("[log]\nnotmuch = false\n")
    assert world.send(make_message(to="bob@nordwerk.example"), "-t").returncode == 0
    data = Path(os.environ["XDG_DATA_HOME"]) / "sendguard"
    assert events.settle(data)  # the record is written by sendmail's detached observers
    assert len(list((data / "incidents" / "cur").iterdir())) == 1
    assert not (data / "incidents" / ".notmuch").exists()  # nothing was indexed on the send path
    assert len([json.loads(x) for x in world.cli("log", "--json").stdout.splitlines()]) == 1
    world.write_config("[log]\nenabled = false\n")
    assert world.send(make_message(to="carl@nordwerk.example"), "-t").returncode == 0
    assert events.settle(data)
    assert len(list((data / "incidents" / "cur").iterdir())) == 1


def test_the_send_path_never_imports_notmuch2_even_when_it_logs(world):
    code = (
        "import sys\nfrom sendguard.sendpath import path as sendmail\nrc = sendmail.run(['-t'])\n"
        "assert rc == 0, rc\nassert 'notmuch2' not in sys.modules\nprint('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=world.env(),
        capture_output=True,
        text=True,
        input=make_message(to="bob@nordwerk.example").decode(),
        timeout=60,
    )
    assert proc.stdout.strip() == "ok", proc.stderr
    state = Path(os.environ["XDG_DATA_HOME"]) / "sendguard"
    assert events.settle(state, 30)  # observers that run detached have written the record
    assert len(list((state / "incidents" / "cur").iterdir())) == 1


def test_a_query_notmuch_cannot_parse_is_an_error_for_a_person(world):
    world.send(make_message(to="bob@nordwerk.example"), "-t")
    out = world.cli("log", "tag:held and (")
    assert out.returncode != 0
    assert out.stderr.startswith("sendguard: error:") and "Traceback" not in out.stderr


def test_log_says_in_notmuchs_words_why_a_query_cannot_run(world):
    world.send(make_message(to="bob@nordwerk.example"), "-t")
    assert world.cli("log", "--wait", "30", "*").returncode == 0  # the log exists and is indexed
    refused = world.cli("log", "date:yesterdayish")
    assert refused.returncode == 64
    assert "Didn't understand date specification 'yesterdayish'" in refused.stderr
    unclosed = world.cli("log", "date:(((")  # notmuch itself would find nothing and say nothing
    assert unclosed.returncode == 64 and "3 '(' not closed" in unclosed.stderr


def test_a_query_that_is_not_utf8_is_an_error_for_a_person(world):
    """A Latin-1 terminal's "Müller" reached notmuch2 as a str it cannot encode: a traceback."""
    world.send(make_message(to="bob@nordwerk.example"), "-t")
    assert world.cli("log", "--wait", "30", "*").returncode == 0  # the log exists and is indexed
    latin1 = os.fsdecode(b"M\xfcller")
    refused = world.cli("log", latin1, "tag:delivered")
    assert refused.returncode == 64, refused.stderr
    first, hint = refused.stderr.splitlines()
    assert first == "sendguard: error: the query 'M\\xfcller tag:delivered' is not UTF-8 text: notmuch reads only UTF-8"
    assert "UTF-8 locale" in hint


def test_a_burst_of_mail_is_all_indexed_by_the_detached_indexers_alone(world):
    """Many sendmail processes at once: one indexer runs, the others see its lock and leave;
    it looks again before exiting, so no record is left unindexed without anyone calling log."""
    from concurrent.futures import ThreadPoolExecutor

    messages = [make_message(to="bob@nordwerk.example", subject=f"burst {n}") for n in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(lambda m: world.send(m, "-t").returncode, messages))
    assert codes == [0] * 12
    state = Path(os.environ["XDG_DATA_HOME"]) / "sendguard"
    assert events.settle(state, 60)  # every record written (by sendmail's detached observers)
    wait_until(lambda: not store.pending_markers(state), 60, 0.1)
    assert store.pending_markers(state) == []
    subjects = {r.subject for r in store.search(state, "tag:delivered")}
    assert subjects == {f"burst {n}" for n in range(12)}
