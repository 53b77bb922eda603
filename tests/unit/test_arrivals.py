"""What `learn` notes of where received mail came from, and what came in there since."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendguard.history import arrivals
from sendguard.history.store import open_for_write
from tests.support import history_fixtures as hf


def test_a_source_learned_again_keeps_when_it_was_first_learned(tmp_path):
    db = open_for_write(tmp_path)
    inbox = arrivals.Source(arrivals.PATH, "/home/p/Mail/INBOX", "", 1000.0)
    arrivals.note(db, [inbox])
    arrivals.note(db, [arrivals.Source(arrivals.PATH, inbox.where, "", 5000.0)])
    (found,) = arrivals.learned_from(db)
    assert (found.first, found.learned) == (1000.0, 5000.0)


def test_only_the_most_recently_learned_sources_are_kept(tmp_path):
    db = open_for_write(tmp_path)
    for n in range(arrivals.MAX_SOURCES + 5):
        arrivals.note(db, [arrivals.Source(arrivals.PATH, f"/mail/{n}", "", float(n))])
    found = arrivals.learned_from(db)
    assert len(found) == arrivals.MAX_SOURCES
    assert found[0].where == f"/mail/{arrivals.MAX_SOURCES + 4}" and found[-1].where == "/mail/5"


def test_an_unreadable_record_is_no_source_and_is_written_over(tmp_path):
    db = open_for_write(tmp_path)
    with db:
        db.execute("INSERT INTO meta VALUES (?, ?)", (arrivals.KEY, "{not json"))
    assert arrivals.learned_from(db) == []
    arrivals.note(db, [arrivals.Source(arrivals.NOTMUCH, "tag:inbox", "", 7.0)])
    assert [s.where for s in arrivals.learned_from(db)] == ["tag:inbox"]


def test_a_folder_tells_new_mail_from_a_flag_set_on_old_mail(tmp_path):
    inbox = hf.write_maildir(tmp_path / "INBOX", [b"Subject: old\n\nold\n"])
    old = next((inbox / "cur").iterdir())
    past = old.stat().st_mtime - 100
    for path in (old, inbox / "cur", inbox / "new", inbox / "tmp", inbox):
        os.utime(path, (past, past))
    source = arrivals.Source(arrivals.PATH, str(inbox), "", past + 50)
    assert arrivals.arrived(source) == arrivals.Arrived(0, False)

    old.rename(old.with_name(old.name + "R"))  # a flag: the folder changed, nothing arrived
    assert arrivals.arrived(source) == arrivals.Arrived(0, True)
    (inbox / "new" / "2.host").write_bytes(b"From: Anna <anna@kundenfirma.example>\nSubject: new\n\nnew\n")
    (inbox / "tmp" / "3.host").write_bytes(b"half-delivered")  # tmp is never mail yet
    (inbox / "cur" / "4.host:2,S").write_bytes(b"From: Me <ME@nordwerk.example>\nSubject: sent\n\ncopy\n")
    own = ["me@nordwerk.example"]
    assert arrivals.arrived(source, own) == arrivals.Arrived(1, True), "the copy of one's own mail is not"
    assert arrivals.arrived(source) == arrivals.Arrived(2, True)


def test_a_source_gone_or_unreadable_tells_nothing(tmp_path):
    gone = arrivals.Source(arrivals.PATH, str(tmp_path / "gone"), "", 1.0)
    assert arrivals.arrived(gone) is None
    mbox = tmp_path / "mbox"
    mbox.write_bytes(b"From x\nSubject: a\n\na\n")
    learned = mbox.stat().st_mtime
    assert arrivals.arrived(arrivals.Source(arrivals.PATH, str(mbox), "", learned + 1)).changed is False
    assert arrivals.arrived(arrivals.Source(arrivals.PATH, str(mbox), "", learned - 1)).changed is True


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000))
def test_whatever_a_new_file_holds_it_is_counted_or_not_without_an_error(tmp_path, raw):
    inbox = tmp_path / "INBOX"
    (inbox / "new").mkdir(parents=True, exist_ok=True)
    (inbox / "new" / "1.host").write_bytes(raw)
    found = arrivals.arrived(arrivals.Source(arrivals.PATH, str(inbox), "", 0.0), ["me@nordwerk.example"])
    assert found is not None and found.changed and found.new in (0, 1)
