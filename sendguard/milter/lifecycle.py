"""The milter process: start the check workers, listen, judge each message under a time limit.

Checks run in worker processes (every core, not one thread under the GIL), each message within
``[milter] timeout`` or a 451; learning, notices and removing expired copies (``[milter]
keep_days``, :class:`Maintenance`) happen off the reply path. libmilter owns the
socket and the signals, which is why this is not a sendguard.runner.Runner (ARCHITECTURE.md,
"Processes" and "The milter"). Postfix needs ``milter_default_action = tempfail``:
then a milter that is down costs a retry, never a message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, TypeVar

from sendguard.errors import SendguardError
from sendguard.milter.affinity import IdleWorkers, home_of
from sendguard.milter.background import Background
from sendguard.milter.background import log as _log
from sendguard.milter.failures import CLAIM, FailureStore, Unavailable, claim_of, live_claim, taken
from sendguard.milter.policy import (
    FAILURE_LIMIT,
    FAILURE_WINDOW,
    TOO_LONG,
    Outcome,
    Policy,
    Transaction,
    tempfail,
    too_long,
)
from sendguard.milter.worker import MAX_BATCH, Learning, Pending
from sendguard.printable import printable

_T = TypeVar("_T")

NAME = "sendguard"
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


class LearningInProcess:
    """``[milter] workers = 0``: what the checks let through is journaled and learned on a
    thread of its own, as a check worker does it (worker.Pending, worker.Learning, which also
    learns what stopped processes left): handed over whenever that thread has learned what it
    had, or at MAX_BATCH, so a burst is learned in a few batches with a few journals open."""

    def __init__(self, policy: Policy) -> None:
        self.root = policy.root
        self.lock = threading.Lock()
        self.pending = Pending(policy.root)
        self.learning = Learning(policy, policy.root, idle=self._idle)
        policy.to_learn = self.add

    def add(self, sender: str, raw: bytes, own: list[str], read: Any) -> None:
        with self.lock:
            self.pending.add(sender, raw, tuple(own), read)
            if self.learning.batches.empty() or self.pending.count >= MAX_BATCH:
                self._hand_over()

    def _idle(self) -> None:
        """On the learning thread, once it has learned all it was handed."""
        with self.lock:
            if self.pending.count:
                self._hand_over()

    def _hand_over(self) -> None:
        self.learning.submit(self.pending.batch, self.pending.journal)
        self.pending = Pending(self.root)

    def stop(self) -> None:
        """Learn everything let through, then end the thread."""
        with self.lock:
            if self.pending.count:
                self._hand_over()
        self.learning.stop()


class Maintenance:
    """A thread in the milter's own process that removes expired copies (retention.prune) at
    start and then every ``every`` seconds; never on a message's reply path."""

    def __init__(self, policy: Policy, every: float = 3600.0, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.every = every
        self.clock = clock
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="sendguard-maintenance", daemon=True)

    def run_once(self) -> list[str]:
        from sendguard.milter import retention

        removed = retention.prune(self.policy.root, self.policy.config, self.clock(), log=_log)
        if removed:
            _log(f"removed {len(removed)} copies older than {self.policy.config.milter.keep_days} days")
        counts = FailureStore(self.policy.root, FAILURE_WINDOW)
        try:
            counts.prune(self.clock())
        except Unavailable as err:  # failures are noted all the same (in memory, when need be)
            _log(f"could not remove old counts of failed checks: {printable(str(err))}")
        finally:
            counts.close()
        return removed

    def _loop(self) -> None:
        while not self.stopped.is_set():
            try:
                self.run_once()
            except Exception as err:  # noqa: BLE001 — a copy kept too long must never stop the milter
                _log(f"removing old copies failed: {type(err).__name__}: {printable(str(err))}")
            self.stopped.wait(self.every)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float) -> None:
        self.stopped.set()
        self.thread.join(timeout)


