"""The milter behind a real Postfix when things go wrong around it: a history another process is
writing, a check worker that dies or stops reading. What the client is told is asserted as smtplib sees it; the
promises are the README's: never lose a message, never block the team, never let one through
unchecked.
"""

from __future__ import annotations

import os
import signal
import smtplib
import sqlite3
import time
from pathlib import Path

import pytest

from sendguard.milter import senders
from tests.conftest import make_message
from tests.support.postfix import Team, wait_until

pytestmark = pytest.mark.slow

ME = "me@nordwerk.example"


def submit(team: Team, to: str, subject: str, body: str = "") -> tuple[int, bytes]:
    """Send one message with smtplib: (250, b"") when accepted, else the code and text."""
    message = make_message(to=to, subject=subject, **({"body": body} if body else {}))
    try:
        with smtplib.SMTP("127.0.0.1", team.postfix.port, timeout=120) as client:
            client.sendmail(ME, [to], message)
    except smtplib.SMTPResponseException as err:
        return err.smtp_code, err.smtp_error
    return 250, b""


def workers(team: Team) -> list[int]:
    """The pids of the milter's check workers."""
    milter = team.milter.proc
    assert milter is not None
    found: list[int] = []
    for task in os.listdir(f"/proc/{milter.pid}/task"):
        with open(f"/proc/{milter.pid}/task/{task}/children") as children:
            found += [int(pid) for pid in children.read().split()]
    return found


def waiting_for_a_lock(pid: int) -> bool:
    """A thread of the process sleeps in the kernel's nanosleep: nothing in a check worker
    sleeps but sqlite's busy handler, which waits so for a lock another process holds."""
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/wchan") as wchan:
                if wchan.read() == "hrtimer_nanosleep":
                    return True
        except OSError:  # the thread ended meanwhile
            continue
    return False


def learned(store: Path, address: str) -> bool:
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            row = db.execute("SELECT sent FROM contacts WHERE addr = ?", (address,)).fetchone()
    except sqlite3.Error:
        return False
    return bool(row and row[0] >= 1)


def fitted(store: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            return db.execute("SELECT 1 FROM meta WHERE key = 'judgement'").fetchone() is not None
    except sqlite3.Error:
        return False


def test_a_history_another_process_is_writing_delays_no_check(tmp_path, smtp_server):
    """``learn --as``, ``forget --as`` or ``oops --as`` hold the sender's history for writing
    while the milter runs. The worker's learning then waits for the lock (sqlite gives it 30 s);
    the next message, anyone's, is checked and answered meanwhile, not told 451 for the wait,
    and what was let through is learned once the lock is free."""
    with Team(tmp_path, smtp_server, extra="workers = 1\ntimeout = 5\n") as team:
        assert submit(team, "kollege@nordwerk.example", "Lunch") == (250, b"")
        store = senders.sender_dir(team.state, ME) / "history.sqlite"
        # learned, and the judgement fitted (what a worker writes after learning someone new)
        wait_until(lambda: learned(store, "kollege@nordwerk.example") and fitted(store), 60, "the first learned")
        (worker,) = workers(team)
        holder = sqlite3.connect(store, timeout=30, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another writer holds the history
            assert submit(team, "chefin@nordwerk.example", "Plan") == (250, b"")
            # the worker learns it once idle, and waits for the lock: sqlite sleeps and tries again
            wait_until(lambda: waiting_for_a_lock(worker), 60, "the worker waiting to learn")
            started = time.monotonic()
            assert submit(team, "team@nordwerk.example", "Agenda") == (250, b"")
            assert time.monotonic() - started < 5, "answered without waiting for the lock"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert len(team.delivered(3)) == 3
        both = ("chefin@nordwerk.example", "team@nordwerk.example")
        wait_until(lambda: all(learned(store, a) for a in both), 60, "both learned once the lock is free")
        assert workers(team) == [worker], "the worker was not killed for the wait"
        assert "not checked within" not in team.milter.log()


def queued_on_stdin(pid: int) -> int:
    """Bytes waiting in the process's stdin pipe, unread (FIONREAD on a second open of it)."""
    import fcntl
    import struct
    import termios

    fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])
    finally:
        os.close(fd)


