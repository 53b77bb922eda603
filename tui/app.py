"""The review app: composition, the shared job runner, and the error modal. Nothing else.

``run_job`` is the one place actions leave the UI thread: a core function runs in a worker
thread (msmtp may take seconds; the screen keeps painting), and its result or its error comes
back to the UI thread. A SendguardError is shown with its ``details()``; anything else is shown
as one line naming the error — the app never prints a traceback at a person.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding

from sendguard.act.queue import Queue
from sendguard.config.schema import Config
from sendguard.errors import SendguardError
from sendguard.recover.review_data import QueueRow
from sendguard.tui.screens.help import HelpScreen
from sendguard.tui.screens.modals import ErrorModal
from sendguard.tui.screens.queue_list import QueueScreen


class ReviewApp(App[None]):
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = False  # every command has its own key (see ?)
    TITLE = "sendguard review"
    BINDINGS = [
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit", show=False),  # listed in the help; the footer has no room at 80 columns
    ]

    def __init__(
        self,
        *,
        queue: Queue,
        config: Config,
        config_path: Path,
        state_dir: Path,
        now: Callable[[], float] = time.time,
        prefetch: Future[Any] | None = None,
        hold_queue: Callable[[], list[QueueRow]] | None = None,
    ) -> None:
        super().__init__()
        self.queue = queue
        self.config = config
        self.config_path = config_path
        self.state_dir = state_dir
        self.now = now
        self.prefetch = prefetch
        """The first queue view, already being read (sendguard review starts it before Textual loads)."""
        self.hold_queue = hold_queue
        """Set: the list is Postfix's hold queue as this reads it (``review --postfix``); ``queue``
        is then the milter's own copies (what Enter opens) and r/d act through postsuper."""
        self.jobs_done = 0
        self.internal_errors: list[Exception] = []
        if hold_queue is not None:
            self.title = "sendguard review — Postfix"

    @property
    def postfix(self) -> bool:
        return self.hold_queue is not None

    def on_mount(self) -> None:
        self.push_screen(QueueScreen())
        if self.postfix:  # an administrator's view: the user's notices and verdicts are not here
            return
        self._show_notices()
        self.run_job("Checking held mail again failed", self._refresh_verdicts, self._verdicts_refreshed)

    def _refresh_verdicts(self) -> list[str]:
        """Held mail judged under another version of the config is judged again under this one."""
        from sendguard.recover.fix import refresh_stale

        return refresh_stale(self.queue, self.config, self.state_dir)

    def _verdicts_refreshed(self, ids: list[str]) -> None:
        if ids:
            self.queue_changed()

    def _show_notices(self) -> None:
        """What sendguard said where no mail program showed it (act/notices.py), once."""
        from sendguard.act import notices

        for item in notices.latest_per_message(notices.take(self.state_dir)):
            self.notify(
                "\n".join(str(line) for line in item.get("body", [])),
                title=str(item.get("title", "")),
                severity="warning",
                timeout=60,
                markup=False,
            )

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.postfix))

    def show_error(self, title: str, lines: list[str]) -> None:
        self.push_screen(ErrorModal(title, lines or ["(no details)"]))

    def _handle_exception(self, error: Exception) -> None:
        """An unexpected error in a handler: say so in the app and keep running.

        Textual's default ends the app with a traceback. Overriding this (private) hook keeps
        the person's session and shows one line; the traceback goes to
        ``$XDG_DATA_HOME/sendguard/review-errors.log`` for a bug report. Errors during start
        and shutdown still take Textual's path.
        """
        if not self.is_running or self._exit_renderables or not isinstance(error, Exception):
            super()._handle_exception(error)
            return
        self.internal_errors.append(error)
        try:
            import traceback

            from sendguard.paths import ensure_private_dir

            ensure_private_dir(self.state_dir)
            with open(self.state_dir / "review-errors.log", "a", encoding="utf-8") as log:
                log.write("".join(traceback.format_exception(error)))
            where = f"details in {self.state_dir / 'review-errors.log'}"
        except OSError as log_error:
            where = f"and the details could not be written ({log_error})"
        self.show_error(
            "Something went wrong",
            [
                f"internal error: {type(error).__name__}: {error}",
                where,
                "nothing was sent or lost; the queue is unchanged by this",
            ],
        )

    def queue_changed(self) -> None:
        """Something was done to the queue: every queue list on the stack reads it again."""
        for screen in self.screen_stack:
            if isinstance(screen, QueueScreen):
                screen.load()

    def run_job(self, failure_title: str, job: Callable[[], Any], done: Callable[[Any], None]) -> None:
        """Run ``job`` in a worker thread; ``done(result)`` or an error modal on the UI thread."""
        self._job(failure_title, job, done)

    @work(thread=True, exit_on_error=False, group="actions")
    def _job(self, failure_title: str, job: Callable[[], Any], done: Callable[[Any], None]) -> None:
        try:
            result = job()
        except SendguardError as err:
            self.call_from_thread(self._job_failed, failure_title, err.details())
            return
        except Exception as err:  # noqa: BLE001 — shown in the app; a traceback helps nobody here
            self.call_from_thread(
                self._job_failed,
                failure_title,
                [f"internal error: {type(err).__name__}: {err}", "the message is still in the queue; nothing was lost"],
            )
            return
        self.call_from_thread(self._job_done, done, result)

    def _job_failed(self, title: str, lines: list[str]) -> None:
        self.jobs_done += 1
        self.show_error(title, lines)
        self.queue_changed()  # a failed delivery changes the state (deferred, failed)

    def _job_done(self, done: Callable[[Any], None], result: Any) -> None:
        self.jobs_done += 1
        done(result)


def postfix_app(config: Config, config_path: Path) -> ReviewApp:
    """The app on Postfix's hold queue: what ``sendguard milter`` quarantined, for an administrator."""
    from sendguard.milter import senders
    from sendguard.recover.review_data import postfix_rows

    root = senders.state_dir(config)
    return ReviewApp(
        queue=Queue(root / "queue"),
        config=config,
        config_path=config_path,
        state_dir=root,
        hold_queue=lambda: postfix_rows(config.milter.postfix_config, root),
    )


def run(config: Config, config_path: Path, prefetch: Future[Any] | None = None, *, postfix: bool = False) -> None:
    """Start the app on the user's queue (``sendguard review``), or on Postfix's hold queue."""
    from sendguard import paths

    if postfix:
        postfix_app(config, config_path).run()
        return
    ReviewApp(
        queue=Queue.default(), config=config, config_path=config_path, state_dir=paths.state_dir(), prefetch=prefetch
    ).run()
