"""Benchmark (not a test): the milter process's own CPU per message, without Postfix.

A small client speaks the milter protocol to ``sendguard milter`` over a unix socket the way
Postfix's smtpd and cleanup do for bench_milter.py's mail: one connection per message, option
negotiation, the connect/helo/mail/rcpt/data macros, a macro packet before every header, the
header packets, one body chunk, end of message, then abort and quit; it waits for a reply only
where the milter negotiated one. Eight threads, one per sender, as bench_milter's senders.

Reports, during the timed window only: the milter process's CPU per message (its own threads:
libmilter, the Python callbacks, the pipes to its workers), the workers' and the client's.
Without Postfix, the sink and the senders on the cores, these move much less between runs
than bench_milter's columns, so a change to the milter process can be told apart.

    .venv/bin/python bench/bench_milter_process.py -n 50          # 50 messages per sender
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_worker import proc_cpu, seed  # noqa: E402

from tests.support.postfix import TEAM_CONFIG  # noqa: E402

# libmilter's protocol (mfdef.h): commands, replies and the protocol bits the milter may set.
VERSION = 6
ALL_ACTIONS = 0x1FF
NO = {"connect": 0x01, "helo": 0x02, "mail": 0x04, "rcpt": 0x08, "body": 0x10, "hdrs": 0x20, "eoh": 0x40, "data": 0x200}
NR = {"hdrs": 0x80, "connect": 0x1000, "helo": 0x2000, "mail": 0x4000, "rcpt": 0x8000, "data": 0x10000}
NR.update({"eoh": 0x40000, "body": 0x80000})
OFFERED = 0x1FFFFF  # every step may be left out or left unanswered
FINAL = {b"a", b"r", b"t", b"d", b"y"}  # accept, reject, tempfail, discard, reply code


class Client:
    """One MTA connection to the milter."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        self.send(b"O", struct.pack(">III", VERSION, ALL_ACTIONS, OFFERED))
        cmd, data = self.reply()
        assert cmd == b"O", cmd
        _, self.actions, self.protocol = struct.unpack(">III", data[:12])

    def send(self, cmd: bytes, data: bytes = b"") -> None:
        self.sock.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def reply(self) -> tuple[bytes, bytes]:
        head = self.file.read(4)
        if len(head) < 4:
            raise ConnectionError("the milter closed the connection")
        (size,) = struct.unpack(">I", head)
        data = self.file.read(size)
        return data[:1], data[1:]

    def step(self, name: str, cmd: bytes, data: bytes = b"") -> None:
        """Send a protocol step unless negotiated away; read its reply unless left unanswered."""
        if self.protocol & NO.get(name, 0):
            return
        self.send(cmd, data)
        if not self.protocol & NR.get(name, 0):
            self.reply()

    def macros(self, stage: bytes, pairs: dict[str, str]) -> None:
        self.send(b"D", stage + b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in pairs.items()))

    def message(self, sender: str, to: list[str], raw: bytes, queue_id: str) -> bytes:
        """One transaction as Postfix sends it; the final reply's command byte."""
        self.macros(b"C", {"j": "bench.example", "{daemon_name}": "bench", "{client_addr}": "127.0.0.1"})
        self.step("connect", b"C", b"localhost\0" + b"4" + struct.pack(">H", 40000) + b"127.0.0.1\0")
        self.macros(b"H", {"{tls_version}": ""})
        self.step("helo", b"H", b"localhost\0")
        self.macros(b"M", {"i": queue_id, "{mail_addr}": sender})
        self.step("mail", b"M", f"<{sender}>\0".encode())
        for rcpt in to:
            self.macros(b"R", {"{rcpt_addr}": rcpt})
            self.step("rcpt", b"R", f"<{rcpt}>\0".encode())
        self.macros(b"T", {"i": queue_id})
        self.step("data", b"T")
        head, _, body = raw.partition(b"\n\n")
        fields = [b"Received: from localhost by bench.example (Postfix) with ESMTP id " + queue_id.encode()]
        for line in head.split(b"\n"):
            if line[:1] in (b" ", b"\t") and fields:
                fields[-1] += b"\r\n" + line
            else:
                fields.append(line)
        for field in fields:
            name, _, value = field.partition(b":")
            self.macros(b"L", {"i": queue_id})
            self.step("hdrs", b"L", name + b"\0" + value.lstrip() + b"\0")
        self.macros(b"N", {"i": queue_id})
        self.step("eoh", b"N")
        self.step("body", b"B", body.replace(b"\n", b"\r\n"))
        self.macros(b"E", {"i": queue_id})
        self.send(b"E")
        while True:  # header changes and the like come first, then the verdict
            cmd, _ = self.reply()
            if cmd in FINAL:
                break
        self.send(b"A")
        return cmd

    def close(self) -> None:
        self.send(b"Q")
        self.file.close()
        self.sock.close()