class Failures:
    """How often the check of each message failed lately; at the FAILURE_LIMIT-th failure within
    FAILURE_WINDOW the message is refused (Policy.unchecked: 550, a copy kept) instead of getting
    another 451, so a message that breaks the check is not retried for days while its sender only
    ever sees "temporary failure". A message is its Policy.failure_key (a hold's fingerprint).

    The counts are kept in the state directory (failures.FailureStore), so a restart of the
    milter does not start them again, and in memory (at most ``size`` messages, the least
    recently failed going first), which is what counts while the file cannot be used."""

    def __init__(
        self,
        policy: Policy,
        limit: int = FAILURE_LIMIT,
        window: float = FAILURE_WINDOW,
        size: int = 4096,
        clock: Callable[[], float] = time.time,
        store: FailureStore | None = None,
    ) -> None:
        from collections import OrderedDict

        self.policy = policy
        self.limit, self.window, self.size, self.clock = limit, window, size, clock
        self.store = store or FailureStore(policy.root, window)
        self.lock = threading.Lock()
        self.seen: OrderedDict[str, tuple[list[float], str]] = OrderedDict()
        """key -> (times of its failures within the window, the copy kept when refused)"""
        self.store_failed = False
        """The last use of the store failed (logged once until it works again)."""

    def _stored(self, use: Callable[[FailureStore], _T]) -> _T | None:
        """``use(store)``, or None (logged) when the file cannot be used: count in memory."""
        try:
            result = use(self.store)
        except Unavailable as err:
            with self.lock:
                first, self.store_failed = not self.store_failed, True
            if first:
                _log(f"cannot keep the count of failed checks on disk, counting in memory: {printable(str(err))}")
            return None
        with self.lock:
            again, self.store_failed = self.store_failed, False
        if again:
            _log(f"the count of failed checks is kept in {self.store.path} again")
        return result

    def _claim(self, key: str, kept: str, now: float, on_disk: bool) -> tuple[str, str]:
        """(the copy to refuse with, or another keeper's standing claim, or '' to keep one;
        where this call claimed it: "disk", "memory" or ''): one copy is kept of a message
        refused by several checks at once, claimed in the file every milter process shares,
        else in this process's memory."""
        token = f"{os.getpid()}.{threading.get_ident()}"
        if on_disk and not taken(kept, now):
            current = self._stored(lambda store: store.claim(key, token, now))
            if current is not None:
                return current, "" if current else "disk"
        elif on_disk:
            return kept, ""
        with self.lock:
            times, mine = self.seen.get(key, ([now], ""))
            if taken(mine, now):
                return mine, ""
            self.seen[key] = (times, claim_of(token, now))
        return "", "memory"

    def _unclaim(self, key: str, where: str) -> None:
        if where == "disk":
            self._stored(lambda store: store.keep(key, ""))
            return
        with self.lock:
            if key in self.seen and self.seen[key][1].startswith(CLAIM):
                self.seen[key] = (self.seen[key][0], "")

    def after(self, tx: Transaction, outcome: Outcome, counts: bool = True) -> Outcome:
        """``outcome`` (a tempfail whose ``failed`` says why), or the refusal once this message
        failed often enough. ``counts``: False when the message may not be to blame (it got
        too little of the time limit)."""
        if not outcome.failed or not counts:
            return outcome
        key = self.policy.failure_key(tx)
        now = self.clock()
        with self.lock:
            times, kept = self.seen.pop(key, ([], ""))
            times = [t for t in times if now - t <= self.window] + [now]
            self.seen[key] = (times, kept)
            while len(self.seen) > self.size:
                self.seen.popitem(last=False)
        tries = len(times)
        stored = self._stored(lambda store: store.add(key, now))
        if stored is not None:  # other milter processes' and earlier runs' failures count too
            tries, kept = max(tries, len(stored[0])), stored[1] or kept
        if tries < self.limit:
            return outcome
        kept, claimed = self._claim(key, kept, now, stored is not None)
        if live_claim(kept, now):
            _log(
                f"{tx.queue_id or '-'}: {outcome.failed}, {tries} times: another check is keeping its copy; "
                "451 this time, refused with that copy at the next try"
            )
            return outcome
        try:
            refused = self.policy.unchecked(tx, outcome.failed, tries, kept)
        except Exception as err:  # noqa: BLE001 — not kept (a full disk): a 451 as before, never a loss
            why = f"{type(err).__name__}: {printable(str(err))}"
            _log(f"{tx.queue_id or '-'}: could not keep a copy of a message the check failed on: {why}")
            if claimed:  # the next try may keep one
                self._unclaim(key, claimed)
            return outcome
        with self.lock:
            if key in self.seen:
                self.seen[key] = (self.seen[key][0], refused.entry_id)
        if stored is not None and (claimed == "disk" or stored[1] != refused.entry_id):
            self._stored(lambda store: store.keep(key, refused.entry_id))
        _log(
            f"{tx.queue_id or '-'}: {outcome.failed}, {tries} times within {self.window / 3600:g} h: "
            f"550, not sent, kept as {refused.entry_id}"
        )
        return refused


