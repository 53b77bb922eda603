"""A check worker: one process that judges messages for the milter, one at a time.

The milter starts ``[milter] workers`` of these (``python -m sendguard.milter.worker``), so the
rules run on every core instead of one Python thread under the GIL, and a check stuck past the
time limit is ended by killing its process (lifecycle.WorkerPool), not left running.

Protocol on stdin/stdout: frames of a 4-byte big-endian length and a pickle. The first frame
is ``(config, root)``; then each request is ``(transaction, deadline)`` (``time.time()``
seconds) and each reply an Outcome. Nothing else is written to stdout; log lines go to stderr.

Learning is batched: what a check let through is queued here and handed to a thread of its own
once no request came for LEARN_IDLE seconds (or the batch is full), one transaction per sender,
so a burst of mail is answered first and learned right after, at a fraction of the cost per
message. The checks never wait for it: a history another process is writing (``learn --as``,
``forget --as``) keeps the learning thread waiting for its lock, not the next message. Notice mails
(a hold, a quarantine, a confirmed hold) go out on a thread of their own after the reply, so a
slow ``sendmail`` never delays this worker's next check.
On EOF (the milter stopped or died) the batch is learned and the worker exits. What waits to
be learned is also in a journal on disk (milter.journal): a worker killed before it learned its
batch loses nothing, the next worker to scan learns it (each scans as it starts, whenever it
has learned what it was handed, every ADOPT_EVERY seconds while idle, and before it ends). One whose milter died while it checked
learns what it holds and exits, as at EOF.
"""

from __future__ import annotations

import os
import pickle
import queue
import select
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sendguard import faults
from sendguard.milter.background import Background
from sendguard.milter.journal import RETRY_AFTER, TRIES, Journal, adoptable
from sendguard.printable import printable

if TYPE_CHECKING:
    from sendguard.history.fit import Read

MAX_BATCH = 200  # messages waiting to be learned before a busy worker hands them over anyway
MAX_BEHIND = 2000  # messages handed over and not yet learned past which more are not learned (logged)
ADOPT_EVERY = 5.0  # seconds between looks for journals nobody holds while no batch comes
LEARN_IDLE = 0.5  # seconds without a request after which the waiting messages are learned
# A check that has this little time left keeps and confirms nothing: the milter may kill it any
# moment, and a copy kept without the client being told would make its retry a confirmation.
MARGIN = 2.0
NOTICE_WAIT = 20.0  # seconds a stopping worker waits for its notices to be handed to sendmail


