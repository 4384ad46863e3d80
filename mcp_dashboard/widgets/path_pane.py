"""One group of tests (a critical path, or a module without one): a pane, or a folded line.

The pane keeps its member tests; the grid hands it those that changed. Its title
counts what it shows: with a filter on, the tests that match. Folded (compact
mode), a group is one line, like a collapsed branch of a tree; Enter opens it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget

from mcp_dashboard.filtering import TestFilter
from mcp_dashboard.state import Counts, PathStats, TestState
from mcp_dashboard.status import TestStatus
from mcp_dashboard.widgets.labels import ICONS, counts_text, duration, fit_group
from mcp_dashboard.widgets.test_list import MAX_LINES, TestList


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """What a group's title says: its name, counts of the tests shown, and their time."""

    name: str
    counts: Counts
    duration: float
    total: int  # tests in the group, shown or not
    filtered: bool  # a filter is on: counts are of the matching tests
    status: TestStatus  # the icon: failed, running, passed or pending

    def text(self, width: int, *, folded: bool = False) -> Text:
        """`✗ name  57/58  ✗1 ✓56  0.52s`. The name is what tells panes apart, so when the
        line is too narrow the rest gives way first: the time, then `of 58 shown` shortens,
        then the progress; the name is shortened only when even its counts leave no room.
        `folded` (one line in compact mode): no time, and no `58/58` once all have run."""
        icon, style = ICONS[self.status]
        shown = self.counts.total
        progress = ""
        short = ""
        if self.filtered:
            progress = f"  {shown} of {self.total} shown"
            short = f"  {shown} of {self.total}"
        elif not folded or self.counts.done < shown:
            progress = short = f"  {self.counts.done}/{shown}"
        counts = counts_text(self.counts)
        time = f"  {duration(self.duration)}" if self.duration and not folded else ""
        choices = [(progress, time), (progress, ""), (short, ""), ("", "")]
        rests = [_rest(p, counts, t) for p, t in choices]
        rest = next((r for r in rests if len(self.name) + 2 + r.cell_len <= width), rests[-1])
        name_width = max(4, width - 2 - rest.cell_len)
        title = Text.assemble((icon, style), " ", (fit_group(self.name, name_width), style))
        title.append_text(rest)
        title.truncate(width)
        return title


def _rest(progress: str, counts: Text, time: str) -> Text:
    """What follows a title's name: progress (bold), counts, time (dim)."""
    rest = Text()
    rest.append(progress, style="bold")
    if counts:
        rest.append("  ").append_text(counts)
    if time:
        rest.append(time, style="dim")
    return rest


def group_status(counts: Counts, run_active: bool) -> TestStatus:
    if counts.failed or counts.error:
        return TestStatus.FAILED
    if counts.interrupted:
        return TestStatus.INTERRUPTED
    if counts.running or (run_active and counts.pending):
        return TestStatus.RUNNING
    if counts.total and counts.done == counts.total:
        return TestStatus.PASSED
    return TestStatus.PENDING


class PaneTitle(Widget):
    """The title line, fitted to the pane's width whenever it is drawn."""

    DEFAULT_CSS = "PaneTitle { height: 1; }"

    def __init__(self, summary: GroupSummary) -> None:
        super().__init__(classes="pane-title")
        self.summary = summary

    def show(self, summary: GroupSummary) -> None:
        if summary != self.summary:
            self.summary = summary
            self.refresh()

    def render(self) -> Text:
        return self.summary.text(self.size.width)


