"""A pane's list of tests and their step lines: failing and running tests first.

A windowed list: it is as tall as its lines, up to `max_lines`, and scrolls its own
window over the rest (with a one-column scroll bar it draws itself). So a list that
grows, shrinks or reorders costs a repaint of its own lines, never a layout of the
screen: with 30 panes, a layout is what a frame could not afford. Each line is
fitted to the width (labels.test_row). The cursor is kept by test, not by line, so it
stays on its test while tests move (a failure jumps to the top) or arrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from mcp_dashboard.state import TestState
from mcp_dashboard.status import TestStatus
from mcp_dashboard.widgets.labels import common_prefix, step_row, test_name, test_row

# Within a pane: failures and errors first, then tests the run died in, then those
# running now, then the rest in collection order.
_RANK = {
    TestStatus.FAILED: 0,
    TestStatus.ERROR: 0,
    TestStatus.INTERRUPTED: 1,
    TestStatus.RUNNING: 2,
}
MAX_LINES = 12  # a list taller than this scrolls


def display_rank(test: TestState) -> int:
    return _RANK.get(test.status, 3)


@dataclass(frozen=True, slots=True)
class Row:
    """A test (step None) or one of its step lines."""

    nodeid: str
    step: int | None = None


class TestList(Widget, can_focus=True):
    __test__ = False  # not a pytest test class

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "choose",
            "Open",
            show=False,
            tooltip="open the test: traceback, output, steps, durations",
        ),
        Binding(
            "space", "fold", "Fold", show=False, tooltip="fold or unfold the test's step lines"
        ),
        Binding("up", "cursor(-1)", "Up", show=False, tooltip="move between tests"),
        Binding("down", "cursor(1)", "Down", show=False, tooltip="move between tests"),
        Binding("pageup", "page(-1)", "Page up", show=False, tooltip="a page up or down"),
        Binding("pagedown", "page(1)", "Page down", show=False, tooltip="a page up or down"),
        Binding("home", "edge(0)", "First", show=False, tooltip="the first or last test"),
        Binding("end", "edge(1)", "Last", show=False, tooltip="the first or last test"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "test-list--block_cursor",
        "test-list--scrollbar",
    }
    DEFAULT_CSS = """
    TestList {
        height: 1;
        background: transparent;
    }
    TestList > .test-list--block_cursor {
        background: $block-cursor-background;
        text-style: bold;
    }
    TestList > .test-list--scrollbar {
        color: $scrollbar;
    }
    """

    @dataclass
    class Chosen(Message):
        """Enter (or a second click) on a test."""

        nodeid: str

    @dataclass
    class Highlighted(Message):
        """The cursor moved to a test (its full node id is shown below the panes)."""

        nodeid: str

    def __init__(self, *, max_lines: int = MAX_LINES) -> None:
        super().__init__()
        self.max_lines = max_lines
        self.tests: dict[str, TestState] = {}
        self.rows: list[Row] = []
        self.prefix = ""  # the `Class::` every test here shares: not repeated on each line
        self.cursor = 0
        self.top = 0  # the first row in the window
        self._folded: dict[str, bool] = {}  # the user's own folding, by test
        self._cursor_key: Row | None = None
        self._height = 1
        self._hovered: str | None = None

    # -- content ---------------------------------------------------------------

    def show(self, tests: Iterable[TestState], positions: dict[str, int]) -> None:
        """Show these tests (the pane's visible ones), failing and running first."""
        last, rank = len(positions), _RANK
        ordered = sorted(
            tests, key=lambda t: (rank.get(t.status, 3), positions.get(t.nodeid, last))
        )
        if len(ordered) != len(self.tests) or any(t.nodeid not in self.tests for t in ordered):
            self.prefix = common_prefix([test_name(t) for t in ordered])
        self.tests = {t.nodeid: t for t in ordered}
        rows: list[Row] = []
        add, folded = rows.append, self._folded
        for test in ordered:
            nodeid = test.nodeid
            add(Row(nodeid))
            if not test.steps:
                continue
            fold = folded.get(nodeid)
            unfolded = (not test.finished or test.failed) if fold is None else not fold
            if unfolded:
                rows.extend(Row(nodeid, step.index) for step in test.steps)
        self.rows = rows
        self._restore_cursor()
        self._fit()
        self.refresh()

    def expanded(self, test: TestState) -> bool:
        """Step lines show under failing and running tests, unless the user folded them."""
        folded = self._folded.get(test.nodeid)
        if folded is not None:
            return not folded
        return not test.finished or test.failed

    @property
    def highlighted(self) -> str | None:
        """The node id under the cursor."""
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor].nodeid
        return None

    def select(self, nodeid: str) -> bool:
        """Put the cursor on this test; False when it is not shown here."""
        for index, row in enumerate(self.rows):
            if row.nodeid == nodeid and row.step is None:
                self._move(index)
                return True
        return False

    def _restore_cursor(self) -> None:
        key = self._cursor_key
        if key is not None and self.cursor < len(self.rows) and self.rows[self.cursor] == key:
            return  # still where it was
        found = None
        if key is not None:
            found = next((i for i, row in enumerate(self.rows) if row == key), None)
            if found is None:
                found = next((i for i, r in enumerate(self.rows) if r.nodeid == key.nodeid), None)
        self.cursor = found if found is not None else min(self.cursor, max(0, len(self.rows) - 1))
        self._cursor_key = self.rows[self.cursor] if self.rows else None

    def set_max_lines(self, lines: int) -> None:
        """A new cap (the grid gives a pane the height nobody uses once the run is over)."""
        if lines != self.max_lines:
            self.max_lines = lines
            self._fit()
            self.refresh()

    def _fit(self) -> None:
        """As tall as the rows, up to `max_lines`: the only change that needs a layout."""
        height = max(1, min(len(self.rows), self.max_lines))
        if height != self._height:
            self._height = height
            self.styles.height = height
        self._keep_in_window()

    def _keep_in_window(self) -> None:
        height = self._height
        self.top = max(0, min(self.top, len(self.rows) - height))
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + height:
            self.top = self.cursor - height + 1

    def _move(self, index: int) -> None:
        index = max(0, min(index, len(self.rows) - 1)) if self.rows else 0
        key = self.rows[index] if self.rows else None
        moved = key != self._cursor_key
        self.cursor, self._cursor_key = index, key
        self._keep_in_window()
        self.refresh()
        if moved and key is not None and self.has_focus:
            self.post_message(self.Highlighted(key.nodeid))

    def on_focus(self) -> None:
        self.refresh()
        if self.highlighted is not None:
            self.post_message(self.Highlighted(self.highlighted))

    def on_blur(self) -> None:
        self.refresh()

    # -- drawing ---------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        index = self.top + y
        if width <= 0 or index >= len(self.rows):
            return Strip.blank(width, base)
        bar = len(self.rows) > self._height
        room = width - 1 if bar else width
        row = self.rows[index]
        test = self.tests[row.nodeid]
        if row.step is None:
            text = test_row(test, room, self.prefix)
        else:
            message = next((s.message for s in test.steps if s.index == row.step), "")
            text = step_row(message, room)
        text.stylize_before(base)
        if index == self.cursor and self.has_focus:  # one cursor on screen, not one per pane
            text.stylize(self.get_component_rich_style("test-list--block_cursor"))
        text.stylize(Style(meta={"row": index}))
        strip = Strip(list(text.render(self.app.console))).extend_cell_length(room, base)
        strip = strip.crop(0, room)
        if bar:
            strip = Strip.join([strip, Strip([self._bar_segment(y)])])
        return strip

    def _bar_segment(self, y: int) -> Segment:
        """One cell of the scroll bar: the thumb where the window is, a thin track elsewhere."""
        total, height = len(self.rows), self._height
        thumb = max(1, round(height * height / total))
        start = round((height - thumb) * self.top / max(1, total - height))
        style = self.get_component_rich_style("test-list--scrollbar")
        return Segment("┃" if start <= y < start + thumb else "│", style)

    # -- keys and mouse ----------------------------------------------------------

    def action_cursor(self, step: int) -> None:
        self._move(self.cursor + step)

    def action_page(self, direction: int) -> None:
        self._move(self.cursor + direction * max(1, self._height - 1))

    def action_edge(self, end: int) -> None:
        self._move(len(self.rows) - 1 if end else 0)

    def action_choose(self) -> None:
        nodeid = self.highlighted
        if nodeid is not None:
            self.post_message(self.Chosen(nodeid))

    def action_fold(self) -> None:
        nodeid = self.highlighted
        test = self.tests.get(nodeid) if nodeid is not None else None
        if test is None or not test.steps:
            return
        self._folded[test.nodeid] = self.expanded(test)
        self._cursor_key = Row(test.nodeid)
        self.show(list(self.tests.values()), {n: i for i, n in enumerate(self.tests)})

    def on_click(self, event: events.Click) -> None:
        row = event.style.meta.get("row")
        if not isinstance(row, int):
            return
        again = row == self.cursor and event.chain >= 2
        self._move(row)
        if again:
            self.action_choose()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        """Hovering a test shows its full node id: lines here leave out the shared parts."""
        row = event.style.meta.get("row")
        nodeid = self.rows[row].nodeid if isinstance(row, int) and row < len(self.rows) else None
        if nodeid != self._hovered:
            self._hovered = nodeid
            self.tooltip = nodeid

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._scroll(3, event)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._scroll(-3, event)

    def _scroll(self, lines: int, event: events.MouseEvent) -> None:
        """The wheel moves the window; at its end, the pane area scrolls instead."""
        top = max(0, min(self.top + lines, len(self.rows) - self._height))
        if top != self.top:
            event.stop()
            self.top = top
            self.cursor = max(self.top, min(self.cursor, self.top + self._height - 1))
            self._cursor_key = self.rows[self.cursor] if self.rows else None
            self.refresh()
