"""Big mail is stored once: the incident log hard-links the queue's copy instead of copying it
into every record, and a record still restores the message after the queue pruned it."""

from __future__ import annotations

import email
import email.policy
import os
import shutil

from sendguard.act import queue as q
from sendguard.config.schema import load
from sendguard.incidents import log_dir
from sendguard.incidents.record import INLINE_ORIGINAL_BYTES, record
from sendguard.incidents.restore import parse_record

HEAD = b"From: Me <me@nordwerk.example>\nTo: anna@kundenfirma.example\nSubject: big report\nMIME-Version: 1.0\n"


def big_mail(size: int) -> bytes:
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\n"
    body = line * (size // len(line))
    return (
        HEAD + b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n\nsee attached\n'
        b"--b\nContent-Type: application/pdf; name=r.pdf\nContent-Transfer-Encoding: base64\n\n" + body + b"--b--\n"
    )


def test_a_20_mb_mail_is_stored_once_across_queue_and_log(tmp_path):
    state = tmp_path / "state"
    queue = q.Queue(state / "queue")
    raw = big_mail(20_000_000)
    entry, lock = queue.create(raw, {"state": q.HELD, "envelope": ["anna@kundenfirma.example"], "subject": "big"})
    lock.release()
    config = load(None, required=False)
    paths = [record(entry, event, config) for event in ("held", "released", "delivered")]
    assert all(p.stat().st_size < 64_000 for p in paths), [p.stat().st_size for p in paths]
    assert entry.message_path.stat().st_nlink == 2  # the queue's copy and the log's link: one inode
    total = sum(f.stat().st_size for f in log_dir(state).rglob("*") if f.is_file())
    assert total < len(raw) + 200_000  # counted once (the link), not once per record
    # notmuch still sees the original's headers in the record
    msg = email.message_from_bytes(paths[0].read_bytes(), policy=email.policy.compat32)
    (ref,) = [p for p in msg.walk() if p.get_content_type() == "message/external-body"]
    assert b"Subject: big report" in paths[0].read_bytes()
    assert ref.get_param("access-type") == "local-file"
    # the queue prunes the entry; the record still gives the message back, byte for byte
    shutil.rmtree(entry.path)
    meta, original = parse_record(paths[-1].read_bytes())
    assert original == raw and meta["subject"] == "big"


def test_small_mail_stays_inline(tmp_path):
    queue = q.Queue(tmp_path / "state" / "queue")
    raw = HEAD + b"\nhello\n"
    assert len(raw) < INLINE_ORIGINAL_BYTES
    entry, lock = queue.create(raw, {"state": q.HELD, "envelope": ["anna@kundenfirma.example"]})
    lock.release()
    path = record(entry, "held", load(None, required=False))
    assert entry.message_path.stat().st_nlink == 1
    assert parse_record(path.read_bytes())[1] == raw
    assert not (log_dir(tmp_path / "state") / "originals").exists() or not os.listdir(
        log_dir(tmp_path / "state") / "originals"
    )
