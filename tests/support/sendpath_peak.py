"""Run one big mail through the send path in this process (check, delivery, observers inline, as
the resident checker does) and print the peak RSS above what the process held before it read
the message, over the message size. Used by tests/integration/test_memory.py.

    python -m tests.support.sendpath_peak MESSAGE-FILE ROOT
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from tests.support.isolated import private_dirs, swallowing_config


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    message, root = Path(sys.argv[1]), Path(sys.argv[2])
    os.environ.update(private_dirs(root))
    os.environ["SENDGUARD_RESIDENT"] = "0"
    from sendguard.act import events
    from sendguard.act import queue as q
    from sendguard.rules import load_rules
    from sendguard.sendpath.path import SendPath

    load_rules()
    config = swallowing_config(root)
    before = rss_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    raw = message.read_bytes()
    path = SendPath(config, io.StringIO(), queue=q.Queue(root / "data" / "sendguard" / "queue"))
    path.observe_later = []
    code = path.run(["--", "m.berger@nordwerk.example"], io.BytesIO(raw))
    for entry, event, cfg in path.observe_later:
        events.emit(entry, event, cfg)
    print(code, (rss_mb("VmHWM") - before) * 2**20 / len(raw))


if __name__ == "__main__":
    main()
