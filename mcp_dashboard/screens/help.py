"""`?`: every key, read from the widgets' own BINDINGS so the list never drifts from them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

Section = tuple[str, Sequence[tuple[str, str]]]  # (where, [(keys, what they do)])


def keys_of(bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    """(keys, description) of each binding that has a description, keys joined with /."""
    rows: dict[str, list[str]] = {}
    for binding in bindings:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        key = binding.key_display or binding.key.replace("_", " ")
        rows.setdefault(binding.tooltip or binding.description, []).append(key)
    return [("/".join(keys), description) for description, keys in rows.items()]


def help_text(sections: Sequence[Section], notes: Sequence[str]) -> Text:
    width = max((len(k) for _, rows in sections for k, _ in rows), default=8)
    text = Text()
    for title, rows in sections:
        text.append(f"{title}\n", style="bold")
        for keys, description in rows:
            text.append(f"  {keys:>{width}}  ", style="bold cyan")
            text.append(f"{description}\n")
        text.append("\n")
    for note in notes:
        text.append(f"{note}\n", style="dim")
    return text


class HelpScreen(ModalScreen[None]):
    # The list scrolls at 80x24: the keys (up, pagedown, end) must reach it. The app has
    # no AUTO_FOCUS, so without this nothing on this screen has the focus.
    AUTO_FOCUS = "#help"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close")
    ]

    def __init__(self, sections: Sequence[Section], notes: Sequence[str] = ()) -> None:
        super().__init__()
        self.sections = sections
        self.notes = notes

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static("[b]Keys[/b]  (Jest/Vitest watch-mode habits)", id="help-title")
            yield Static(help_text(self.sections, self.notes), id="help-keys")
            yield Static("[dim]escape, ? or q to close[/]")
