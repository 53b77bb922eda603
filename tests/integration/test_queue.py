"""The queue: private, atomic, locked; and whatever arrives on stdin is delivered or kept, identical."""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sendguard.act import queue as q
from sendguard.errors import QueueError, QueueLockedError
from sendguard.mail.addresses import without_bcc
from sendguard.sendpath.path import SendPath
from tests.conftest import make_message


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def queue(tmp_path) -> q.Queue:
    return q.Queue(tmp_path / "state" / "queue")


def keep(queue: q.Queue, raw: bytes = b"Subject: x\n\nbody\n", **meta) -> q.Entry:
    entry, lock = queue.create(raw, {"state": q.HELD, **meta})
    lock.release()
    return entry


# ---- privacy and atomicity ---------------------------------------------------------------------


def test_directories_are_0700_and_files_0600_whatever_the_umask(queue):
    old = os.umask(0o022)
    try:
        entry = keep(queue)
    finally:
        os.umask(old)
    assert mode(queue.root) == 0o700
    assert mode(entry.path) == 0o700
    for name in ("message.eml", "meta.json", "lock"):
        assert mode(entry.path / name) == 0o600, name
    entry.save(state=q.RELEASED, event="released")
    assert mode(entry.path / "meta.json") == 0o600


def test_create_keeps_the_exact_bytes_and_the_meta(queue):
    raw = b"Subject: \xff\xfe binary\r\n\r\n\x00\x01 body without final newline"
    entry = keep(queue, raw, argv=["-f", "me@x.example", "--", "-x@y.example"])
    assert (entry.path / "message.eml").read_bytes() == raw
    again = queue.get(entry.id)
    assert again.raw() == raw
    assert again.meta["argv"] == ["-f", "me@x.example", "--", "-x@y.example"]  # a JSON list, as given
    assert again.meta["state"] == q.HELD
    assert again.meta["events"][0]["event"] == "kept"
    assert again.meta["id"] == entry.id


def test_no_temporary_files_are_left_behind(queue):
    entry = keep(queue)
    entry.save(state=q.RELEASED, event="released")
    entry.save(state=q.SENDING, event="sending")
    entry.save(state=q.DELIVERED, event="delivered")
    assert sorted(p.name for p in queue.root.iterdir()) == [entry.id]
    assert sorted(p.name for p in entry.path.iterdir()) == ["lock", "message.eml", "meta.json"]


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "meta.json"
    q.atomic_write(target, b"old")
    q.atomic_write(target, b"new" * 1000)
    assert target.read_bytes() == b"new" * 1000
    # a rename that fails leaves the old content and no temporary file
    blocker = tmp_path / "dir"
    (blocker / "sub").mkdir(parents=True)
    with pytest.raises(OSError):
        q.atomic_write(blocker, b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "meta.json"]
    assert (blocker / "sub").is_dir()


def test_save_records_events_and_survives_a_reread(queue):
    entry = keep(queue)
    entry.save(state=q.RELEASED, event="released")
    meta = json.loads((entry.path / "meta.json").read_text())
    assert meta["state"] == q.RELEASED
    assert [e["event"] for e in meta["events"]] == ["kept", "released"]
    assert meta["updated"]


def test_an_entry_with_broken_meta_is_still_listed_and_its_message_kept(queue):
    entry = keep(queue, b"Subject: precious\n\nkeep me\n")
    (entry.path / "meta.json").write_text("{ truncated")
    (listed,) = queue.entries()
    assert listed.id == entry.id and listed.state == q.INTERRUPTED
    assert listed.raw() == b"Subject: precious\n\nkeep me\n"


def test_half_built_entries_are_invisible(queue):
    keep(queue)
    (queue.root / ".new-20260101-000000-abcdef").mkdir()
    assert len(queue.entries()) == 1


# ---- ids --------------------------------------------------------------------------------------