class Checker:
    """``policy.judge`` on one thread, with a deadline per message."""

    def __init__(self, policy: Policy, timeout: float) -> None:
        self.policy = policy
        self.timeout = timeout
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sendguard-check")
        self.failures = Failures(policy)

    def __call__(self, tx: Transaction) -> Outcome:
        cancelled = threading.Event()
        started: list[float] = []
        deadline = time.time() + self.timeout

        def judge() -> Outcome:
            started.append(time.time())
            return self.policy.judge(tx, cancelled)

        future = self.pool.submit(judge)
        try:
            outcome = future.result(timeout=self.timeout)
        except FutureTimeout:
            cancelled.set()
            _log(f"{tx.queue_id or '-'}: not checked within {self.timeout:g} s: 451, the client retries")
            outcome = too_long()
        except Exception as err:  # noqa: BLE001 — fail closed, keep the client's copy
            _log(f"{tx.queue_id or '-'}: check failed: {type(err).__name__}: {printable(str(err))}")
            return self.failures.after(
                tx, tempfail("internal error", failed=f"the check failed ({type(err).__name__})")
            )
        # a check that waited for the thread most of its time is not to blame for running out of it
        fair = outcome.failed != TOO_LONG or bool(started and deadline - started[0] >= self.timeout / 2)
        return self.failures.after(tx, outcome, counts=fair)

    def warm_up(self) -> None:
        """Import the rules and the message parser before the first mail, not during it."""
        from sendguard.decide import check  # noqa: F401
        from sendguard.rules import load_rules

        load_rules()


class NoAnswer(Exception):
    """A worker gave no outcome: ``died`` (its pipe closed), else it was stuck past the deadline;
    ``asked``: the message reached it (else it may go to another worker)."""

    def __init__(self, died: bool, asked: bool) -> None:
        super().__init__("the check worker died" if died else "the check worker did not answer in time")
        self.died, self.asked = died, asked


class WorkerDidNotStart(SendguardError):
    """A check process ended (or never answered) before it was ready."""


