"""Benchmark (not a test): messages per second through Postfix, with and without ``sendguard milter``.

Debian's Postfix on loopback ports (tests/support/postfix.py: its own config, queue and log in a
temporary directory) relays to an aiosmtpd sink in a process of its own. Eight concurrent
senders submit 10 kB mail over SMTP, one connection per message as mail programs do; the rate
is messages submitted and delivered to the sink per second of wall clock. Rounds alternate
Postfix alone / Postfix with the milter, each on a fresh instance, so drift in machine load
hits both alike; the medians and their ratio are printed.

Each of the eight senders has a learned history (about 120 messages, seeded with the milter's
own ``Policy.learn``, as ``sendguard learn --as`` does), and writes to people in it, so every
check reads a history; the milter learns every message it lets through, as in production.

``--one-milter`` starts one milter for all the rounds instead of one per round, as a milter in
service runs: the first round meets it fresh, each later one after it learned the round before
(learning waits for a pause in the mail: each "alone" round waits until the milter is quiet,
so that its learning does not slow Postfix alone); CPU per message is then only measured per
round (``BENCH_SPLIT``).

``--kill`` adds a round that kills the milter (SIGKILL) halfway and starts it again: senders
retry on a 4xx, as a mail program or msmtpq does; the sink must then hold every message
exactly once (by Message-ID). Once the milter has stopped (and the killed one's workers have
exited), it prints per sender how many of the messages at the sink its history learned, and
what is left in the state directory's ``learning/``. ``--rounds 0 --kill`` runs that round alone;
``--kill-workers`` SIGKILLs the milter's check workers first in that round (as a stop of the
whole process group does), so that what they had not learned is only in their journals.

Needs root and postfix (.ci/setup installs it). From the project root::

    .venv/bin/python bench/bench_milter.py                 # 3 rounds each, 8 x 25 messages
    .venv/bin/python bench/bench_milter.py --rounds 5 -n 50 --kill

Environment: ``BENCH_SPLIT=1`` prints each part's CPU per message during the timed rounds;
``BENCH_LEARN=false`` stops the milter learning; ``BENCH_CONFIG`` is appended to the milter's
config (``\n`` for a line break), e.g. every rule's ``action = "off"`` for the protocol's floor.
``BENCH_DAEMONS=1`` (with ``BENCH_SPLIT``) adds Postfix's CPU per daemon: its live processes'
own time, by command name (one that exits within the round leaves out its last part). The
split's ``steal`` is the time the hypervisor ran other guests on this machine's CPUs.

Target: ratio (alone / with milter, in messages per second) ≤ 1.5.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import random
import resource
import signal
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.postfix import TEAM_CONFIG, MilterProcess, Postfix, wait_until  # noqa: E402

cpu: dict[str, float] = {}  # the last round's CPU seconds per kind
shared_milter: MilterProcess | None = None  # --one-milter: the one milter of every round
sink_pid = 0
SENDERS = [f"user{i}@nordwerk.example" for i in range(8)]
COLLEAGUES = [f"kollege{i}@nordwerk.example" for i in range(12)]
CLIENTS = [f"kontakt{i}@kundenfirma.example" for i in range(12)]


PROSE = (
    "the rollout|the data migration|our Falke team|the steering group|the client's IT department|the test plan|"
    "the budget review|the second release|the support contract|the training for the new staff|the hand-over|"
    "the Kundenfirma account|the interface specification|the pilot site|the invoice for October|the risk list",
    "is on track|slipped by a week|needs another review|was approved on Tuesday|depends on the vendor|"
    "moves to the next phase|is waiting for sign-off|came back with three questions|is cheaper than planned|"
    "has two open issues|will be ready before the holidays|looks better after the last call",
    "so we keep the date|so please check the figures|and I will send the minutes|unless someone objects by Friday|"
    "as discussed in the meeting|according to the latest report|after the workshop in Hamburg|"
    "before we tell the client|and the backups are verified|if the numbers hold|while the old system still runs",
)
COMMON = (
    "about above account across action address after again against agree already also although always amount "
    "answer anyone area around ask available away back based because become before begin behind being below "
    "best better between board both bring build business call can care carry case cause center certain change "
    "check choose clear close cost could country course cover create current customer date deal decide design "
    "detail develop difference direction discuss document during early effect effort either end enough entire "
    "even evening event every evidence example expect experience explain face fact factor family far feel few "
    "field figure final find finish first focus follow form forward free friend full future general give goal "
    "good great group grow happen hard head hear help here high hold home hope hour however idea important "
    "include increase indeed information inside instead interest issue item keep kind know large last late "
    "later lead learn least leave less letter level light likely line list little local long look lose low "
    "main maintain manage manager many market matter maybe mean measure meet member mention might mind minute "
    "model moment money month more morning most move much must need network never next night note nothing "
    "notice number offer office often once only open option order other outside over own page paper part "
    "particular party pass past pay people perhaps period person phone picture piece place plan point policy "
    "position possible power practice prepare present pressure price probably problem process produce product "
    "program project provide public purpose put question quickly quite rather reach read ready real reason "
    "receive recent record reduce region remain remember report request require response rest result return "
    "right role room rule run same save schedule season second section seem sell send sense series serve "
    "service set several share short should show side sign similar simple since single site size small "
    "something soon sort source space speak special staff stage stand start state still stop store strategy "
    "strong structure study subject success suggest summer support sure system table take task team tell term "
    "test thank thing think third though thought through time today together tomorrow total toward travel "
    "true try turn type under understand unit until update usually value various version view visit wait "
    "want watch way week whatever whether while whole why window within without wonder word work worker "
    "world would write year yesterday young"
).split()


def message(sender: str, to: list[str], n: int, size: int = 10_000) -> bytes:
    """A plain-text status mail of about ``size`` bytes, the same for the same (sender, n): prose
    whose lines, sentences and words vary as real mail's do (a repeated line would flatter every
    check that reads distinct lines or distinct words)."""
    rng = random.Random(f"{sender} {n}")
    parts = [p.split("|") for p in PROSE]
    words: list[str] = []
    length = 0
    while length < size - 40:
        sentence = " ".join(rng.choice(p) for p in parts)
        sentence += ("." if rng.random() < 0.8 else f" ({rng.randint(2, 98)} %).") + " "
        filler = " ".join(rng.choice(COMMON) for _ in range(rng.randint(5, 14)))
        sentence = sentence[0].upper() + sentence[1:] + filler[0].upper() + filler[1:] + "."
        words.extend(sentence.split())
        length += len(sentence) + 1
    lines, line = [], ""
    for word in words:
        if len(line) + len(word) >= 72:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
        if word.endswith(".") and rng.random() < 0.15:
            lines.extend([line, ""])
            line = ""
    lines.append(line)
    body = "Hello,\n\n" + "\n".join(lines) + "\n\nRegards\n"
    head = (
        f"From: {sender}\nTo: {', '.join(to)}\nSubject: Falke status {n}\n"
        f"Date: Fri, 04 Dec 2026 09:00:00 +0000\nMessage-ID: <bench-{n}-{sender}>\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
    )
    return (head + body).encode()


def seed(config_path: Path, state: Path) -> None:
    """About 120 sent messages per sender, to colleagues and client contacts."""
    from sendguard.config.schema import load
    from sendguard.milter.policy import Policy

    policy = Policy(load(config_path, required=True), state)
    for s, sender in enumerate(SENDERS):
        for n in range(120):
            to = [COLLEAGUES[(s + n) % 12]] if n % 2 else [CLIENTS[(s + n) % 12], COLLEAGUES[(s + n + 1) % 12]]
            policy.learn(
                sender, message(sender, to, n, size=600).replace(b"Message-ID: <", b"Message-ID: <seed-"), [sender]
            )


def sink_main(port: int, log_path: str, ready) -> None:  # type: ignore[no-untyped-def]
    """An aiosmtpd server that appends each Message-ID it receives to ``log_path``."""
    from aiosmtpd.controller import Controller

    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
            data = envelope.original_content
            start = data.find(b"Message-ID: <")
            mid = data[start + 13 : data.find(b">", start)] if start >= 0 else b"?"
            os.write(fd, mid + b"\n")
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=30)
    controller.start()
    ready.set()
    threading.Event().wait()


def delivered(log: Path) -> list[bytes]:
    try:
        return log.read_bytes().splitlines()
    except FileNotFoundError:
        return []


@functools.cache
def outgoing(s: int, n: int) -> tuple[list[str], bytes]:
    """Sender ``s``'s message ``n``: (recipients, message). Made once, before any timed round."""
    sender = SENDERS[s]
    to = [COLLEAGUES[(s + n) % 12]] if n % 2 else [CLIENTS[(s + n) % 12], COLLEAGUES[(s + n + 1) % 12]]
    return to, message(sender, to, n)