def test_ids_resolve_by_unique_prefix(queue):
    a = keep(queue)
    b = keep(queue)
    assert a.id != b.id
    assert queue.get(a.id).id == a.id
    common = os.path.commonprefix([a.id, b.id])
    assert queue.get(a.id[: len(common) + 1]).id == a.id  # the shortest unique prefix
    with pytest.raises(QueueError, match="matches 2 messages"):
        queue.resolve(common)


def test_entries_are_oldest_first_even_within_one_second(queue):
    """`undo` without an id and `oops last` take the last entry: it must be the last one kept
    (a git series keeps several a second; with a random id suffix "the last" was any of them)."""
    from sendguard.act.delay import latest_undoable

    made = [keep(queue, state=q.DELAYED).id for _ in range(12)]
    assert [e.id for e in queue.entries()] == made
    assert latest_undoable(queue).id == made[-1]


@pytest.mark.parametrize("bad", ["", "nope", "../queue", ".new-x", "a/b", "x" * 300, "é" * 200])  # ENAMETOOLONG
def test_unknown_or_unsafe_ids_are_errors(queue, bad):
    keep(queue)
    with pytest.raises(QueueError) as info:
        queue.resolve(bad)
    assert info.value.exit_code == 64


# ---- locks ------------------------------------------------------------------------------------


def test_the_creator_holds_the_lock_until_it_lets_go(queue):
    entry, lock = queue.create(b"x", {"state": q.ACCEPTED})
    with pytest.raises(QueueLockedError) as info:
        queue.try_lock(entry)  # flock: a second open file conflicts even in one process
    assert info.value.exit_code == 75
    with pytest.raises(QueueLockedError):
        with queue.locked(entry.id):
            pass
    lock.release()
    with queue.locked(entry.id) as fresh:
        assert fresh.state == q.ACCEPTED


def test_release_of_a_locked_entry_exits_75_and_delivers_nothing(world):
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    assert world.send(make_message(), "anna@kundenfirma.example").returncode == 75
    (row,) = [json.loads(x) for x in world.cli("queue", "list", "--json").stdout.splitlines()]
    queue = q.Queue(Path(os.environ["XDG_DATA_HOME"]) / "sendguard" / "queue")
    lock = queue.try_lock(queue.get(row["id"]))
    try:
        proc = world.cli("release", row["id"])
    finally:
        lock.release()
    assert proc.returncode == 75
    assert "another sendguard process" in proc.stderr
    assert world.server.received == []
    assert world.cli("release", row["id"]).returncode == 0
    assert len(world.server.received) == 1


def test_find_confirmable_only_within_the_window(queue):
    entry = keep(queue, fingerprint="abc")
    created = time.time()
    assert queue.find_confirmable("abc", 600, created + 10).id == entry.id
    assert queue.find_confirmable("abc", 600, created + 700) is None
    assert queue.find_confirmable("other", 600, created) is None
    entry.save(state=q.DISCARDED)
    assert queue.find_confirmable("abc", 600, created) is None


# ---- whatever arrives on stdin is delivered identical or kept identical -----------------------

RECORDING_TRANSPORT = textwrap.dedent("""\
    #!/bin/sh
    # A transport that records what it was given, as msmtp would receive it.
    n=$(ls "$OUT" | wc -l)
    printf '%s\\n' "$@" > "$OUT/$n.args"
    cat > "$OUT/$n.eml"
    """)


