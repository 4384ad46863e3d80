"""The panes: one per group, in columns chosen from the width, failing groups first.

The grid owns all the bookkeeping of drawing a `RunState`: which pane each test
is in, the collection order, which panes exist, their order, and whether they
fit. Each frame it is told which tests changed and touches only their panes.

When the groups do not fit (more of them than the height holds), the grid goes
compact: the groups with a failure (or a test the run died in) stay open as panes;
every other group folds to one line below them, in columns, like a collapsed tree
(a running group's line says so; the line under the panes names its running tests).
Groups do not open while they run: each open or fold is a layout of the screen, and
a run through 30 modules would pay two per module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import ItemGrid, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from mcp_dashboard.filtering import TestFilter
from mcp_dashboard.state import RunState, TestState
from mcp_dashboard.status import TestStatus
from mcp_dashboard.widgets.path_pane import GroupLine, GroupSummary, PathPane
from mcp_dashboard.widgets.test_list import MAX_LINES

# While a run streams, a pane is redrawn every LIST_EVERY frames, in turns (the header and
# the running line every frame): nobody reads 30 panes faster, and repainting them all on
# every frame overran the frame budget.
LIST_EVERY = 4
MIN_PANE_WIDTH = 38  # a pane is at least this wide: columns = width // this
MIN_LINE_WIDTH = 34  # the same for folded one-line groups
GUTTER = 1


def columns_for(width: int, minimum: int = MIN_PANE_WIDTH, count: int | None = None) -> int:
    """How many columns of at least `minimum` cells fit in `width` (as ItemGrid decides)."""
    columns = max(1, (width + GUTTER) // (minimum + GUTTER))
    return columns if count is None else max(1, min(columns, count))


def stacked_height(heights: list[int], columns: int) -> int:
    """Lines a grid of these heights takes, row by row, each row as tall as its tallest."""
    return sum(max(heights[i : i + columns]) for i in range(0, len(heights), columns))


def folded_height(width: int, count: int) -> int:
    """Lines `count` folded groups take below the panes: their columns and a blank line."""
    return 1 + -(-count // columns_for(width, MIN_LINE_WIDTH, count)) if count else 0


def common_folder(groups: list[str]) -> str:
    """`tests/` when every group is a module in that folder: titles leave it out."""
    if len(groups) < 2 or not all("/" in g for g in groups):
        return ""
    first = groups[0].split("/")[:-1]
    shared = 0
    while shared < len(first) and all(g.split("/")[shared] == first[shared] for g in groups):
        shared += 1
    return "".join(f"{part}/" for part in first[:shared])


def changed_tests(before: RunState, after: RunState) -> list[str]:
    """Node ids whose test state differs (the state is immutable: identity says it all)."""
    if before.tests is after.tests:
        return []
    old = before.tests
    return [nodeid for nodeid, test in after.tests.items() if old.get(nodeid) is not test]


_OPEN_WHEN_COMPACT = (TestStatus.FAILED, TestStatus.INTERRUPTED)


@dataclass(frozen=True, slots=True)
class Layout:
    open: tuple[str, ...]  # groups drawn as panes, in order
    folded: tuple[str, ...]  # groups drawn as one line each, in order
    compact: bool


def plan(
    groups: list[str],
    summaries: dict[str, GroupSummary],
    heights: dict[str, int],
    size: tuple[int, int],
    pinned: Iterable[str] = (),
    *,
    fill: bool = False,
) -> Layout:
    """Order the groups (failing first, then collection order) and fold what does not fit.

    With `fill` (a filter is on and the run is over: the user is looking for tests), the
    next groups in order open too while they fit above the folded lines."""
    failing = [g for g in groups if summaries[g].status == TestStatus.FAILED]
    ordered = failing + [g for g in groups if g not in set(failing)]
    width, height = size
    columns = columns_for(width, count=len(ordered))
    natural = stacked_height([heights[g] for g in ordered], columns)
    if natural <= height or not ordered:
        return Layout(tuple(ordered), (), False)
    keep = set(pinned)
    open_ = [g for g in ordered if g in keep or summaries[g].status in _OPEN_WHEN_COMPACT]
    if fill:
        for group in [g for g in ordered if g not in set(open_)]:
            trial = [*open_, group]
            lines = folded_height(width, len(ordered) - len(trial))
            opened = stacked_height(
                [heights[g] for g in trial], columns_for(width, count=len(trial))
            )
            if opened + lines > height:
                break
            open_ = trial
    shut = set(open_)
    return Layout(tuple(open_), tuple(g for g in groups if g not in shut), True)


class PaneGrid(VerticalScroll, can_focus=False):
    """Scrolls when the panes are taller than the screen; each pane scrolls its own list."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.open_area = ItemGrid(
            id="open-panes", min_column_width=MIN_PANE_WIDTH, stretch_height=True
        )
        self.folded_area = ItemGrid(
            id="folded-groups", min_column_width=MIN_LINE_WIDTH, stretch_height=False
        )
        self.nothing_shown = Static("", id="nothing-shown")
        self.nothing_shown.display = False
        self.panes: dict[str, PathPane] = {}
        self.lines: dict[str, GroupLine] = {}
        self.layout_now = Layout((), (), False)
        self.test_filter = TestFilter()
        self._group_of: dict[str, str] = {}
        self._order: tuple[str, ...] | None = None
        self._positions: dict[str, int] = {}
        self._pinned: set[str] = set()
        self._run_active = False
        self._shown_state = RunState()
        self._frame = 0
        self._folder = ""
        self._every_pane = False  # the next frame redraws every pane, turn or not

    def compose(self) -> ComposeResult:
        yield self.nothing_shown
        yield self.open_area
        yield self.folded_area

    @property
    def shown_state(self) -> RunState:
        """The state the panes show now."""
        return self._shown_state

    # -- the state, each frame -------------------------------------------------

    def reset(self) -> None:
        """A new run: forget every test (the panes stay until the new run's groups are known)."""
        for pane in self.panes.values():
            pane.members.clear()
            pane.invalidate()
        self._group_of.clear()
        self._shown_state = RunState()

    def set_filter(self, test_filter: TestFilter) -> None:
        """A key the user pressed: the next frame shows its effect in every pane, even
        while a run streams (when panes otherwise wait for their turn)."""
        if test_filter != self.test_filter:
            self.test_filter = test_filter
            self._every_pane = True
            for pane in self.panes.values():
                pane.invalidate()

    @property
    def behind(self) -> bool:
        """Some pane does not show its tests yet (it waits for its turn): the app must draw
        another frame even if no event arrives (a test that runs for minutes)."""
        return any(
            pane.stale or (pane.list_stale and path in self.layout_now.open)
            for path, pane in self.panes.items()
        )

    def show(self, state: RunState, changed: Iterable[str] | None = None) -> None:
        """Bring the panes up to date with `state`, where only the `changed` tests differ
        from the state shown last (None: find them, comparing the two states)."""
        if changed is None:
            changed = changed_tests(self._shown_state, state)
            for nodeid in [n for n in self._shown_state.tests if n not in state.tests]:
                self._forget(nodeid)
        self._shown_state = state
        self._update_positions(state)
        for nodeid in changed:
            test = state.tests.get(nodeid)
            if test is not None:
                self._place(test)
        wanted = [p for p in state.path_order if state.paths[p].counts.total]
        self._sync_widgets(wanted)
        active = state.active
        self._frame += 1
        folder = common_folder(wanted)
        if folder != self._folder:  # every title changes
            self._folder = folder
            for pane in self.panes.values():
                pane.invalidate()
        summaries = {}
        for index, path in enumerate(wanted):
            pane = self.panes[path]
            fresh = not pane.summary.total  # never counted: count it now
            if (pane.stale and (fresh or self._turn(index))) or active != self._run_active:
                summaries[path] = pane.update(self.test_filter, active, state.paths[path], folder)
            else:
                summaries[path] = pane.summary
        self._run_active = active
        shown = [p for p in wanted if summaries[p].counts.total or not self.test_filter.active]
        heights = {p: self.panes[p].height_wanted for p in shown}
        fill = self.test_filter.active and not active
        layout = plan(shown, summaries, heights, self._area(), self._pinned, fill=fill)
        self._apply(layout, summaries)
        self._grow(layout, active)
        nothing = self.test_filter.active and not shown and bool(wanted)
        if nothing:
            self.nothing_shown.update(f"No test matches: {self.test_filter.describe()}.")
        _show(self.nothing_shown, nothing)
        self._every_pane = False

    def _turn(self, index: int) -> bool:
        """While a run streams, the pane at `index` is redrawn every LIST_EVERY frames (its
        turn); otherwise every frame."""
        if self._every_pane or not self._run_active:
            return True
        return (self._frame + index) % LIST_EVERY == 0

    def _forget(self, nodeid: str) -> None:
        path = self._group_of.pop(nodeid, None)
        if path is not None and path in self.panes:
            self.panes[path].discard(nodeid)

    def _place(self, test: TestState) -> None:
        before = self._group_of.get(test.nodeid)
        if before is not None and before != test.critical_path and before in self.panes:
            self.panes[before].discard(test.nodeid)
        self._group_of[test.nodeid] = test.critical_path
        pane = self.panes.get(test.critical_path)
        if pane is None:
            pane = self.panes[test.critical_path] = PathPane(test.critical_path)
        pane.put(test)

    def _update_positions(self, state: RunState) -> None:
        """Each test's place in collection order (recomputed only when the order changed)."""
        if self._order is not state.order:
            self._order = state.order
            self._positions = {nodeid: i for i, nodeid in enumerate(state.order)}
            for pane in self.panes.values():
                pane.invalidate()

    def _sync_widgets(self, wanted: list[str]) -> None:
        """Drop the panes and lines of groups that left, all in one removal.

        One removal, not one per widget: removed one at a time, Textual handed the focus
        of a removed pane to another pane that was itself being removed (it was still in
        the focus chain), so the app kept its focus on a detached widget, and no key, not
        even ctrl+q, reached a binding again (issue 13.2, "the UI freezes")."""
        keep = set(wanted)
        gone = [p for p in self.panes if p not in keep]
        widgets: list[Widget] = []
        for path in gone:
            pane = self.panes.pop(path)
            line = self.lines.pop(path, None)
            widgets += [w for w in (pane, line) if w is not None and w.parent is not None]
            self._pinned.discard(path)
        if widgets:
            self.remove_children(widgets)

    def _apply(self, layout: Layout, summaries: dict[str, GroupSummary]) -> None:
        for index, path in enumerate(layout.open):
            pane = self.panes[path]
            if pane.parent is None:
                self._mount_at(self.open_area, pane, index)
            _show(pane, True)
            if self._turn(index) or not pane.tests.rows:
                pane.draw_tests(self._positions)
        for path, pane in self.panes.items():
            if path not in layout.open and pane.parent is not None:
                _show(pane, False)
        for index, path in enumerate(layout.folded):
            line = self.lines.get(path)
            if line is None:
                line = self.lines[path] = GroupLine(path, summaries[path])
                self._mount_at(self.folded_area, line, index)
            line.show(summaries[path])
            _show(line, True)
        for path, line in self.lines.items():
            if path not in layout.folded:
                _show(line, False)
        if layout != self.layout_now:
            self._order_children(self.open_area, [self.panes[p] for p in layout.open])
            self._order_children(self.folded_area, [self.lines[p] for p in layout.folded])
        _show(self.folded_area, bool(layout.folded))
        self.layout_now = layout

    def _grow(self, layout: Layout, active: bool) -> None:
        """Once the run is over, open panes that stand in one row take the lines left
        below them: a failing module of 38 tests is not cut at 12 over an empty screen.
        (While a run streams the panes keep their size: each change is a layout.)"""
        room = 0
        width, height = self._area()
        if not active and layout.open and len(layout.open) <= columns_for(width):
            used = max(self.panes[p].height_wanted for p in layout.open)
            room = max(0, height - used - folded_height(width, len(layout.folded)))
        for path in layout.open:
            self.panes[path].tests.set_max_lines(MAX_LINES + room)

    def _mount_at(self, area: Widget, widget: Widget, index: int) -> None:
        children = list(area.children)
        if index < len(children):
            area.mount(widget, before=children[index])
        else:
            area.mount(widget)

    @staticmethod
    def _order_children(area: Widget, order: list[Widget]) -> None:
        present = [w for w in order if w.parent is area]
        current = [w for w in area.children if w in set(present)]
        if current == present:
            return
        for index, widget in enumerate(present):
            if index == 0:
                area.move_child(widget, before=0)
            else:
                area.move_child(widget, after=present[index - 1])

    def _area(self) -> tuple[int, int]:
        size = self.scrollable_content_region.size
        return size.width or self.app.size.width, size.height or self.app.size.height

    def on_resize(self) -> None:
        for pane in self.panes.values():
            pane.invalidate()

    # -- moving around ---------------------------------------------------------

    @on(GroupLine.Opened)
    def _open_group(self, event: GroupLine.Opened) -> None:
        event.stop()
        self.open_group(event.path)
        pane = self.panes.get(event.path)
        if pane is not None:
            pane.tests.focus()

    def open_group(self, path: str) -> None:
        """Show a folded group as a pane, from now on (the user asked for it)."""
        self._pinned.add(path)
        self.show(self._shown_state, ())

    def pane_of(self, nodeid: str) -> PathPane | None:
        path = self._group_of.get(nodeid)
        return None if path is None else self.panes.get(path)

    def failures(self) -> list[str]:
        """Failed and errored tests as the panes show them: pane by pane, top to bottom.

        The app asks after frames while a run streams (where the focus goes): a run
        without a failure answers at once, not by a walk over every test shown."""
        counts = self._shown_state.counts
        if not counts.failed and not counts.error:
            return []
        found = []
        for path in self.layout_now.open + self.layout_now.folded:
            pane = self.panes[path]
            ordered = sorted(
                (t for t in pane.shown if t.failed),
                key=lambda t: self._positions.get(t.nodeid, 0),
            )
            found += [t.nodeid for t in ordered]
        return found

    def is_open(self, nodeid: str) -> bool:
        """Whether the test's group is shown as a pane now."""
        pane = self.pane_of(nodeid)
        return pane is not None and pane.path in self.layout_now.open

    def first_test(self) -> str | None:
        for path in self.layout_now.open:
            pane = self.panes[path]
            if pane.tests.rows:
                return pane.tests.rows[0].nodeid
        return None

    def reveal(self, nodeid: str, *, unfold: bool = True, focus: bool = True) -> bool:
        """Put the cursor on the test, focus (unless not `focus`) and scroll to it; open its
        group if it is folded (unless not `unfold`: the focus moving by itself never
        unfolds a group)."""
        pane = self.pane_of(nodeid)
        if pane is None or not self.test_filter.shows(pane.members[nodeid]):
            return False
        if pane.path not in self.layout_now.open:
            if not unfold:
                return False
            self.open_group(pane.path)
        pane.tests.select(nodeid)
        if focus:
            pane.tests.focus()
        self.call_after_refresh(self.scroll_to_widget, pane, animate=False)
        return True


def _show(widget: Widget, shown: bool) -> None:
    """Set `display` only when it changes: each set restyles the widget."""
    if widget.display != shown:
        widget.display = shown
