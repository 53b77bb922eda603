"""Check one message in this process, every rule, and print the peak RSS above what the process
held before it read the message, over the message size (as bench/bench_hostile.py measures).
Used by tests/integration/test_memory.py.

    python -m tests.support.check_peak MESSAGE-FILE STATE-DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.sendpath_peak import rss_mb


def main() -> None:
    from sendguard.config.schema import Config
    from sendguard.decide.check import check_message
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules import load_rules

    load_rules()
    import magic

    magic.from_buffer(b"%PDF-1.4\n", mime=True)  # libmagic loaded: the baseline a resident checker has
    before = rss_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    raw = Path(sys.argv[1]).read_bytes()
    result = check_message(
        OutgoingMessage(raw), Config(), envelope=["m.berger@nordwerk.example"], state_dir=Path(sys.argv[2])
    )
    print(result.decision.verdict.label, (rss_mb("VmHWM") - before) * 2**20 / len(raw))


if __name__ == "__main__":
    main()