def run_send_path(
    root: Path, raw: bytes, argv: list[str], extra_config: str = ""
) -> tuple[int, list[bytes], list[bytes]]:
    """The real send path in-process, with a real transport program; returns (exit, delivered, kept)."""
    out = root / "out"
    out.mkdir()
    transport = root / "transport"
    transport.write_text(RECORDING_TRANSPORT)
    transport.chmod(0o700)
    config = root / "config.toml"
    # No incident log: its indexer is a detached process that would write into `root` after we return.
    config.write_text(
        f'[organization]\ndomains = ["nordwerk.example"]\n[transport]\ncommand = ["{transport}"]\n'
        f"[sendmail]\nnotify = false\n[log]\nenabled = false\n{extra_config}"
    )
    queue = q.Queue(root / "queue")
    os.environ["OUT"] = str(out)
    try:
        code = SendPath(config, io.StringIO(), queue=queue).run(argv, io.BytesIO(raw))
    finally:
        del os.environ["OUT"]
    delivered = [p.read_bytes() for p in sorted(out.glob("*.eml"))]
    kept = [e.raw() for e in queue.entries() if e.state not in (q.DELIVERED, q.CONFIRMED)]
    return code, delivered, kept


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.one_of(
        st.binary(max_size=3000),
        st.lists(
            st.one_of(
                st.binary(max_size=80),
                st.sampled_from(
                    [
                        b"To: anna@kundenfirma.example",
                        b"Bcc: boss@nordwerk.example",
                        b"Content-Type: multipart/mixed; boundary=b",
                        b"--b",
                        b"--b--",
                        b"Subject: =?utf-8?b?w6Q=?=",
                        b"",
                        b".",
                        b"From nobody",
                        b"\r",
                        b"\x00",
                    ]
                ),
            ),
            max_size=40,
        ).map(b"\n".join),
    ),
    argv=st.sampled_from(
        [
            ["anna@kundenfirma.example"],
            ["-i", "--", "-oQ@kundenfirma.example"],
            ["-t"],
            ["-f", "me@nordwerk.example", "-t", "x@nordwerk.example"],
        ]
    ),
    held=st.booleans(),
)
def test_stdin_is_delivered_identical_or_kept_identical(raw, argv, held):
    extra = '[rules.external-recipient]\naction = "hold"\n' if held else ""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        code, delivered, kept = run_send_path(Path(tmp), raw, argv, extra)
    if not raw.strip():  # nothing but white space: no message to deliver or keep
        assert (code, delivered, kept) == (65, [], [])
        return
    # Delivered: the bytes read, less any Bcc field (as msmtp's remove_bcc_headers); kept: as read.
    assert (delivered, kept) in (([without_bcc(raw)], []), ([], [raw])), f"exit {code}"
    assert (code == 0) == bool(delivered)


def test_transport_gets_caller_options_and_dash_recipients_after_double_dash(tmp_path):
    code, delivered, _ = run_send_path(
        tmp_path, make_message(), ["-oi", "-f", "me@nordwerk.example", "--", "-oQ@kundenfirma.example"]
    )
    assert code == 0
    assert (tmp_path / "out" / "0.args").read_text().splitlines() == [
        "-oi",
        "-f",
        "me@nordwerk.example",
        "--",
        "-oQ@kundenfirma.example",
    ]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=200), max_size=30))
def test_real_msmtp_delivers_what_arrived(world, lines):
    """Through real msmtp to aiosmtpd: identical bytes, SMTP's CRLF aside."""
    world.server.received.clear()
    # hypothesis sends one message more than once: the same Message-ID, on purpose.
    text = world.config_path.read_text()
    if "duplicate_window" not in text:
        # and it draws words from the source ("anbei" with no attachment holds): what the lines
        # say is not this test's matter
        from sendguard.rules import CONTENT_RULES

        off = "".join(
            f'[rules.{rule}]\naction = "off"\n' for rule in sorted(CONTENT_RULES) if rule != "unreadable-message"
        )
        world.config_path.write_text(text.replace("[sendmail]\n", "[sendmail]\nduplicate_window = 0\n") + off)
    body = "\n".join(lines) + "\n"
    msg = make_message(body=body)
    proc = world.send(msg, "--", "anna@kundenfirma.example")
    assert proc.returncode == 0, proc.stderr
    (got,) = world.server.received
    assert got.data.replace(b"\r\n", b"\n") == msg


