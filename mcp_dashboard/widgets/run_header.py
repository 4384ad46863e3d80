"""The header: what happened (one word, then pytest's own closing words), progress, time.

One line, fitted to the width by `header_line`: the verdict and the time are never
cut; the progress bar goes first when the width is short, then the words shorten.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.widget import Widget

from mcp_dashboard.state import RunState
from mcp_dashboard.summary import elapsed, seconds, verdict, what_happened
from mcp_dashboard.widgets.labels import ELLIPSIS, RUN_STYLES, counts_text, duration, fit_head

BAR_WIDTH = 20
BAR_FROM_WIDTH = 100  # narrower than this, no bar: the words matter more


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> Text:
    filled = 0 if not total else min(width, round(width * done / total))
    return Text.assemble(("━" * filled, "green"), ("━" * (width - filled), "grey30"))


def header_line(state: RunState, scope: str, now: float, width: int, watch: str = "") -> Text:
    """`FAILED  rerun of 2 failed tests: 1 failed, 1 passed in 0.41s   ━━━━━━━━ 2/2  0.41s`;
    in watch mode the verdict is followed by `watching` (and what it queued).

    Short of room, the scope (why these tests: a watch batch's reason can be long) shortens
    first, then the watch words, and only then pytest's own counts."""
    word = verdict(state)
    done, total = state.progress
    right = Text()
    if width >= BAR_FROM_WIDTH:
        right.append_text(progress_bar(done, total)).append(" ")
    right.append(f"{done}/{total}" if total else "", style="bold")
    words = what_happened(state) if state.finished else ""
    if not words.endswith(f" in {seconds(elapsed(state))}"):  # pytest's words say it already
        right.append(f"  {duration(elapsed(state, now)):>6}")
    counts = Text(words, style="bold") if state.finished else counts_text(state.counts, words=True)
    joint = ": " if state.finished else "  "
    # The verdict, "  " after it, " " before `right`: never cut.
    room = width - len(f" {word} ") - 2 - right.cell_len - 1
    # What the scope and the watch words may take together; each at least half of it when
    # both are too long.
    words_room = room - counts.cell_len - (2 if scope else 0) - (2 if watch else 0)
    scope = _shortened(scope, max(words_room // 2, words_room - len(watch)))
    watch = _shortened(watch, words_room - len(scope))
    room -= len(watch) + 2 if watch else 0
    head = Text(f" {word} ", style=f"{RUN_STYLES[state.status]} reverse")
    if watch:
        head.append(f" {watch} ", style="bold cyan")
    if state.finished:
        detail = Text(f"{scope}{joint}{words}" if scope else words, style="bold")
    else:
        detail = Text(f"{scope}{joint}" if scope else "", style="dim").append_text(counts)
    if detail.cell_len > room:
        detail.truncate(max(0, room - 1))
        detail.append(ELLIPSIS)
    line = Text.assemble(head, "  ", detail)
    line.append(" " * max(0, width - line.cell_len - right.cell_len))
    line.append_text(right)
    line.truncate(width)
    return line


def _shortened(text: str, room: int) -> str:
    """`text` cut at its end to `room` cells; its first word at least (`watching`, `rerun`)."""
    if len(text) <= room:
        return text
    first = text.split(" ", 1)[0]
    return fit_head(text, room) if room > len(first) + 1 else first


class RunHeader(Widget):
    DEFAULT_CSS = "RunHeader { height: 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = RunState()
        self.scope = ""
        self.now = time.time()
        self.watch_line = ""

    def show(self, state: RunState, scope: str, now: float, watch: str = "") -> None:
        self.state, self.scope, self.now, self.watch_line = state, scope, now, watch
        self.refresh()

    def render(self) -> Text:
        return header_line(self.state, self.scope, self.now, self.size.width, self.watch_line)