def send_all(
    port: int, per_sender: int, tag: str, kill_at: int | None = None, milter: MilterProcess | None = None
) -> tuple[int, int]:
    """Eight threads, one per sender; a 4xx is retried (as a mail program's queue does).
    Returns (messages, 4xx replies seen)."""
    retries = [0]
    lock = threading.Lock()
    sent = [0]
    killed = threading.Event()

    def one(s: int) -> None:
        sender = SENDERS[s]
        for n in range(per_sender):
            to, raw = outgoing(s, n)
            raw = raw.replace(b"<bench-", f"<{tag}-".encode())
            if kill_at is not None:  # not a copy of a seeded message (same date, subject, people): learned anew
                raw = raw.replace(b"Subject: Falke status ", f"Subject: Falke status {tag} ".encode(), 1)
            while True:
                try:
                    with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
                        client.sendmail(sender, to, raw)
                    break
                except (
                    smtplib.SMTPResponseException,
                    smtplib.SMTPServerDisconnected,
                    smtplib.SMTPRecipientsRefused,
                ) as err:
                    code = getattr(err, "smtp_code", 451)
                    if isinstance(err, smtplib.SMTPRecipientsRefused):
                        code = min(c for c, _ in err.recipients.values())
                    if not 400 <= code < 500 and not isinstance(err, smtplib.SMTPServerDisconnected):
                        raise
                    with lock:
                        retries[0] += 1
                    time.sleep(0.2)
            with lock:
                sent[0] += 1
                if kill_at is not None and sent[0] == kill_at and milter is not None and not killed.is_set():
                    killed.set()
                    threading.Thread(target=restart, args=(milter,)).start()

    threads = [threading.Thread(target=one, args=(s,)) for s in range(len(SENDERS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sent[0], retries[0]


killed_workers: list[int] = []  # the workers of the milter the --kill round killed
kill_workers = False  # --kill-workers


def restart(milter: MilterProcess) -> None:
    if milter.proc is not None:
        killed_workers.extend(children(milter.proc.pid))
    if kill_workers:
        for pid in killed_workers:
            os.kill(pid, signal.SIGKILL)
    milter.kill()
    time.sleep(1.0)  # a second without a milter: Postfix tempfails whatever arrives meanwhile
    milter.start()


TICK = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            kids += [int(k) for k in f.read().split()]
    return kids


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def learned_after_kill(state: Path, log: Path, tag: str) -> None:
    """Per sender: the messages of round ``tag`` at the sink, and how many of them their history
    learned; then what is left in ``learning/``. Waits first for the killed milter's workers
    (they learn what they hold at EOF) to exit."""
    import sqlite3

    from sendguard.milter import senders

    wait_until(lambda: not any(map(alive, killed_workers)), 120, "the killed milter's workers")
    at_sink: dict[str, set[str]] = {s: set() for s in SENDERS}
    for mid in delivered(log):
        text = mid.decode()
        if text.startswith(f"{tag}-"):
            at_sink[text.split("-", 2)[2]].add(text)
    missing = extra = 0
    for sender in SENDERS:
        path = senders.sender_dir(state, sender) / "history.sqlite"
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            learned = {r[0] for r in db.execute("SELECT msgid FROM messages WHERE msgid LIKE ?", (f"{tag}-%",))}
        finally:
            db.close()
        missing += len(at_sink[sender] - learned)
        extra += len(learned - at_sink[sender])
        print(f"{'':12} {sender}: {len(at_sink[sender])} at the sink, {len(at_sink[sender] & learned)} of them learned")
    journals = sorted(p.name for p in (state / "learning").glob("*")) if (state / "learning").is_dir() else []
    print(
        f"{'':12} learned: {sum(map(len, at_sink.values())) - missing} of {sum(map(len, at_sink.values()))} "
        f"at the sink ({missing} not learned, {extra} learned and not at the sink); "
        f"left in learning/: {len(journals)} {journals[:5]}",
        flush=True,
    )
    said = [
        line
        for log_file in sorted(state.parent.glob("milter-*.log"))
        for line in log_file.read_text(errors="replace").splitlines()
        if "learn" in line or "journal" in line or "BrokenPipeError" in line
    ]
    for line in said[-12:]:
        print(f"{'':12} log: {line[:160]}")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its waited-for children and its live descendants (/proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        kids = children(pid)
    except OSError:
        return 0.0
    own = sum(int(v) for v in fields[11:15]) / TICK  # utime stime cutime cstime
    return own + sum(tree_cpu(k) for k in kids)


def daemon_cpu(pid: int) -> Counter[str]:
    """CPU seconds of each live descendant's own threads (``proc_cpu``), summed by command name."""
    out: Counter[str] = Counter()
    for kid in children(pid):
        try:
            with open(f"/proc/{kid}/comm") as f:
                out[f.read().strip()] += proc_cpu(kid)
        except OSError:  # it exited meanwhile
            continue
        out.update(daemon_cpu(kid))
    return out


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process used so far, its own threads only."""
    with open(f"/proc/{pid}/stat") as f:
        return sum(int(v) for v in f.read().rsplit(")", 1)[1].split()[11:13]) / TICK


def snapshot(postfix: Postfix, milter: MilterProcess | None) -> dict[str, float]:
    """CPU seconds so far of each part (BENCH_SPLIT): Postfix's process tree, the milter's own
    process and its workers, this process (the senders), the sink, and the whole machine
    (busy and idle, other people's processes included) from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = (fields[3] + fields[4]) / TICK
    own = resource.getrusage(resource.RUSAGE_SELF)
    parts = {"postfix": tree_cpu(postfix.proc.pid) if postfix.proc else 0.0}
    if os.environ.get("BENCH_DAEMONS") and postfix.proc:
        for name, used in daemon_cpu(postfix.proc.pid).items():
            parts[f"pf:{name}"] = used
    if milter and milter.proc:
        parts["milter"] = proc_cpu(milter.proc.pid)
        parts["workers"] = tree_cpu(milter.proc.pid) - parts["milter"]
    parts |= {
        "senders": own.ru_utime + own.ru_stime,
        "sink": proc_cpu(sink_pid),
        "machine busy": sum(fields[:8]) / TICK - idle,
        "idle": idle,
        "steal": fields[7] / TICK,
    }
    return parts


def wait_quiet(milter: MilterProcess, limit: float = 300.0) -> tuple[float, float]:
    """(seconds waited, CPU seconds used meanwhile) until the milter and its workers are quiet
    (under 10 ms of CPU in half a second): a milter in service learns and refits in the pause
    after mail, and with --one-milter that pause would be the next "alone" round."""
    assert milter.proc is not None
    start, first = time.perf_counter(), tree_cpu(milter.proc.pid)
    last = first
    while time.perf_counter() - start < limit:
        time.sleep(0.5)
        now = tree_cpu(milter.proc.pid)
        if now - last < 0.01:
            return time.perf_counter() - start, now - first
        last = now
    return time.perf_counter() - start, last - first


def sendguard_exe() -> str:
    """The ``sendguard`` command of this Python's environment (the tree under test)."""
    return str(Path(sys.executable).parent / "sendguard")


def one_round(
    kind: str,
    args,
    sink_port: int,
    log: Path,
    config: Path,
    state: Path,
    tag: str,
    kill: bool = False,
    n: int | None = None,
) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(messages per second, CPU seconds of Postfix and the milter, start to stop, all processes)."""
    n = args.n if n is None else n
    milter = (
        None
        if kind == "alone"
        else shared_milter or MilterProcess(sendguard_exe(), config, state, transport=args.transport)
    )
    shared = milter is not None and milter is shared_milter
    postfix = Postfix(sink_port, milter=milter.postfix_spec if milter else "")
    try:
        if milter and not shared:
            milter.start()
        postfix.start()
        before = len(delivered(log))
        send_all(postfix.port, 1, f"warm{tag}")  # warm up: smtpd, cleanup, the milter's first check
        wait_until(lambda: len(delivered(log)) >= before + len(SENDERS), 120, "the warm-up mail")
        before = len(delivered(log))
        total = n * len(SENDERS)
        split = os.environ.get("BENCH_SPLIT") and total
        marks = snapshot(postfix, milter) if split else {}
        started = time.perf_counter()
        sent, retries = send_all(postfix.port, n, tag, kill_at=total // 2 if kill else None, milter=milter)
        wait_until(lambda: len(delivered(log)) >= before + total, 600, "every message at the sink")
        elapsed = time.perf_counter() - started
        if split:
            after = snapshot(postfix, milter)
            print(
                f"{'':12} CPU during the round, per message (ms): "
                + ", ".join(
                    f"{k} {(after.get(k, 0.0) - marks.get(k, 0.0)) / total * 1000:.2f}" for k in {**marks, **after}
                ),
                flush=True,
            )
        rate = total / elapsed if total else 0.0
        ids = [i for i in delivered(log) if i.startswith(f"{tag}-".encode())]
        dup = len(ids) - len(set(ids))
        if not total:
            return 0.0, 0.0
        print(
            f"{kind:12} {total} messages in {elapsed:6.2f} s = {rate:6.1f}/s"
            + (f"  (4xx retried: {retries}, at the sink: {len(set(ids))} distinct, {dup} duplicated)" if kill else ""),
            flush=True,
        )
        if kill:
            time.sleep(2)  # anything late would show up now
            ids = [i for i in delivered(log) if i.startswith(f"{tag}-".encode())]
            assert len(ids) == total and len(set(ids)) == total, (len(ids), len(set(ids)), total)
        return rate, 0.0
    finally:
        # Postfix: its process tree just before it stops (the daemons it did not reap yet are
        # alive then). The milter: everything it and its workers used, learning at exit
        # included, as this process sees it once it has reaped the milter.
        cpu[kind] = tree_cpu(postfix.proc.pid) if postfix.proc else 0.0
        postfix.stop()
        if milter and not shared:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            milter.stop()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[kind] += after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=25, help="messages per sender per round (8 senders)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one-milter", action="store_true", help="one milter for all rounds, as in service")
    parser.add_argument("--kill", action="store_true", help="also a round that kills the milter halfway")
    parser.add_argument("--kill-workers", action="store_true", help="that round kills the check workers too")
    parser.add_argument(
        "--transport",
        choices=("unix", "inet"),
        default="unix",
        help="how Postfix reaches the milter: a unix socket (as hooks/ set it up) or TCP on 127.0.0.1",
    )
    args = parser.parse_args()
    if args.one_milter and args.kill:
        parser.error("--kill starts a milter of its own: not with --one-milter")
    global kill_workers, shared_milter
    kill_workers = args.kill_workers
    if os.geteuid() != 0:
        sys.exit("bench_milter: needs root (Postfix)")
    from sendguard.cli.support.loopback import free_port

    # A check worker may still close its history file as the directory goes: not worth a traceback.
    with tempfile.TemporaryDirectory(prefix="bench-milter-", ignore_cleanup_errors=True) as tmp:
        tmpdir = Path(tmp)
        state = tmpdir / "milter"
        config = tmpdir / "sendguard.toml"
        config.write_text(
            TEAM_CONFIG.format(hold="reject", state=state)  # the same team as the tests
            + f"learn = {os.environ.get('BENCH_LEARN', 'true')}\n"
            + os.environ.get("BENCH_CONFIG", "").replace("\\n", "\n")
        )
        seed(config, state)
        for s in range(len(SENDERS)):  # the messages are made here, not in the senders' timed rounds
            for n in range(max(args.n, 1)):
                outgoing(s, n)
        log = tmpdir / "sink.log"
        sink_port = free_port()
        ready = multiprocessing.Event()
        sink = multiprocessing.Process(target=sink_main, args=(sink_port, str(log), ready), daemon=True)
        sink.start()
        global sink_pid
        sink_pid = sink.pid or 0
        ready.wait(30)
        if args.one_milter:
            shared_milter = MilterProcess(sendguard_exe(), config, state, transport=args.transport).start()
        rates: dict[str, list[float]] = {"alone": [], "with milter": []}
        per_message: dict[str, list[float]] = {"alone": [], "with milter": []}
        try:
            for r in range(args.rounds):
                for kind in ("alone", "with milter"):
                    if shared_milter is not None and kind == "alone" and r:
                        waited, used = wait_quiet(shared_milter)
                        print(f"{'':12} the milter learned the round before in {waited:.1f} s ({used:.2f} s of CPU)")
                    if shared_milter is not None and kind != "alone":  # its CPU is not a round's
                        rates[kind].append(one_round(kind, args, sink_port, log, config, state, f"r{r}w")[0])
                        continue
                    # CPU per message: a full round's CPU less that of a round without messages
                    # (start, warm-up, stop), both for every process of Postfix and the milter.
                    one_round(kind, args, sink_port, log, config, state, f"e{r}{kind[0]}", n=0)
                    empty = cpu[kind]
                    rate, _ = one_round(kind, args, sink_port, log, config, state, f"r{r}{kind[0]}")
                    rates[kind].append(rate)
                    per_message[kind].append((cpu[kind] - empty) / (args.n * len(SENDERS)) * 1000)
                    whose = "Postfix and the milter" if kind != "alone" else "Postfix"
                    if per_message[kind][-1] < 0:  # start and stop are not the same work each time
                        per_message[kind].pop()
                        print(
                            f"{'':12} CPU per message ({whose}): not measured, the round without messages "
                            "used more (its start and stop: learning and refitting at exit differ)",
                            flush=True,
                        )
                    else:
                        print(f"{'':12} CPU {per_message[kind][-1]:.1f} ms per message ({whose})", flush=True)
            if args.kill:
                one_round("milter kill", args, sink_port, log, config, state, "kill", kill=True)
                learned_after_kill(state, log, "kill")
        finally:
            if shared_milter is not None:
                shared_milter.stop()
            sink.terminate()
            sink.join()
        if not args.rounds:
            return
        alone, milter = statistics.median(rates["alone"]), statistics.median(rates["with milter"])
        print(
            f"median: alone {alone:.1f}/s, with the milter {milter:.1f}/s; ratio {alone / milter:.2f} (target <= 1.5)"
        )
        pairs = sorted(a / m for a, m in zip(rates["alone"], rates["with milter"]) if m)
        if len(pairs) > 1:  # each round against the "alone" round just before it: the spread of one run
            print(f"each round's ratio: {' '.join(f'{x:.2f}' for x in pairs)} (median {statistics.median(pairs):.2f})")
        if per_message["alone"] and per_message["with milter"]:
            ca, cm = statistics.median(per_message["alone"]), statistics.median(per_message["with milter"])
            print(
                f"CPU per message, median: Postfix alone {ca:.1f} ms, with the milter {cm:.1f} ms (ratio {cm / ca:.2f})"
            )
        print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