def test_fingerprint_ignores_header_order_date_and_message_id():
    from sendguard.sendpath.path import fingerprint

    first = b"From: me@x.example\nTo: a@y.example\nSubject: long\n subject\nDate: 1\nMessage-ID: <1@x>\n\nbody\n"
    # aerc reorders fields on every send; mutt and git regenerate Date and Message-ID
    again = b"Message-ID: <2@x>\nSubject: long\n subject\nDate: 2\nTo: a@y.example\nFrom: me@x.example\n\nbody\n"
    assert fingerprint(first, ["a@y.example"]) == fingerprint(again, ["a@y.example"])
    assert fingerprint(first.replace(b"\n", b"\r\n"), ["a@y.example"]) == fingerprint(first, ["a@y.example"])
    # but who gets it, what it says and where a continuation line belongs all count
    assert fingerprint(first, ["a@y.example"]) != fingerprint(first, ["b@y.example"])
    assert fingerprint(first, ["a@y.example"]) != fingerprint(first.replace(b"body", b"bodY"), ["a@y.example"])
    moved = b"From: me@x.example\nTo: a@y.example\n subject\nSubject: long\nDate: 1\n\nbody\n"
    assert fingerprint(first, ["a@y.example"]) != fingerprint(moved, ["a@y.example"])


def test_fingerprint_folds_crlf_across_chunk_boundaries():
    from sendguard.sendpath.path import fingerprint

    head = b"From: me@x.example\nTo: a@y.example\n\n"
    body = b"x" * ((1 << 20) - 1) + b"\r\nend\r\n"  # the CR is the last byte of the first chunk
    assert fingerprint(head + body, ["a@y.example"]) == fingerprint(
        head + body.replace(b"\r\n", b"\n"), ["a@y.example"]
    )
    assert fingerprint(head + body, ["a@y.example"]) != fingerprint(
        head + body.replace(b"end", b"End"), ["a@y.example"]
    )


def _multipart(outer: str, inner: str, text: str = "Hello Anna", attachment: str = "cXVhcnRlcmx5") -> bytes:
    """A mutt-like message with an alternative part inside a mixed one, boundaries as given."""
    return (
        f'From: me@x.example\nTo: a@y.example\nContent-Type: multipart/mixed;\n boundary="{outer}"\n\n'
        f"--{outer}\nContent-Type: multipart/alternative; boundary={inner}\n\n"
        f"--{inner}\nContent-Type: text/plain\n\n{text}\n--{inner}\nContent-Type: text/html\n\n<p>{text}</p>\n"
        f"--{inner}--\n\n--{outer}\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n"
        f"{attachment}\n--{outer}--  \n"
    ).encode()


def test_fingerprint_numbers_mime_boundaries_and_still_sees_every_other_change():
    from sendguard.sendpath.path import fingerprint

    to = ["a@y.example"]
    first = fingerprint(_multipart("CbGUPD6XSkCdabUZ", "inner-1"), to)
    # mutt, neomutt and aerc draw new boundaries on every attempt (measured)
    assert fingerprint(_multipart("mKsTKI6GszLYUJdY", "zz-2nd-inner-zz"), to) == first
    assert fingerprint(_multipart("mKsTKI6GszLYUJdY", "x").replace(b"\n", b"\r\n"), to) == first
    # the text, the attachment, the structure and the recipients still count
    assert fingerprint(_multipart("A", "B", text="Hello Anne"), to) != first
    assert fingerprint(_multipart("A", "B", attachment="cXVhcnRlcmx6"), to) != first
    assert fingerprint(_multipart("A", "A"), to) != first  # one boundary for both levels: another tree
    assert fingerprint(_multipart("A", "B"), ["b@y.example"]) != first
    swapped = _multipart("A", "B").replace(b"text/plain", b"text/PLAIN")
    assert fingerprint(swapped, to) != first


_TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'()+_,-./:=?", min_size=8, max_size=40)


