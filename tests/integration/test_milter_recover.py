"""After a mistake left through the team's milter: the administrator forgets it from the
sender's history (``forget --as``) and writes the record and drafts (``oops --as``).

The milter's state directory is built by the milter's own code: ``learn --as`` seeds Petra's
history, the policy the workers run holds her message to the client's Thomas, and her
identical resend confirms it (the "Sent anyway" case). The commands run as the installed
``sendguard``; the worker test drives the real worker loop over pipes.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from sendguard.config.schema import load
from sendguard.milter import senders
from sendguard.milter.policy import ACCEPT, REJECT, Policy, Transaction
from sendguard.model import Verdict
from tests.conftest import sendguard_exe
from tests.support import history_fixtures as hf

INTERNAL_NOTE = (
    "Hallo Thomas,\n\nzur Umstrukturierung: die Personalkosten der Abteilung müssen sinken, "
    "zwei Stellen fallen weg. Budget und Gehälter besprechen wir morgen.\n\nGruß\nPetra"
)


def team_config(state: Path, extra: str = "") -> str:
    """Petra's organization and clients, nobody's identity: the milter's config."""
    world = hf.CONFIG_TEXT.split("\n[organization]", 1)[1]
    return (
        f"\n[organization]{world}\n[log]\nnotmuch = false\n\n[milter]\n"
        f'hold = "reject"\nstate_dir = "{state}"\nnotify = false\n{extra}'
    )


@dataclass
class Team:
    root: Path
    config_path: Path
    state: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sendguard_exe(), "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={k: v for k, v in os.environ.items() if k != "SENDGUARD_CONFIG"},
        )

    def policy(self) -> Policy:
        return Policy(load(self.config_path), self.state)

    def sent_to(self, addr: str, sender: str = hf.ME) -> int:
        db = sqlite3.connect(senders.sender_dir(self.state, sender) / "history.sqlite")
        try:
            row = db.execute("SELECT sent FROM contacts WHERE addr = ?", (addr,)).fetchone()
        finally:
            db.close()
        return int(row[0]) if row else 0


@pytest.fixture
def team(tmp_path) -> Team:
    state = tmp_path / "milter"
    config = tmp_path / "team.toml"
    config.write_text(team_config(state))
    t = Team(tmp_path, config, state)
    sent = hf.write_maildir(tmp_path / "Sent", hf.history_messages())
    out = t.cli("learn", "--as", hf.ME, str(sent))
    assert out.returncode == 0, out.stderr
    return t


def tx(raw: bytes, sender: str = hf.ME) -> Transaction:
    return Transaction(
        sender=sender, envelope_from=sender, recipients=[hf.CLIENT_THOMAS], raw=raw, queue_id="4ABC123DEF"
    )


def wrong_thomas(msgid: str) -> bytes:
    return hf.mail([hf.CLIENT_THOMAS], "Personalkosten Abteilung", INTERNAL_NOTE, msgid=msgid, n=100)


def sent_anyway(policy: Policy, msgid: str = "mistake@lindenhof.example") -> str:
    """Held, then confirmed by the identical resend: it went out and was learned. The id."""
    held = policy.judge(tx(wrong_thomas(msgid)))
    assert held.action == REJECT, held
    confirmed = policy.judge(tx(b"Received: by mx id 9XYZ; now\n" + wrong_thomas(msgid)))
    assert confirmed.action == ACCEPT and confirmed.entry_id == held.entry_id
    return held.entry_id


@pytest.mark.parametrize("how", ["id", "message-id"])
def test_forget_as_takes_a_confirmed_mistake_out_of_the_senders_history(team, how):
    known = team.sent_to(hf.CLIENT_THOMAS)
    policy = team.policy()  # one worker's policy: its history stays open between messages
    entry_id = sent_anyway(policy)
    assert team.sent_to(hf.CLIENT_THOMAS) == known + 1, "the milter learned what it let through"
    next_one = wrong_thomas("next@lindenhof.example")
    assert policy.judge(tx(next_one)).verdict == Verdict.PASS, "the mistake now looks routine"

    out = team.cli("forget", "--as", hf.ME.upper(), entry_id if how == "id" else "<mistake@lindenhof.example>")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        f"forgot <mistake@lindenhof.example>: taken out of {hf.ME}'s history (1 contacts); never learned again\n"
    )
    assert team.sent_to(hf.CLIENT_THOMAS) == known
    # the running policy reads the history as it is now: held again
    assert policy.judge(tx(next_one)).action == REJECT
    # and learning never takes it in again: not the milter, not learn --as from the Sent folder
    policy.learn(hf.ME, wrong_thomas("mistake@lindenhof.example"), [hf.ME])
    sent = hf.write_maildir(team.root / "Sent2", [wrong_thomas("mistake@lindenhof.example")])
    out = team.cli("learn", "--as", hf.ME, str(sent))
    assert out.returncode == 0 and "learned 0 new messages" in out.stdout, out.stdout
    assert team.sent_to(hf.CLIENT_THOMAS) == known


def test_forget_as_while_a_workers_batch_holds_the_message(team, monkeypatch):
    """A worker learns what it let through once idle; the administrator's forget in between
    keeps it out of the batch's write."""
    from sendguard.milter import worker

    monkeypatch.setattr(worker, "LEARN_IDLE", 3600.0)  # learn at EOF only: the batch waits for us
    known = team.sent_to(hf.CLIENT_THOMAS)
    to_worker_r, to_worker_w = os.pipe()
    from_worker_r, from_worker_w = os.pipe()
    stdin, ask = os.fdopen(to_worker_r, "rb"), os.fdopen(to_worker_w, "wb")
    answers, stdout = os.fdopen(from_worker_r, "rb"), os.fdopen(from_worker_w, "wb")
    thread = threading.Thread(target=worker.serve, args=(stdin, stdout), daemon=True)
    thread.start()
    worker.write_frame(ask, (load(team.config_path), team.state))
    assert worker.read_frame(answers) == "ready"
    deadline = 1e12
    worker.write_frame(ask, (tx(wrong_thomas("batched@lindenhof.example")), deadline))
    held = worker.read_frame(answers)
    assert held.action == REJECT
    worker.write_frame(ask, (tx(b"Received: by mx; now\n" + wrong_thomas("batched@lindenhof.example")), deadline))
    assert worker.read_frame(answers).action == ACCEPT  # sent anyway; waiting in the batch

    out = team.cli("forget", "--as", hf.ME, held.entry_id)
    assert out.returncode == 0, out.stderr
    assert f"was not in {hf.ME}'s history; it will never be learned" in out.stdout

    ask.close()  # the milter stops: the worker learns its batch and exits
    thread.join(120)
    assert not thread.is_alive()
    assert team.sent_to(hf.CLIENT_THOMAS) == known


def test_forget_as_says_what_is_wrong_in_one_line(team):
    entry_id = sent_anyway(team.policy())
    cases = [
        (["forget", "--as", "k.neu@lindenhof.example", entry_id], f"{entry_id} is a message of {hf.ME}, not of"),
        (["forget", "--as", hf.ME, "20991231-000000-ffffff"], "the milter kept no such message"),
        (["forget", "--as", "nobody@lindenhof.example", "<x@y.example>"], "the milter has no history for nobody@"),
        (["forget", "--as", " ", "<x@y.example>"], "--as needs the sender's address"),
    ]
    for args, said in cases:
        out = team.cli(*args)
        assert out.returncode == 64, (args, out.stdout)
        assert said in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not senders.sender_dir(team.state, "nobody@lindenhof.example").exists()
