"""The history less one message (decide.train.LeaveOut) answers the recipient model's lookups."""

from __future__ import annotations

from types import SimpleNamespace

from sendguard.decide.train import LeaveOut
from sendguard.history.fit import FitModel, MessageView
from sendguard.history.store import HistoryStore, open_for_write
from tests.support import history_fixtures as hf


class Message:
    def __init__(self, subject: str, body: str) -> None:
        self.subject = subject
        self.body_text = body


def test_the_history_less_one_message_answers_names_and_words_as_its_base(tmp_path):
    """A sample judged again (a new VERSION) is judged against LeaveOut, which keeps no lookups
    of its own: its first names and vocabulary are its base's, less nothing here."""
    db = open_for_write(hf.learned_state(tmp_path))
    base = HistoryStore(db)
    less = LeaveOut(base, SimpleNamespace(msgid="none", words=[], outside=False, recipients=[]), {})
    words = [w for (w,) in db.execute("SELECT word FROM vocab ORDER BY df DESC, word LIMIT 200")]
    names = [a for (a,) in db.execute("SELECT alias FROM alias ORDER BY alias LIMIT 50")]
    assert words and names
    assert less.known_first_names(words + names) == base.known_first_names(words + names) != set()
    view = MessageView(Message(" ".join(words[:20]), " ".join(names + words)), [])
    assert FitModel(less, view).vocab == FitModel(base, view).vocab != {}
    db.close()
