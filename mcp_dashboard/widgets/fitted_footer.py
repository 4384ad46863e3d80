"""Textual's footer, never cutting a key in half: what does not fit is left out whole.

Textual's footer lays its keys out in a row and the terminal's edge cuts the last one
(at 80 columns `t Ti`, and nothing of `w` or `c`). This one leaves keys out until the
rest fit: first the actions named in `drop_first`, in that order, then from the end.
The help screen (`?`) lists every key, so a key left out is never lost.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


def key_width(key: FooterKey, compact: bool) -> int:
    """The cells a footer key takes, its margin included (Textual's footer CSS)."""
    description = Text.from_markup(key.description).cell_len if key.description else 0
    if compact:  # `k Desc` and a margin of 1
        return Text(key.key_display).cell_len + (1 + description if description else 0) + 1
    return Text(key.key_display).cell_len + 2 + (description + 1 if description else 0)


def fitting(
    keys: Sequence[FooterKey], width: int, drop_first: Sequence[str], compact: bool
) -> list[FooterKey]:
    """The keys to show in `width` cells: all of them if they fit, else without the
    actions of `drop_first` (in that order), then without the last ones."""
    kept = list(keys)
    order = [k for action in drop_first for k in kept if k.action == action]
    order += [k for k in reversed(kept) if k not in order]
    for key in order:
        if sum(key_width(k, compact) for k in kept) <= width:
            break
        kept.remove(key)
    return kept


class FittedFooter(Footer):
    def __init__(
        self,
        *,
        drop_first: Sequence[str] = (),
        compact: bool = False,
        show_command_palette: bool = True,
    ) -> None:
        super().__init__(compact=compact, show_command_palette=show_command_palette)
        self.drop_first = tuple(drop_first)
        self._width = 0  # the width the keys were last fitted to

    def compose(self) -> ComposeResult:
        made: list[Widget] = list(super().compose())
        self._width = self.size.width or self.app.size.width
        keys = [w for w in made if isinstance(w, FooterKey)]
        shown = fitting(keys, self._width, self.drop_first, self.compact)
        yield from (w for w in made if not isinstance(w, FooterKey) or w in shown)

    async def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            await self.recompose()