@given(
    texts=st.lists(st.text("abcdefgh xyz-\n", max_size=60), min_size=1, max_size=4),
    names=st.lists(_TOKEN, min_size=2, max_size=2, unique=True),
    renamed=st.lists(_TOKEN, min_size=2, max_size=2, unique=True),
    at=st.integers(min_value=0),
)
def test_fingerprint_ignores_boundary_names_and_nothing_else(texts, names, renamed, at):
    """Renaming the boundaries keeps the fingerprint; changing one character of a part does not."""
    from sendguard.sendpath.path import fingerprint

    def message(outer: str, inner: str, parts: list[str]) -> bytes:
        body = "".join(f"--{inner}\nContent-Type: text/plain\n\n{t}\n" for t in parts) + f"--{inner}--\n"
        return (
            f'From: me@x.example\nContent-Type: multipart/mixed; boundary="{outer}"\n\n--{outer}\n'
            f'Content-Type: multipart/alternative; boundary="{inner}"\n\n{body}--{outer}--\n'
        ).encode()

    joined = "\0".join(texts)
    i = at % (len(joined) + 1)
    changed = (joined[:i] + "Q" + joined[i:]).split("\0")
    assume(not any(n in t for t in texts + changed for n in names + renamed))  # RFC 2046: never in a part
    first = fingerprint(message(*names, texts), ["a@y.example"])
    assert fingerprint(message(*renamed, texts), ["a@y.example"]) == first
    assert fingerprint(message(*renamed, changed), ["a@y.example"]) != first