def in_background(call):  # type: ignore[no-untyped-def]
    """Run ``call`` on a thread; the returned function waits for and returns its result."""
    import threading

    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()

    def wait() -> object:
        thread.join(300)
        assert result, "no answer"
        return result[0]

    return wait


def test_a_worker_killed_while_checking_is_a_451_at_once_and_the_next_message_goes(tmp_path, smtp_server):
    """The check worker dies (SIGKILL, the kernel's OOM killer) with the message in hand: the
    client is told 451 at once, the log says the worker died, not that time ran out, and a new
    worker checks the retry, delivered once."""
    with Team(tmp_path, smtp_server, extra="workers = 1\ntimeout = 60\n") as team:
        (worker,) = workers(team)
        os.kill(worker, signal.SIGSTOP)  # it cannot answer before it is killed, however fast
        reply = in_background(lambda: submit(team, "kollege@nordwerk.example", "Numbers"))
        wait_until(lambda: queued_on_stdin(worker) > 0, 60, "the message handed to the worker")
        killed = time.monotonic()
        os.kill(worker, signal.SIGKILL)
        code, text = reply()  # type: ignore[misc]
        assert code == 451 and b"4.3.0 sendguard: internal error; please try again later." in text, text
        assert time.monotonic() - killed < 30, "told at once, not at the time limit"
        log = team.milter.log()
        assert "the check worker died: 451" in log and "not checked within" not in log, log
        assert submit(team, "kollege@nordwerk.example", "Numbers") == (250, b"")
        wait_until(lambda: team.postfix.queue() == [], 60, "an empty Postfix queue")
        (got,) = team.delivered(1)
        assert b"Subject: Numbers" in got.data and len(smtp_server.received) == 1


def test_a_worker_that_died_idle_costs_the_next_message_nothing(tmp_path, smtp_server):
    """A worker gone while it waited (killed, out of memory) never had the next message: that
    one is checked by another worker, not told 451."""
    with Team(tmp_path, smtp_server, extra="workers = 1\n") as team:
        (worker,) = workers(team)
        os.kill(worker, signal.SIGKILL)
        assert submit(team, "kollege@nordwerk.example", "Lunch") == (250, b"")
        (got,) = team.delivered(1)
        assert b"Subject: Lunch" in got.data
        assert worker not in workers(team) and len(workers(team)) == 1
        assert "a check worker had died while idle" in team.milter.log()


def test_a_worker_that_does_not_read_a_large_message_is_replaced_within_the_time_limit(tmp_path, smtp_server):
    """The time limit holds for handing the message over too: a worker that does not read (here
    stopped; stuck in anything between two checks) is killed at the limit and replaced, the
    client gets the milter's 451 in time, and the next message goes through."""
    large = "Numbers below.\n\n" + "Quarterly figures, line by line, for the board.\n" * 40_000  # 2 MB
    with Team(tmp_path, smtp_server, extra="workers = 1\ntimeout = 5\n") as team:
        (worker,) = workers(team)
        os.kill(worker, signal.SIGSTOP)
        started = time.monotonic()
        code, text = submit(team, "kollege@nordwerk.example", "Quarter", body=large)
        assert (code, text) == (451, b"4.3.0 sendguard: the check took too long; please try again later.")
        assert time.monotonic() - started < 20, "at the milter's limit, not Postfix's own 30 s"
        wait_until(lambda: len(workers(team)) == 1 and worker not in workers(team), 60, "a new worker")
        assert submit(team, "kollege@nordwerk.example", "Quarter", body=large) == (250, b"")
        (got,) = team.delivered(1)
        assert b"Subject: Quarter" in got.data


def enc(text: str) -> str:
    import base64

    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


# CR/LF that would start a header or an SMTP reply line of its own, ESC/C1/OSC sequences, a bidi
# override, BEL, and printf's and libmilter's "%"
HOSTILE = "\x1b[2J\u009b2J\u009d0;owned\u009c \u202eevil\r\nX-Injected: yes\r\n\x07 %s %n"