class GroupLine(PaneTitle, can_focus=True):
    """A folded group in compact mode: its title alone. Enter opens it as a pane."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open group", show=False, tooltip="open a folded group as a pane"),
    ]

    @dataclass
    class Opened(Message):
        path: str

    def __init__(self, path: str, summary: GroupSummary) -> None:
        super().__init__(summary)
        self.path = path
        self.set_classes("group-line")

    def render(self) -> Text:
        return self.summary.text(self.content_region.width, folded=True)

    def action_open(self) -> None:
        self.post_message(self.Opened(self.path))

    def on_click(self) -> None:
        self.action_open()


class PathPane(Vertical):
    """A group's pane: its title and its tests. `put`/`discard` members, then `update`."""

    def __init__(self, path: str) -> None:
        super().__init__(classes="path-pane")
        self.path = path
        self.members: dict[str, TestState] = {}
        self.shown: list[TestState] = []
        self.summary = GroupSummary(path, Counts(), 0.0, 0, False, TestStatus.PENDING)
        self.title_widget = PaneTitle(self.summary)
        self.tests = TestList()
        self.height_wanted = 4  # lines when open: border, title, its list up to its cap
        self._stale = True  # members (or the filter) changed since `update`
        self._list_stale = True  # ... since the list was drawn

    def compose(self) -> ComposeResult:
        yield self.title_widget
        yield self.tests

    def put(self, test: TestState) -> None:
        self.members[test.nodeid] = test
        self._stale = True

    def discard(self, nodeid: str) -> None:
        if self.members.pop(nodeid, None) is not None:
            self._stale = True

    def invalidate(self) -> None:
        """The filter changed: recount and redraw even if no member did."""
        self._stale = True

    @property
    def stale(self) -> bool:
        return self._stale

    @property
    def list_stale(self) -> bool:
        """The list on screen is older than the members (`draw_tests` has not run since)."""
        return self._list_stale

    def update(
        self, test_filter: TestFilter, run_active: bool, stats: PathStats, folder: str = ""
    ) -> GroupSummary:
        """Recount and restyle; returns what the title says. Without a filter the counts are
        the reducer's own (`stats`, kept up to date per event); with one, those of the tests
        that match."""
        if self._stale:
            self._stale = False
            self._list_stale = True
            if test_filter.active:
                self.shown = [t for t in self.members.values() if test_filter.shows(t)]
            else:
                self.shown = list(self.members.values())
            self.height_wanted = 3 + min(max(self._rows(), 1), MAX_LINES)
        if test_filter.active:
            counts = Counts(**Counter(t.status.value for t in self.shown))
            total = sum(t.duration for t in self.shown)
        else:
            counts, total = stats.counts, stats.duration
        status = group_status(counts, run_active)
        name = self.path.removeprefix(folder)  # `tests/` when every module is in it
        summary = GroupSummary(name, counts, total, len(self.members), test_filter.active, status)
        restyle = summary.status != self.summary.status
        self.summary = summary
        if restyle:
            self._border()
        self.title_widget.show(summary)
        return summary

    def _border(self) -> None:
        """The border says the group's status, and doubles while the focus is inside. Set
        inline: a CSS class per status restyled the pane's whole subtree on every change,
        which cost a 30-pane run most of each frame."""
        colours = self.app.theme_variables
        colour = colours.get(_BORDER_COLOURS[self.summary.status], "grey50")
        self.styles.border = ("double" if self.has_focus_within else "round", colour)

    def on_descendant_focus(self) -> None:
        self._border()

    def on_descendant_blur(self) -> None:
        self._border()

    def on_mount(self) -> None:
        self._border()

    def _rows(self) -> int:
        """Lines of the list, counted only as far as its cap."""
        rows = 0
        for test in self.shown:
            rows += 1 + (len(test.steps) if self.tests.expanded(test) else 0)
            if rows >= MAX_LINES:
                break
        return rows

    def draw_tests(self, positions: dict[str, int]) -> None:
        """Redraw the list if its tests changed since it was last drawn."""
        if self._list_stale:
            self._list_stale = False
            self.tests.show(self.shown, positions)


# Theme colours of a group's border, by its status.
_BORDER_COLOURS = {
    TestStatus.FAILED: "error",
    TestStatus.INTERRUPTED: "accent",
    TestStatus.RUNNING: "warning",
    TestStatus.PASSED: "success",
    TestStatus.PENDING: "secondary",
}
