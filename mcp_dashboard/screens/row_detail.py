"""Enter on a row of the live tables: the whole row and what hangs off it (an execution's
arguments and result, a session's calls, a client's sessions), read from the database."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from mcp_dashboard.db_views.queries import Detail


class RowDetailScreen(Screen[None]):
    AUTO_FOCUS = "#detail"  # the keys scroll a long result (the app's AUTO_FOCUS is elsewhere)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back", tooltip="back to the tables"),
    ]

    def __init__(self, detail: Detail) -> None:
        super().__init__()
        self.detail = detail

    def compose(self) -> ComposeResult:
        detail = self.detail
        with VerticalScroll(id="detail"):
            yield Static(Text(detail.title), id="detail-title")
            if detail.error is not None:
                yield Static(Text(detail.error, style="bold red"), id="detail-error")
            facts = Text()
            for name, value in detail.facts:
                facts.append(f"{name:>14}  ", style="bold")
                facts.append(f"{value}\n")
            yield Static(facts, id="detail-facts")
            for heading, body in detail.sections:
                yield Static(heading, classes="detail-heading")
                yield Static(
                    Text(body) if body else Text("(none)", style="dim"), classes="detail-body"
                )
        yield Footer()