def wait_for_socket(milter: subprocess.Popen[bytes], sock: str, log: Path) -> None:
    """Until the milter listens on ``sock``; exits with its ``log`` if it stops or takes 120 s."""
    deadline = time.monotonic() + 120
    while not os.path.exists(sock):
        if milter.poll() is not None or time.monotonic() > deadline:
            sys.exit("the milter did not start:\n" + log.read_text())
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="messages per sender in the timed window (8 senders)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import bench_milter
    from bench_worker import transactions

    with tempfile.TemporaryDirectory(prefix="bench-milter-process-", ignore_cleanup_errors=True) as tmp:
        state = Path(tmp) / "milter"
        config = Path(tmp) / "sendguard.toml"
        config.write_text(
            TEAM_CONFIG.format(hold="reject", state=state) + f"learn = false\nworkers = {args.workers}\n",
        )
        seed(config, state)
        sock = str(Path(tmp) / "milter.sock")
        log = open(Path(tmp) / "milter.log", "wb")  # noqa: SIM115 — open for the milter's lifetime
        # BENCH_MILTER_COMMAND: another command line to start it with (an instrumented wrapper)
        command = os.environ.get("BENCH_MILTER_COMMAND", str(Path(sys.executable).parent / "sendguard")).split()
        milter = subprocess.Popen(
            [*command, "--config", str(config), "milter", "--listen", f"unix:{sock}", "--state-dir", str(state)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        try:
            wait_for_socket(milter, sock, Path(tmp) / "milter.log")
            senders = len(bench_milter.SENDERS)
            warm = transactions(senders * 3)
            txs = transactions(senders * (args.n + 3))[senders * 3 :]
            replies: dict[bytes, int] = {}
            lock = threading.Lock()

            def run(batch: list, start: int) -> None:  # type: ignore[type-arg]
                for i in range(start, len(batch), senders):
                    tx = batch[i]
                    client = Client(sock)
                    cmd = client.message(tx.sender, tx.recipients, tx.raw, f"Q{i:05X}")
                    client.close()
                    with lock:
                        replies[cmd] = replies.get(cmd, 0) + 1

            def drive(batch: list) -> None:  # type: ignore[type-arg]
                threads = [threading.Thread(target=run, args=(batch, s)) for s in range(senders)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()

            drive(warm)
            replies.clear()
            workers = [int(p) for p in Path(f"/proc/{milter.pid}/task/{milter.pid}/children").read_text().split()]
            before = proc_cpu(milter.pid), sum(proc_cpu(w) for w in workers), time.process_time()
            wall = time.perf_counter()
            drive(txs)
            wall = time.perf_counter() - wall
            after = proc_cpu(milter.pid), sum(proc_cpu(w) for w in workers), time.process_time()
        finally:
            milter.terminate()
            milter.wait(60)
            log.close()
        n = len(txs)
        own, work, client = ((a - b) / n * 1000 for a, b in zip(after, before, strict=True))
        print(f"{n} messages, {n / wall:.0f}/s, load {os.getloadavg()[0]:.1f}; replies {replies}")
        print(f"  CPU per message: milter process {own:.3f} ms, workers {work:.2f} ms, client {client:.2f} ms")


if __name__ == "__main__":
    main()