def write_frame(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next object, or None at EOF."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack(">I", head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


class Deadline:
    """``is_set()`` once less than MARGIN seconds are left (policy.judge's ``cancelled``)."""

    def __init__(self, at: float) -> None:
        self.at = at

    def is_set(self) -> bool:
        return time.time() > self.at - MARGIN


def _log(line: str) -> None:
    print(f"sendguard-milter[{os.getpid()}]: {line}", file=sys.stderr, flush=True)


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    from sendguard.milter.policy import Policy, tempfail

    faults.point("milter-worker-start")
    setup = read_frame(stdin)
    if setup is None:
        return
    config, root = setup
    policy = Policy(config, root)
    pending = Pending(root)
    after = Notices()
    learning = Learning(policy, root)
    policy.to_learn = lambda sender, raw, own, read: pending.add(sender, raw, tuple(own), read)
    policy.later = after.submit
    from sendguard.history import twins
    from sendguard.rules import load_rules

    load_rules()  # warm: the first mail should not pay for the imports
    twins.warm()
    write_frame(stdout, "ready")
    while True:
        if pending.count and (pending.count >= MAX_BATCH or not select.select([stdin], [], [], LEARN_IDLE)[0]):
            faults.point("milter-worker-handover")
            learning.submit(pending.batch, pending.journal)
            pending = Pending(root)
            continue
        request = read_frame(stdin)
        if request is None:
            break
        tx, deadline = request
        faults.point("milter-worker-check")
        try:
            outcome = policy.judge(tx, Deadline(deadline))
        except Exception as err:  # noqa: BLE001 — fail closed: the client keeps its copy and retries
            _log(f"{tx.queue_id or '-'}: check failed: {type(err).__name__}: {printable(str(err))}")
            outcome = tempfail("internal error", failed=f"the check failed ({type(err).__name__})")
            after.held.clear()  # a notice of a hold would lie to a client told 451
        try:
            write_frame(stdout, outcome)
        except BrokenPipeError:  # the milter died: learn what this worker holds, as at EOF
            after.held.clear()  # the client was told nothing, and is told 451 by its MTA
            _log(f"{tx.queue_id or '-'}: the milter is gone before the answer: learning what this worker holds")
            break
        after.start()  # what judge() handed over, now that the reply is out
    learning.submit(pending.batch, pending.journal)
    learning.stop()
    after.stop(NOTICE_WAIT)


Batch = dict[tuple[str, tuple[str, ...]], list[tuple[bytes, "Read | None"]]]


class Pending:
    """What the checks let through since the last hand-over to learning: in memory, by sender,
    and appended to a journal, so that a worker killed before it learns loses none of it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.batch: Batch = {}
        self.count = 0
        self.journal: Journal | None = None
        self.unjournaled = False

    def add(self, sender: str, raw: bytes, own: tuple[str, ...], read: Read | None) -> None:
        self.batch.setdefault((sender, own), []).append((raw, read))
        self.count += 1
        if self.unjournaled:
            return
        try:
            if self.journal is None:
                self.journal = Journal.create(self.root)
            self.journal.append(sender, own, raw)
        except OSError as err:  # learned all the same, unless this worker is killed first
            self.unjournaled = True
            _log(f"could not write the journal of what to learn: {type(err).__name__}: {printable(str(err))}")


class Learning:
    """Learns the batches handed over on a thread of its own, in order, one transaction per
    sender, and refits each sender's judgement when due on that same connection. It learns the
    orphan journals under ``root`` too (milter.journal), one at a time: as it starts, each time
    it has learned all it was handed, every ADOPT_EVERY seconds while idle, and before it ends."""

    def __init__(self, policy: Any, root: Path, idle: Callable[[], None] | None = None) -> None:
        self.policy = policy
        self.root = root
        self.idle = idle
        """Called on this thread each time it has learned all it was handed."""
        self.batches: queue.Queue[tuple[Batch, Journal | None] | None] = queue.Queue()
        self.lock = threading.Lock()
        self.behind = 0
        """Messages handed over and not learned yet."""
        self.adopt_errors: set[str] = set()
        """What the last scan for orphan journals could not do (logged once while it lasts)."""
        self.thread = threading.Thread(target=self._work, name="sendguard-learn", daemon=True)
        self.thread.start()

    def submit(self, batch: Batch, journal: Journal | None = None) -> None:
        """Learn ``batch``, then remove its ``journal``. A batch past MAX_BEHIND is not held in
        memory: its journal is left on disk for a later scan (without one it is not learned)."""
        count = sum(len(items) for items in batch.values())
        with self.lock:
            refused = self.behind + count > MAX_BEHIND
            if count and refused:
                later = "left on disk, to be learned later" if journal is not None else "not learned"
                _log(f"learning is {self.behind} messages behind: {count} let through are {later}")
            if not count or refused:
                if journal is not None:
                    journal.release()
                return
            self.behind += count
        self.batches.put((batch, journal))

    def _work(self) -> None:
        self._adopt()
        while True:
            try:
                job = self.batches.get(timeout=ADOPT_EVERY)
            except queue.Empty:  # idle: a journal may have come meanwhile (a release from Postfix's hold queue)
                self._adopt()
                continue
            if job is not None:
                batch, journal = job
                if journal is not None:
                    self._attempt(journal)
                learned = self._learn(batch, counted=True)
                if journal is not None:
                    self._done(journal, learned)
                if self.idle is not None and self.batches.empty():
                    self.idle()
            if job is None or self.batches.empty():
                self._adopt()
            if job is None:
                return

    def _adopt(self) -> None:
        """Learn the journals nobody holds (a worker died before it learned them, or left them
        past MAX_BEHIND), each read only once locked and its attempt counted, and removed once
        learned; one tried TRIES times is set aside instead (journal.adoptable)."""

        errors: list[str] = []

        def failed(err: OSError) -> None:  # it stays for a later scan
            why = f"{type(err).__name__}: {printable(str(err))}"
            if why not in self.adopt_errors and why not in errors:
                _log(f"could not take up a journal of what to learn (said once while it lasts): {why}")
            errors.append(why)

        for journal, records in adoptable(self.root, failed, _set_aside):
            batch: Batch = {}
            for sender, own, raw in records:
                batch.setdefault((sender, own), []).append((raw, None))
            if records:
                _log(f"learning {len(records)} messages let through and not learned by the worker that checked them")
            self._done(journal, self._learn(batch, counted=False))
        self.adopt_errors = set(errors)

    @staticmethod
    def _attempt(journal: Journal) -> None:
        try:
            journal.attempt()
        except OSError as err:  # learned all the same; a learning that kills this worker is not counted
            _log(f"could not count an attempt to learn a journal: {type(err).__name__}: {printable(str(err))}")

    @staticmethod
    def _done(journal: Journal, learned: bool) -> None:
        """Remove ``journal`` once learned; else keep it for a later attempt, or set it aside
        once it had its TRIES."""
        try:
            if learned:
                journal.remove()
            elif journal.tries >= TRIES:
                _set_aside(journal.set_aside())
            else:
                journal.later()
                _log(
                    f"kept what could not be learned, to be tried again in {RETRY_AFTER:g} s ({journal.tries} of {TRIES} tries)"
                )
        except OSError as err:
            # a learned one that cannot be removed stays locked while this worker lives, then is
            # learned again, to no effect
            what = "remove a learned journal" if learned else "keep a journal for a later attempt"
            _log(f"could not {what}: {type(err).__name__}: {printable(str(err))}")

    def _learn(self, batch: Batch, counted: bool) -> bool:
        """Whether every sender's part of ``batch`` was learned (a refit that failed is learned).
        ``counted``: the batch is in ``behind`` (handed over, not read from a journal)."""
        from sendguard.milter.policy import RefitFailed

        learned = True
        for (sender, own), items in batch.items():
            try:
                raws, reads = [raw for raw, _ in items], [read for _, read in items]
                faults.point("milter-learn")
                self.policy.learn_many(sender, raws, list(own), reads, refit=True)
            except RefitFailed as err:  # a judgement not refitted stays as it was fitted
                _log(f"could not refit the judgement of {printable(sender)}: {printable(str(err))}")
            except Exception as err:  # noqa: BLE001 — a history that cannot be written costs learning, not mail
                why = f"{type(err).__name__}: {printable(str(err))}"
                _log(f"could not learn {len(items)} messages of {printable(sender)}: {why}")
                learned = False
            finally:
                if counted:
                    with self.lock:
                        self.behind -= len(items)
        return learned

    def stop(self) -> None:
        """Learn everything handed over, then end the thread."""
        self.batches.put(None)
        self.thread.join()


def _set_aside(where: Path) -> None:
    _log(
        f"set aside {where} after {TRIES} attempts to learn it failed or ended the process that "
        "learned it: what it holds is not learned; `sendguard doctor --postfix` says what to do"
    )


class Notices(Background):
    """Jobs handed over during a check, run in order on the background thread once the reply is
    written (``start``); a failing one is logged in one line and skipped."""

    def __init__(self) -> None:
        super().__init__("sendguard-notices", _log, "a notice could not be sent")
        self.held: list[Callable[[], None]] = []

    def submit(self, job: Callable[[], None]) -> None:
        self.held.append(job)

    def start(self) -> None:
        for job in self.held:
            super().submit(job)
        self.held.clear()

    def stop(self, timeout: float) -> None:
        """Let the notices handed over go out, waiting at most ``timeout`` seconds."""
        self.start()
        super().stop(timeout)


def main() -> None:
    import signal

    # A worker stops at EOF on its stdin only, once it has answered and learned what it holds:
    # the milter closes it when it stops, or the pipe closes when it dies. A SIGTERM to the
    # whole group (systemd's stop, Ctrl-C) reaches the milter, which closes its workers in turn.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the pipe
    serve(sys.stdin.buffer, stdout)


if __name__ == "__main__":
    main()
