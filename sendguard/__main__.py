"""Entry point of ``sendguard``.

``sendguard [--config PATH] sendmail ...`` goes straight to the send path (resident.py) without
importing click (85 ms): it runs on every mail. Everything else goes through the click CLI.
"""

from __future__ import annotations

import sys


def _fast_sendmail(argv: list[str]) -> int | None:
    config = None
    rest = argv
    if rest[:1] == ["--config"] and len(rest) >= 2:
        config, rest = rest[1], rest[2:]
    elif rest[:1] and rest[0].startswith("--config="):
        config, rest = rest[0].split("=", 1)[1], rest[1:]
    if rest[:1] != ["sendmail"]:
        return None
    from sendguard.sendpath import client as resident

    return resident.send(rest[1:], config)


def main() -> None:
    from sendguard.sendpath.client import sane_stdio

    sane_stdio()  # a closed stdin, stdout or stderr is /dev/null, before anything opens a file
    code = _fast_sendmail(sys.argv[1:])
    if code is not None:
        from sendguard.sendpath.client import exit_now

        exit_now(code)
    from sendguard.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
