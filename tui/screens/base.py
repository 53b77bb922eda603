"""The base of every screen: typed access to the ReviewApp (its queue, config, job runner)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual.screen import Screen

if TYPE_CHECKING:
    from sendguard.tui.app import ReviewApp


class ReviewScreen(Screen[Any]):
    @property
    def review(self) -> ReviewApp:
        return cast("ReviewApp", self.app)
