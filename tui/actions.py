"""The per-message actions, shared by the queue list and the message screen.

Each key asks first where it sends or destroys (ConfirmModal), then runs one core function in a
worker thread (ReviewApp.run_job) and reports in the app. The screen only says which entry is
meant (``current_entry_id``) and how to refresh itself (``after_change``).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from sendguard.errors import SendguardError
from sendguard.printable import printable
from sendguard.tui.safe import text
from sendguard.tui.screens.modals import ChoiceModal, ConfirmModal

if TYPE_CHECKING:
    from sendguard.act.queue import Meta
    from sendguard.recover.review_data import QueueRow
    from sendguard.tui.app import ReviewApp


def _summary(meta: Meta) -> Text:
    out = Text(end="")
    out.append("To:      ", style="bold")
    out.append_text(text(", ".join(meta.get("envelope", [])) or "(none)"))
    out.append("\nSubject: ", style="bold")
    out.append_text(text(meta.get("subject", "") or "(no subject)"))
    return out


def _postfix_summary(row: QueueRow) -> Text:
    out = Text(end="")
    out.append("From:    ", style="bold")
    out.append_text(text(row.sender or "(null sender)"))
    out.append("\nTo:      ", style="bold")
    out.append_text(text(", ".join(row.recipients) or "(none)"))
    out.append("\nSubject: ", style="bold")
    out.append_text(text(row.subject or "(no subject)"))
    if row.reason:
        out.append("\nWhy:     ", style="bold")
        out.append_text(text(row.reason))
    out.append(f"\n\nPostfix queue id {row.id}", style="dim")
    return out


class EntryActions:
    """Mixin for a Screen. Subclasses implement current_entry_id() and after_change(); on
    Postfix's hold queue also current_postfix_row(), and r/d act there (milter/postfix.py,
    the code behind ``release --postfix`` and ``discard --postfix``)."""

    if TYPE_CHECKING:  # provided by ReviewScreen, which every user of this mixin also is

        @property
        def review(self) -> ReviewApp: ...

    def current_entry_id(self) -> str | None:
        raise NotImplementedError

    def after_change(self) -> None:
        raise NotImplementedError

    def current_postfix_row(self) -> QueueRow | None:
        return None

    def _postfix_action(self, action: str) -> None:
        """r / d on Postfix's hold queue: postsuper -H (then delivery now) / postsuper -d."""
        from sendguard.milter import postfix

        app = self.review
        row = self.current_postfix_row()
        if row is None:
            app.notify("No message selected.", severity="warning", markup=False)
            return
        queue_id, config, config_dir = row.id, app.config, app.config.milter.postfix_config

        def done(what: str) -> Callable[[list[str]], None]:
            return lambda warnings: self._done(" ".join([what, *warnings]), "warning" if warnings else "information")

        if action == "release":
            self._confirm_then(
                "Release this message? Postfix delivers it now.",
                _postfix_summary(row),
                "Release",
                "Release failed",
                lambda: postfix.release(queue_id, config_dir, config=config),
                done(f"Released {queue_id}: Postfix delivers it now."),
            )
        else:
            self._confirm_then(
                "Delete this message from Postfix's hold queue? It will never be sent.",
                _postfix_summary(row),
                "Delete",
                "Delete failed",
                lambda: postfix.discard(queue_id, config_dir, config=config),
                done(f"Deleted {queue_id} from the hold queue; it will never be sent."),
            )

    def _done(self, message: str, severity: str = "information") -> None:
        # message text (addresses, reasons) inside: printable, and never markup
        self.review.notify(printable(message), severity=severity, markup=False)  # type: ignore[arg-type,unused-ignore]
        self.after_change()
        self.review.queue_changed()

    def _meta(self) -> tuple[str, Meta] | None:
        entry_id = self.current_entry_id()
        if not entry_id:
            self.review.notify("No message selected.", severity="warning", markup=False)
            return None
        try:
            return entry_id, self.review.queue.get(entry_id).meta
        except SendguardError as err:
            self.review.show_error("Cannot read that message", err.details())
        except (OSError, ValueError) as err:
            self.review.show_error("Cannot read that message", [f"{type(err).__name__}: {err}"])
        return None

    def _confirm_then(
        self, question: str, body: Text, yes: str, failure: str, job: Callable[[], Any], done: Callable[[Any], None]
    ) -> None:
        """Ask first (it sends or destroys), then run ``job`` in a worker and report."""
        app = self.review

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                app.run_job(failure, job, done)

        app.push_screen(ConfirmModal(question, body, yes=yes), answered)

    def _queue_op(
        self, action: str, question: str, yes: str, failure: str, op: Callable[..., Any], done: Callable[[Any], None]
    ) -> None:
        """r / d: on Postfix's hold queue there, else ask, then ``op(queue, entry_id, config)``."""
        if self.review.postfix:
            self._postfix_action(action)
            return
        found = self._meta()
        if not found:
            return
        entry_id, meta = found
        app = self.review
        self._confirm_then(question, _summary(meta), yes, failure, lambda: op(app.queue, entry_id, app.config), done)

    # r
    def action_release(self) -> None:
        from sendguard.act.ops import release

        if self.review.postfix:
            self._postfix_action("release")
            return
        found = self._meta()
        if found is None:  # nothing selected, or unreadable: said already
            return
        if found[1].get("already_left"):
            # sent again from the mail program after it had left (after r here, say): r sends it twice
            question = f"This message already left as {found[1].get('duplicate_of', '?')}. Send it a second time?"
            self._queue_op("release", question, "Send again", "Release failed", release, self._released)
            return
        self._queue_op("release", "Send this message now?", "Send", "Release failed", release, self._released)

    def _released(self, entry: Any) -> None:
        from sendguard.act import queue as q

        if entry.state == q.DELIVERED:
            self._done(f"Sent to {', '.join(entry.meta.get('envelope', []))}.")
            return
        # kept before it could be checked: checked now, and held (or blocked) by that check
        reasons = [f["message"] for f in entry.meta.get("findings", []) if f.get("severity") in ("hold", "block")]
        why = reasons[0] if reasons else entry.meta.get("verdict", "")
        self._done(f"Not sent: checked now, it is {entry.state}: {why} Press r again to send it anyway.", "warning")

    # d
    def action_discard(self) -> None:
        from sendguard.act.ops import discard

        self._queue_op(
            "discard",
            "Discard this message? It will never be sent.",
            "Discard",
            "Discard failed",
            discard,
            lambda entry: self._done(f"Discarded {entry.id}; it will never be sent."),
        )

    # s
    def action_suggest(self) -> None:
        from sendguard.recover import fix

        found = self._meta()
        if not found:
            return
        entry_id, _ = found
        app = self.review
        try:
            changes = fix.plan_suggestion(app.queue, entry_id)
        except SendguardError as err:
            app.show_error("No suggestion to take", err.details())
            return
        body = Text(
            "These changes will be made, then the message is checked again and sent if nothing else holds it:\n", end=""
        )
        for change in changes:
            body.append(f"\n{change.where}:\n", style="bold")
            body.append("  - ", style="red")
            body.append_text(text(change.before, "red"))
            body.append("\n  + ", style="green")
            body.append_text(text(change.after, "green"))

        def finished(result: fix.FixResult) -> None:
            if result.delivered:
                self._done("Recipient changed and sent.")
            else:
                why = "; ".join(result.reasons) or result.verdict
                self._done(f"Recipient changed, but it is still {result.verdict}: {why}", "warning")

        self._confirm_then(
            "Take the suggested recipient and send?",
            body,
            "Change and send",
            "Taking the suggestion failed",
            lambda: fix.take_suggestion(app.queue, entry_id, app.config, app.state_dir),
            finished,
        )

    # e
    def action_edit(self) -> None:
        from sendguard.recover import fix

        found = self._meta()
        if not found:
            return
        entry_id, _ = found
        app = self.review
        try:
            entry = app.queue.get(entry_id)
            new_raw = self._run_editor(entry.path, entry.raw())
        except SendguardError as err:
            app.show_error("Editing failed", err.details())
            return
        if new_raw is None:
            return

        def finished(result: fix.FixResult) -> None:
            if not result.changes and not result.reasons and result.verdict == "":
                self._done("Nothing changed.")
                return
            why = "; ".join(result.reasons)
            self._done(
                f"Edited and checked again: {result.verdict}{': ' + why if why else ''}. "
                "It stays held until you release it."
            )

        app.run_job(
            "Keeping the edit failed",
            lambda: fix.replace_message(app.queue, entry_id, new_raw, app.config, app.state_dir),
            finished,
        )

    def _run_editor(self, entry_dir: Path, raw: bytes) -> bytes | None:
        """Open a private copy in $VISUAL/$EDITOR; the new bytes, or None when unchanged."""
        from textual.app import SuspendNotSupported

        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        fd, name = tempfile.mkstemp(prefix=".edit-", suffix=".eml", dir=entry_dir)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
            argv = [*shlex.split(editor), str(path)]
            try:
                try:
                    with self.review.suspend():
                        code = subprocess.call(argv)
                except SuspendNotSupported:  # headless (tests): the editor is not interactive there
                    code = subprocess.call(argv, stdin=subprocess.DEVNULL)
            except (FileNotFoundError, PermissionError) as err:
                raise SendguardError(
                    f"the editor {argv[0]!r} cannot be run ({err.strerror})",
                    hints=["set $VISUAL or $EDITOR to your editor"],
                ) from None
            if code != 0:
                raise SendguardError(f"the editor exited with status {code}; the message was not changed")
            new_raw = path.read_bytes()
        finally:
            path.unlink(missing_ok=True)
        return None if new_raw == raw else new_raw

    # a
    def action_allow(self) -> None:
        from sendguard.config import edit as config_edit
        from sendguard.recover import fix

        found = self._meta()
        if not found:
            return
        entry_id, meta = found
        app = self.review
        # Only this message's recipients outside the organization, the flagged ones first.
        flagged = [
            f["recipient"]
            for f in meta.get("findings", [])
            if f.get("recipient") and f.get("severity") in ("warn", "hold", "block")
        ]
        candidates = list(dict.fromkeys([*flagged, *meta.get("envelope", [])]))
        choices = [c for addr in candidates for c in config_edit.choices_for(addr, app.config)]
        if not choices:
            app.show_error(
                "Nothing to allow",
                [
                    "every recipient of this message is in your organization",
                    "allowing a recipient never allows content (secrets, internal matters, attachments)",
                ],
            )
            return
        config_path = app.config_path

        def finished(result: fix.FixResult) -> None:
            advice = " Press r to send it." if result.verdict in ("pass", "warn") else ""
            self._done(f"Written to {config_path}. Checked again: {result.verdict}.{advice}")

        def work(choice: config_edit.AllowChoice) -> fix.FixResult:
            app.config = config_edit.allow(config_path, choice)
            return fix.recheck(app.queue, entry_id, app.config, app.state_dir)

        def chosen(index: int | None) -> None:
            if index is not None:
                choice = choices[index]
                app.run_job("Changing the config failed", lambda: work(choice), finished)

        app.push_screen(
            ChoiceModal("Allow from now on (writes your config):", [text(c.label) for c in choices]), chosen
        )

    # f
    def action_false_alarm(self) -> None:
        from sendguard.decide import false_alarms

        found = self._meta()
        if not found:
            return
        _, meta = found
        app = self.review

        def finished(pairs: list[tuple[str, str]]) -> None:
            if not pairs:
                self._done(
                    "Nothing to mark: no rule warned about a recipient. What a message carries is judged "
                    "each time; press r to send this one if it is right.",
                    "warning",
                )
            else:
                self._done(
                    "Marked as a false alarm: " + ", ".join(f"{r} for {c}" for r, c in pairs) + ". Press r to send it."
                )

        app.run_job("Recording the false alarm failed", lambda: false_alarms.record(app.state_dir, meta), finished)

    # y
    def action_copy_id(self) -> None:
        entry_id = self.current_entry_id()
        if entry_id:
            self.review.copy_to_clipboard(entry_id)
            self.review.notify(printable(f"Copied {entry_id}"), markup=False)