def test_hostile_subject_and_names_reach_no_reply_line_header_or_log_line_raw(tmp_path, smtp_server):
    """Through Postfix, a held message whose subject and display names carry controls: the 550
    the client reads, the notice mail's header and body and the milter's log hold none of them."""
    import re

    from tests.support.postfix import notice_subject

    active = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
    extra = '[rules.external-recipient]\naction = "hold"\n'
    with Team(tmp_path, smtp_server, extra=extra) as team:
        message = make_message(
            subject=enc(HOSTILE),
            sender=f"{enc(HOSTILE)} <{ME}>",
            to=f"{enc(HOSTILE)} <anna@kundenfirma.example>",
            body="please find attached the offer\n",
        )
        with smtplib.SMTP("127.0.0.1", team.postfix.port, timeout=60) as client:
            with pytest.raises(smtplib.SMTPDataError) as caught:
                client.sendmail(ME, ["anna@kundenfirma.example"], message)
        assert caught.value.smtp_code == 550
        reply = caught.value.smtp_error.decode("ascii")  # ASCII, or this raises
        assert all(" " <= c <= "~" for line in reply.splitlines() for c in line), reply
        (notice,) = team.notices(1)
        head, body = notice.data.replace(b"\r\n", b"\n").split(b"\n\n", 1)
        assert not [line for line in head.split(b"\n") if line.lower().startswith(b"x-injected")], head
        assert not active.search(notice_subject(notice).replace("\n", "")), notice_subject(notice)
        assert "Held, not sent: \\x1b[2J" in notice_subject(notice)  # the facts are there, escaped
        assert not active.search(body.decode("utf-8").replace("\n", ""))
        assert not active.search(team.milter.log().replace("\n", ""))


def test_a_client_stalling_mid_body_past_the_time_limit_is_checked_once_it_ends(tmp_path, smtp_server):
    """The milter's time limit is for the check, not for the client: a client that stops half-way
    through the body for longer than it is still checked and delivered once when it finishes."""
    with Team(tmp_path, smtp_server, extra="timeout = 4\n") as team:
        message = make_message(to="kollege@nordwerk.example", subject="Slow line").replace(b"\n", b"\r\n")
        client = smtplib.SMTP("127.0.0.1", team.postfix.port, timeout=120)
        client.ehlo()
        assert client.mail(ME)[0] == 250 and client.rcpt("kollege@nordwerk.example")[0] == 250
        assert client.docmd("DATA")[0] == 354
        client.send(message[: len(message) // 2])
        time.sleep(6)  # the stall itself, past the 4 s limit: what the test is about, not a wait
        client.send(message[len(message) // 2 :] + b"\r\n.\r\n")
        code, _ = client.getreply()
        client.close()
        assert code == 250
        wait_until(lambda: team.postfix.queue() == [], 60, "an empty Postfix queue")
        (got,) = team.delivered(1)
        assert b"Subject: Slow line" in got.data and len(smtp_server.received) == 1


def test_connections_dropped_mid_data_leave_no_thread_and_nothing_queued(tmp_path, smtp_server):
    """Clients that hang up half-way through DATA: nothing is delivered or queued, the milter
    ends each connection's thread, and the next message is checked as usual."""
    import socket

    with Team(tmp_path, smtp_server) as team:
        milter = team.milter.proc
        assert milter is not None
        threads = len(os.listdir(f"/proc/{milter.pid}/task"))
        for n in range(50):
            with socket.create_connection(("127.0.0.1", team.postfix.port), timeout=60) as sock:
                replies = sock.makefile("rb")
                replies.readline()
                sock.sendall(b"EHLO drop.example\r\n")
                while replies.readline()[3:4] != b" ":
                    pass
                sock.sendall(f"MAIL FROM:<{ME}>\r\nRCPT TO:<kollege@nordwerk.example>\r\nDATA\r\n".encode())
                assert [replies.readline()[:3] for _ in range(3)] == [b"250", b"250", b"354"]
                sock.sendall(b"From: me@nordwerk.example\r\nSubject: cut\r\n\r\n" + b"half a body\r\n" * (n * 100))
        assert submit(team, "kollege@nordwerk.example", "After the drops") == (250, b"")
        (got,) = team.delivered(1)
        assert b"Subject: After the drops" in got.data
        wait_until(lambda: team.postfix.queue() == [], 60, "an empty Postfix queue")
        wait_until(lambda: len(os.listdir(f"/proc/{milter.pid}/task")) <= threads, 60, "the connection threads gone")
        assert len(smtp_server.received) == 1
