"""The ``sendguard`` command line (click), one module per command or command group.

Commands are registered in COMMANDS and imported only when invoked (a lazy group), so
``sendguard check`` never pays for the review app and a broken optional part cannot break
the others. Errors are :class:`SendguardError`\\ s, rendered here in one place:
``sendguard: error: ...`` on stderr and the error's exit code.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sendguard.errors import SendguardError, StateUnwritable
from sendguard.exitcodes import ExitCode
from sendguard.printable import printable

if TYPE_CHECKING:
    from sendguard.config.schema import Config

# command name -> "module:attribute" under sendguard.cli
COMMANDS: dict[str, str] = {
    "sendmail": "sendmail_cmd:sendmail",
    "check": "check_cmd:check",
    "queue": "queue_cmd:queue",
    "release": "queue_cmd:release",
    "discard": "queue_cmd:discard",
    "config": "config_cmd:config",
    "log": "log_cmd:log",
    "undo": "undo_cmd:undo",
    "oops": "oops_cmd:oops",
    "review": "review_cmd:review",
    "learn": "learn_cmd:learn",
    "forget": "forget_cmd:forget",
    "evaluate": "evaluate_cmd:evaluate",
    "trust": "trust_cmd:trust",
    "setup": "setup_cmd:setup",
    "doctor": "doctor_cmd:doctor",
    "completion": "completion_cmd:completion",
    "demo": "demo_cmd:demo",
    "man": "man_cmd:man",
    "milter": "milter_cmd:milter",
}


# commands that write the state dir (queue, history, incident log): they first try a write there,
# so an unwritable state is one line naming the path, before any work is done
WRITES_STATE = frozenset(
    {"sendmail", "queue", "release", "discard", "log", "undo", "oops", "review", "learn", "forget", "trust"}
)


def require_writable_state() -> None:
    from sendguard import paths

    root = paths.state_dir()
    refused = paths.probe_write(root)
    if refused is not None:
        raise StateUnwritable(root, refused)


def _probing(command: click.Command) -> click.Command:
    """``command`` with the write probe before it runs (after click parsed it: --help still works)."""
    if getattr(command, "_probes_state", False):
        return command
    invoke = command.invoke

    def probed(ctx: click.Context) -> Any:
        require_writable_state()
        return invoke(ctx)

    command.invoke = probed  # type: ignore[method-assign]
    command._probes_state = True  # type: ignore[attr-defined]
    return command


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(f"sendguard.cli.{module}"), attr)
        return _probing(command) if name in WRITES_STATE else command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name not in ("review", "sendmail"):  # review shows them in its screen
            _show_notices()
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        from sendguard import paths
        from sendguard.act import events

        events.settle(paths.state_dir())  # a sendmail that just exited may still be logging its mail
        try:
            return super().invoke(ctx)
        except SendguardError as err:
            render_error(err)
            ctx.exit(int(err.exit_code))
        except Exception as err:  # a write the state dir refused, wherever it happened: one line, no traceback
            if isinstance(err, OSError) and _output_refused(err):  # our own stdout, not the state dir
                click.echo(f"sendguard: error: cannot write the output: {err.strerror}", err=True)
                _drop_stdout()
                ctx.exit(int(ExitCode.CANTCREAT))
            unwritable = StateUnwritable.from_error(err, paths.state_dir())
            if unwritable is None:
                if isinstance(err, OSError) and err.filename:  # a file the config or a command names
                    where = os.fsdecode(err.filename)
                    click.echo(f"sendguard: error: {printable(where)}: {err.strerror or err}", err=True)
                    ctx.exit(int(ExitCode.CANTCREAT))
                raise
            render_error(unwritable)
            ctx.exit(int(unwritable.exit_code))


def _output_refused(err: BaseException) -> bool:
    """Whether ``err``, a failed write naming no file, was our own stdout's (/dev/full, a full
    disk under a redirect) rather than the state dir's: the state dir still takes a write."""
    import errno

    from sendguard import paths

    if not isinstance(err, OSError) or err.filename or err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
        return False
    return paths.probe_write(paths.state_dir()) is None


def _show_notices() -> None:
    """What sendguard said where no mail program showed it (act/notices.py), once, on a terminal."""
    if not sys.stderr.isatty():
        return  # a script's stderr: keep them for the person
    from sendguard import paths
    from sendguard.act import notices

    state_dir = paths.state_dir()
    if notices.pending(state_dir):
        taken = notices.take(state_dir)
        if taken:
            click.echo("\n".join(notices.as_text(taken)) + "\n", err=True)


def render_error(err: SendguardError) -> None:
    """One line and its hints; through printable(): they quote mail and transports."""
    lines = err.details()
    click.echo(f"sendguard: error: {printable(lines[0])}", err=True)
    for line in lines[1:]:
        click.echo(f"  {printable(line)}", err=True)


class State:
    """What every command gets: the config path (loaded on demand)."""

    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from sendguard.config import schema as config_mod

            self._config = config_mod.load(self.config_path, required=self.config_path is not None)
        return self._config


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),  # a directory is a config error (78, one line), not a usage error
    envvar="SENDGUARD_CONFIG",  # the file sendguard-sendmail reads: doctor, release, ... judge by it too
    help="Config file (default: $SENDGUARD_CONFIG, else $XDG_CONFIG_HOME/sendguard/config.toml).",
)
@click.version_option(package_name="sendguard")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """sendguard: check every outgoing mail before it leaves."""
    ctx.obj = State(config_path)


def _drop_stdout() -> None:
    """After stdout refused a write: what it still buffers goes to /dev/null. Python flushes
    stdout once more as it stops, and a second failure there would end it with exit 120."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


# what aerc's :term runs and then closes with its tab: these show their own screen, or none
NO_PAUSE = frozenset({"review", "sendmail", "milter", "man", "completion"})


def _command(argv: list[str]) -> str | None:
    """The command named in ``argv`` (past the global --config)."""
    args = iter(argv)
    for arg in args:
        if arg == "--config":
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def _in_an_aerc_tab(argv: list[str]) -> bool:
    """Run with aerc's ``:term sendguard oops``: aerc closes the tab as the command ends, and what
    it printed (the drafts, the deadline, what to do) with it, before anyone could read it."""
    if _command(argv) in NO_PAUSE or sys.stdin is None or sys.stdout is None:
        return False
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    from sendguard.sendpath.caller import detect

    return detect()["program"] == "aerc"


def main() -> None:
    pause = _in_an_aerc_tab(sys.argv[1:])
    try:
        _main()
    finally:
        if pause:
            with contextlib.suppress(OSError, ValueError, EOFError, KeyboardInterrupt):
                click.echo("\n[Enter: close this tab and go back to aerc]", nl=False)
                sys.stdin.readline()


def _main() -> None:
    try:
        code = cli.main(prog_name="sendguard", standalone_mode=False)
    except OSError as err:  # the help, or a usage error, could not be written
        if not _output_refused(err):
            raise
        with contextlib.suppress(OSError, ValueError):
            click.echo(f"sendguard: error: cannot write the output: {err.strerror}", err=True)
        _drop_stdout()
        sys.exit(int(ExitCode.CANTCREAT))
    except click.UsageError as err:  # click's own code 2 would read as "hold" from `sendguard check`
        err.show()
        sys.exit(int(ExitCode.USAGE))
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except SendguardError as err:  # raised outside a command's invoke (e.g. while parsing)
        render_error(err)
        sys.exit(int(err.exit_code))
    except KeyboardInterrupt:
        sys.exit(int(ExitCode.TEMPFAIL))
    sys.exit(code if isinstance(code, int) else 0)