class Worker:
    """One check process (``python -m sendguard.milter.worker``) and its pipes."""

    def __init__(self, setup: tuple[Any, Path], slot: int = 0) -> None:
        from sendguard.milter.worker import write_frame

        self.slot = slot
        """Which of the pool's places it fills (a worker started in place of another takes its
        slot): the senders whose home it is are served here first (affinity)."""
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "sendguard.milter.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        write_frame(self.proc.stdin, setup)  # type: ignore[arg-type]
        # From here on a request is written within its deadline or not at all (``_send``): a
        # worker that does not read must not hold the milter's thread past the time limit.
        os.set_blocking(self.proc.stdin.fileno(), False)  # type: ignore[union-attr]

    def wait_ready(self, timeout: float) -> None:
        try:
            ready = self._read(timeout) == "ready"
        except (TimeoutError, OSError, EOFError, ValueError):
            ready = False
        if not ready:
            self.kill()
            status = self.proc.returncode
            how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
            raise WorkerDidNotStart(
                f"a check worker did not start: it {how} before it was ready (its own lines, if any, are above)",
                hints=[
                    f"it runs `{sys.executable} -P -m sendguard.milter.worker`: the same Python and sendguard as the milter",
                    "`[milter] workers = 0` checks in the milter's own process instead",
                ],
            )

    def _read(self, timeout: float) -> Any:
        """The next frame; None at EOF (the worker died); TimeoutError past ``timeout``."""
        import select

        from sendguard.milter.worker import read_frame

        stdout = self.proc.stdout
        assert stdout is not None  # Popen(stdout=PIPE)
        ready, _, _ = select.select([stdout], [], [], max(timeout, 0))
        if not ready:
            raise TimeoutError
        return read_frame(stdout)

    def _send(self, data: bytes, deadline: float) -> None:
        """All of ``data`` into the worker's stdin by ``deadline`` (TimeoutError), however large
        the message and whether or not the worker reads."""
        import select

        fd = self.proc.stdin.fileno()  # type: ignore[union-attr]
        view = memoryview(data)
        while view:
            if not select.select([], [fd], [], max(deadline - time.time(), 0))[1]:
                raise TimeoutError
            try:
                view = view[os.write(fd, view[: 1 << 20]) :]
            except BlockingIOError:
                continue

    def ask(self, tx: Transaction, deadline: float) -> Outcome:
        """The worker's outcome; NoAnswer when it died or did not answer by ``deadline``."""
        import pickle
        import struct

        data = pickle.dumps((tx, deadline), protocol=pickle.HIGHEST_PROTOCOL)
        frame = struct.pack(">I", len(data)) + data
        if self.proc.poll() is not None:
            raise NoAnswer(died=True, asked=False)
        try:
            self._send(frame, deadline)
        except TimeoutError:
            raise NoAnswer(died=self.proc.poll() is not None, asked=True) from None
        except OSError:  # EPIPE: it is gone, and the message never reached it
            raise NoAnswer(died=True, asked=False) from None
        try:
            outcome = self._read(deadline - time.time())
        except TimeoutError:
            raise NoAnswer(died=False, asked=True) from None
        except (OSError, EOFError, ValueError):
            outcome = None
        if outcome is None:  # EOF: it died checking (killed, out of memory, a crash)
            raise NoAnswer(died=True, asked=True)
        return outcome  # type: ignore[no-any-return]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class WorkerPool:
    """Check workers, each judging one message at a time, with a deadline per message."""

    def __init__(self, policy: Policy, count: int, timeout: float) -> None:
        self.setup = (policy.config, policy.root)
        self.timeout = timeout
        self.count = count
        self.idle: IdleWorkers[Worker] = IdleWorkers()
        self.closing = False
        self.lock = threading.Lock()
        self.workers: set[Worker] = set()
        """Every live worker, idle or busy: close() waits for each."""
        self.respawns: list[threading.Thread] = []
        self.failures = Failures(policy)
        workers = [Worker(self.setup, slot) for slot in range(count)]
        try:
            for worker in workers:
                worker.wait_ready(120)
                self._add(worker)
        except BaseException:
            for worker in workers:  # none outlives a milter that did not start
                worker.kill()
            raise

    def _add(self, worker: Worker) -> None:
        with self.lock:
            self.workers.add(worker)
        self.idle.put(worker)

    def __call__(self, tx: Transaction) -> Outcome:
        deadline = time.time() + self.timeout
        home = home_of(tx.sender, self.count)
        while True:
            try:
                worker = self.idle.get(timeout=max(deadline - time.time(), 0), home=home)
            except TimeoutError:
                _log(f"{tx.queue_id or '-'}: no check worker free within {self.timeout:g} s: 451, the client retries")
                return tempfail("the check took too long")
            asked = time.time()
            # a check that waited for a worker most of its time is not to blame for running out of it
            fair = deadline - asked >= self.timeout / 2
            try:
                outcome = worker.ask(tx, deadline)
            except NoAnswer as gone:
                self._drop(worker)
                if not gone.asked:  # it died idle: the message never reached it, another checks it
                    _log("a check worker had died while idle; starting another")
                    continue
                _log(
                    f"{tx.queue_id or '-'}: "
                    + ("the check worker died" if gone.died else f"not checked within {self.timeout:g} s")
                    + ": 451, the client retries; starting another worker"
                )
                if gone.died:
                    return self.failures.after(tx, tempfail("internal error", failed="the check process died"))
                return self.failures.after(tx, too_long(), counts=fair)
            self.idle.put(worker)
            return self.failures.after(tx, outcome, counts=fair or outcome.failed != TOO_LONG)

    def _drop(self, worker: Worker) -> None:
        """Kill a worker that died or is stuck and start another in its place."""
        worker.kill()
        with self.lock:
            self.workers.discard(worker)
        respawn = threading.Thread(target=self._replace, args=(worker.slot,), name="sendguard-respawn", daemon=True)
        with self.lock:
            self.respawns.append(respawn)
        respawn.start()

    def _replace(self, slot: int) -> None:
        while not self.closing:
            try:
                worker = Worker(self.setup, slot)
                worker.wait_ready(120)
            except Exception as err:  # noqa: BLE001 — keep trying: without workers every mail is a 451
                _log(f"could not start a check worker: {type(err).__name__}: {printable(str(err))}")
                time.sleep(5)
                continue
            self._add(worker)
            return

    def close(self, timeout: float = 30) -> None:
        """Close every worker, a busy one once it has answered, and wait until each has learned
        what it holds and exited (killed past ``timeout``): none outlives the milter."""
        self.closing = True
        end = time.monotonic() + timeout
        with self.lock:
            respawns = list(self.respawns)
        for respawn in respawns:
            respawn.join(max(end - time.monotonic(), 0))
        closed: list[Worker] = []
        while True:
            with self.lock:
                open_ = [w for w in self.workers if w not in closed]
            if not open_:
                break
            try:
                worker = self.idle.get(timeout=max(end - time.monotonic(), 0.01))
            except TimeoutError:
                break
            if worker in closed:
                continue
            try:
                worker.proc.stdin.close()  # type: ignore[union-attr]  # EOF: learn, then exit
            except OSError:
                pass
            closed.append(worker)
        with self.lock:
            everyone = list(self.workers)
        for worker in everyone:
            if worker in closed:
                try:
                    worker.proc.wait(max(end - time.monotonic(), 0.01))
                    continue
                except subprocess.TimeoutExpired:
                    pass
            _log(f"a check worker did not stop within {timeout:g} s: killed")
            worker.kill()