def test_fingerprint_numbers_boundaries_across_chunk_boundaries():
    from sendguard.sendpath.path import fingerprint

    def big(boundary: str) -> bytes:
        head = f'From: me@x.example\nContent-Type: multipart/mixed; boundary="{boundary}"'.encode()
        delimiter = b"--" + boundary.encode()
        body = b"\r\n\r\n" + delimiter + b"\r\n\r\n"
        filler = b"QUJD" * 19 + b"\r\n"
        body += filler * ((1 << 20) // len(filler) - 2)
        body += b"Q" * ((1 << 20) - 3 - len(body) - 2) + b"\r\n"  # the next delimiter spans the 1 MiB mark
        assert len(body) == (1 << 20) - 3
        return head + body + delimiter + b"\r\n\r\n" + filler * 50 + delimiter + b"--\r\n"

    assert fingerprint(big("boundary-one"), ["a@y.example"]) == fingerprint(big("boundary-two"), ["a@y.example"])
    changed = big("boundary-two").replace(b"QUJD\r\n--", b"QUJE\r\n--")
    assert fingerprint(big("boundary-one"), ["a@y.example"]) != fingerprint(changed, ["a@y.example"])


def test_message_id_notes_go_with_their_entries(queue):
    entry, lock = queue.create(b"Message-ID: <a@x>\n\nhi\n", {"state": q.ACCEPTED, "message_id": "<a@x>"})
    lock.release()
    assert queue.latest_with_message_id("<a@x>") == entry
    assert queue.prune_message_ids() == 0
    import shutil

    shutil.rmtree(entry.path)  # pruned after keep_days
    assert queue.prune_message_ids() == 1
    assert list((queue.root / q.MESSAGE_IDS).iterdir()) == []
    assert queue.latest_with_message_id("<a@x>") is None


# ---- a damaged entry ---------------------------------------------------------------------------


@pytest.mark.parametrize("damage", [b"", b"{bad", b"[]", b'"x"', b"null", b"5", b"\xff\xfe", "gone", "a directory"])
def test_a_damaged_entry_is_named_in_one_line_and_stops_nothing_else(world, damage):
    """A meta.json that is not a JSON object (a disk error, a hand edit) made every later hold
    an internal error (70) and every listing a traceback; an unparsable one, release and discard.
    One gone, or a directory in its place: release and discard exited 73 (cannot write the state)."""
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    assert world.send(make_message(subject="first"), "anna@kundenfirma.example").returncode == 75
    (entry,) = q.Queue.default().entries()
    (entry.path / "meta.json").unlink()
    if damage == "a directory":
        (entry.path / "meta.json").mkdir()
    elif isinstance(damage, bytes):
        (entry.path / "meta.json").write_bytes(damage)
    held = world.send(make_message(subject="second"), "anna@kundenfirma.example")
    assert held.returncode == 75, held.stderr
    listed = world.cli("queue", "list")
    assert listed.returncode == 0 and entry.id in listed.stdout, listed.stderr
    for command in ("release", "discard"):
        proc = world.cli(command, entry.id)
        assert proc.returncode == 64, proc.stderr
        assert "Traceback" not in proc.stderr
        first, *hints = proc.stderr.splitlines()
        assert first.startswith(f"sendguard: error: message {entry.id} cannot be read: its meta.json is damaged")
        assert hints == [f"  the message itself is kept: {entry.path / 'message.eml'}"]
    assert (entry.path / "message.eml").exists()
    assert world.server.received == []


def test_queue_list_shows_a_long_reason_whole_and_marks_a_cut_one():
    """The reason was cut at 150 characters mid-word ("... a topic you k"): the person reads
    why a message is kept here, after mutt in batch mode forgot it."""
    from sendguard.act.listing import text_lines

    queue = q.Queue(Path(os.environ["XDG_DATA_HOME"]) / "sendguard" / "queue")
    long_reason = (
        "markus.brandt@kundenfirma.example may be the wrong person: m.berger@nordwerk.example, inside the "
        "organization, fits this message better (a topic you keep inside the organization)."
    )
    hostile = "x@example.org " * 100
    shown = {}
    for why in (long_reason, hostile):
        entry, lock = queue.create(
            make_message(subject="why"),
            {
                "state": "held",
                "envelope": ["markus.brandt@kundenfirma.example"],
                "subject": "why",
                "findings": [{"rule": "namesake", "severity": "hold", "message": why}],
            },
        )
        lock.release()
        shown[why] = text_lines(entry)[1]
    assert shown[long_reason] == "    " + long_reason
    assert shown[hostile].endswith("example.org …") and len(shown[hostile]) < 320


def test_queue_list_and_log_mark_a_cut_recipient_list_and_subject(world):
    """Columns were cut silently: three recipients read as two and a bit, "Freigabe" as "Freigab"."""
    world.write_config('[rules.external-recipient]\naction = "hold"\n')
    to = ["anna.schmidt@kundenfirma.example", "bernd.meier@kundenfirma.example", "carla.roth@kundenfirma.example"]
    subject = "Kostenoptimierung Niederlassung – bitte um Freigabe bis Freitag"
    assert world.send(make_message(subject=subject), *to).returncode == 75
    listed = world.cli("queue", "list").stdout.splitlines()[0]
    logged = world.cli("log").stdout.splitlines()[0]
    for line in (listed, logged):
        assert "anna.schmidt@kundenfirma.example, bernd…" in line, line
        assert line.endswith("…") and "Kostenoptimierung Niederlassung" in line, line


def test_keeping_a_message_leaves_the_process_umask_alone(tmp_path, monkeypatch):
    """The umask is the whole process's: the milter keeps copies on its connection threads
    while others create files, so a switch there would race them. Modes are set explicitly."""
    from sendguard.history.store import open_for_write

    def umask(mask: int) -> int:
        raise AssertionError("the umask was changed")

    monkeypatch.setattr(os, "umask", umask)
    queue = q.Queue(tmp_path / "deep" / "queue")
    entry = keep(queue, message_id="<once@nordwerk.example>")
    assert mode(tmp_path / "deep") == 0o700 and mode(queue.root) == 0o700 and mode(entry.path) == 0o700
    assert queue.latest_with_message_id("<once@nordwerk.example>").id == entry.id  # type: ignore[union-attr]
    assert mode(entry.path / "message.eml") == 0o600
    db = open_for_write(tmp_path / "history")
    db.execute("CREATE TABLE IF NOT EXISTS probe (x)")
    db.commit()
    assert mode(tmp_path / "history") == 0o700
    files = {p.name: oct(mode(p)) for p in (tmp_path / "history").iterdir()}
    assert len(files) == 3 and set(files.values()) == {oct(0o600)}, files  # the file, its -wal and -shm
    db.close()
