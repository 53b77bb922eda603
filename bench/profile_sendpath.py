"""Where the send path's time goes (a tool, not a test): imports and each rule's check.

Runs in fresh interpreters, several times, and prints medians, so that a slow rule or a heavy
import is visible by name:

* the marginal import cost of each send-path module, in the order the send path imports them;
* for each rule in RULES: the cost of importing its module (after the core is loaded) and of
  its first ``check`` on a plain 10 kB mail (lazy imports inside ``check`` included);
* the import of each observer in events.OBSERVERS (they run after every delivery).

Times are CPU time of the process (``time.process_time``), so a busy machine disturbs them
less than wall clock; bytecode is cached, as for an installed package.

    .venv/bin/python bench/profile_sendpath.py [-n 9]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sendpath import RECIPIENT, message_10k  # noqa: E402

CORE = [
    "sendguard.sendpath.args",
    "sendguard.model",
    "sendguard.errors",
    "sendguard.config.schema",
    "sendguard.act.queue",
    "sendguard.sendpath.path",
    "sendguard.mail.message",
    "sendguard.rules.context",
    "sendguard.decide.decision",
    "sendguard.rules",
    "sendguard.decide.check",
    "sendguard.act.delivery",
]

PROBE = textwrap.dedent("""\
    import json, sys, time
    clock = time.process_time
    out = {"import": {}, "rule_import": {}, "rule_check": {}, "observer_import": {}}
    for name in CORE:
        t = clock(); __import__(name); out["import"][name] = clock() - t
    from sendguard.config import schema as config_mod
    from sendguard.decide.check import envelope_for
    from sendguard.rules.context import CheckContext
    from sendguard.mail.message import OutgoingMessage
    from sendguard.rules import RULES, rule_class
    config = config_mod.parse(CONFIG)
    raw = open(MSG, "rb").read()
    for rule_id in RULES:
        t = clock(); cls = rule_class(rule_id); out["rule_import"][rule_id] = clock() - t
    message = OutgoingMessage(raw)
    context = CheckContext(config=config, envelope=envelope_for(message, [RCPT], False), now=time.time(),
                           state_dir=__import__("pathlib").Path(STATE))
    for rule_id in RULES:
        rule = rule_class(rule_id)()
        t = clock()
        try:
            rule.check(message, context)
        except Exception as err:
            out.setdefault("errors", {})[rule_id] = repr(err)
        out["rule_check"][rule_id] = clock() - t
    from sendguard.act.events import OBSERVERS
    for name in OBSERVERS:
        t = clock(); __import__(name); out["observer_import"][name] = clock() - t
    print(json.dumps(out))
    """)

CONFIG = """\
[identity]
addresses = ["me@nordwerk.example"]
[organization]
domains = ["nordwerk.example"]
[clients.kundenfirma]
domains = ["kundenfirma.example"]
keywords = ["Falke", "Kundenfirma"]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=9, help="fresh interpreters (default 9)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        msg = Path(tmp) / "m.eml"
        msg.write_bytes(message_10k())
        code = (
            f"CORE = {CORE!r}\nCONFIG = {CONFIG!r}\nMSG = {str(msg)!r}\nRCPT = {RECIPIENT!r}\nSTATE = {tmp!r}\n" + PROBE
        )
        # bytecode cached, as for an installed package (see bench_sendpath.py); one warm-up run
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        runs = []
        for _ in range(opts.n + 1):
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
            if proc.returncode != 0:
                sys.exit(proc.stderr)
            runs.append(json.loads(proc.stdout))
        runs = runs[1:]

    def med(section: str, name: str) -> float:
        return statistics.median(r[section][name] for r in runs) * 1000

    print(f"median of {opts.n} fresh interpreters, CPU ms (marginal: what each step adds)")
    print("core imports:")
    for name in CORE:
        print(f"  {med('import', name):6.1f}  {name}")
    print(f"  {sum(med('import', n) for n in CORE):6.1f}  total")
    print("rules: import / first check on a plain 10 kB mail")
    rules = list(runs[0]["rule_import"])
    for rule_id in rules:
        print(f"  {med('rule_import', rule_id):6.1f} / {med('rule_check', rule_id):6.1f}  {rule_id}")
    print(
        f"  {sum(med('rule_import', r) for r in rules):6.1f} / {sum(med('rule_check', r) for r in rules):6.1f}  total"
    )
    print("observers (after every delivery): import")
    observers = list(runs[0]["observer_import"])
    for name in observers:
        print(f"  {med('observer_import', name):6.1f}  {name}")
    for rule_id, err in runs[0].get("errors", {}).items():
        print(f"  error in {rule_id}: {err}")


if __name__ == "__main__":
    main()