def serve(spec: str, policy: Policy, timeout: float, workers: int = 2) -> None:
    """Run the milter on ``spec`` until a signal stops it."""
    from sendguard.milter import adapter

    # libmilter stops on SIGTERM/SIGINT/SIGHUP by blocking them in the thread that runs it and
    # waiting for them in a thread of its own; a thread started before that (ours below) would
    # otherwise take the signal, and its default action ends the process at once: no worker
    # waited for, nothing learned that they held. Threads and processes started from here on
    # inherit the mask; the check workers keep it (worker.main).
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    started = time.monotonic()
    background = Background()
    policy.later = background.submit  # notices: the workers' own, and this process's refusals
    judge: Checker | WorkerPool
    in_process: LearningInProcess | None = None
    if workers > 0:
        judge = WorkerPool(policy, workers, timeout)
    else:
        in_process = LearningInProcess(policy)
        judge = Checker(policy, timeout)
        judge.warm_up()
    maintenance = Maintenance(policy)
    maintenance.start()
    _log(
        f"listening on {spec} (hold = {policy.config.milter.hold}, {workers} check workers, state {policy.root}; "
        f"ready in {time.monotonic() - started:.2f} s)"
    )
    try:
        # libmilter's own MTA timeout: how long it waits on a silent MTA before dropping it.
        adapter.run(NAME, spec, judge, mta_timeout=max(int(timeout) * 2, 30), told=policy.told)
    finally:
        if isinstance(judge, WorkerPool):
            judge.close()
        else:
            judge.pool.shutdown(wait=False, cancel_futures=True)
        if in_process is not None:
            in_process.stop()
        background.stop(timeout=30)
        maintenance.stop(timeout=30)
        judge.failures.store.close()
        _log("stopped")
