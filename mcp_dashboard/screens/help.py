"""`?`: every key of the dashboard, read from the app's own BINDINGS so it never drifts."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close")
    ]

    def compose(self) -> ComposeResult:
        rows = [
            (b.key_display or b.key, b.description)
            for b in self.app.BINDINGS
            if isinstance(b, Binding)
        ]
        rows += [
            ("enter", "open the selected test: traceback, output, steps, durations"),
            ("space", "fold or unfold a test's step lines"),
            ("tab", "move between panes and tables"),
            ("ctrl+p", "command palette: every action above by name"),
        ]
        keys = Text()
        for key, description in rows:
            keys.append(f"{key:>8}  ", style="bold cyan")
            keys.append(f"{description}\n")
        with Vertical(id="help"):
            yield Static("[b]Keys[/b]  (Jest/Vitest watch-mode habits)", id="help-title")
            yield Static(keys, id="help-keys")
            yield Static("[dim]escape to close[/]")
