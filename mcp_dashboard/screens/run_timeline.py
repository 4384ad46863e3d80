"""`t`: the run on a time axis, a row per xdist worker, each test a bar in its status's
colour with its tool calls marked inside; scroll, zoom, and pick a test to read about it.

The layout is `mcp_dashboard.timeline` (pure); this module only draws it and keeps the
view (zoom, first column, selection). The app hands it each new state with `show`, so
the bars grow while the run goes. Until a key zooms or scrolls, every test fits the
width; after that, a view scrolled to its right end keeps following the run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from mcp_dashboard.state import RunState, TestState
from mcp_dashboard.status import TestStatus
from mcp_dashboard.timeline import (
    BAR,
    BAR_START,
    CALL,
    FAILED_CALL,
    SELECTED,
    ZOOM_STEPS,
    Cell,
    TestSpan,
    Timeline,
    ToolCall,
    across,
    build,
    clamp_offset,
    failed,
    fit_tests,
    frame,
    max_offset,
    neighbour,
    offset_showing,
    tick_label,
    zoomed_offset,
)
from mcp_dashboard.widgets.labels import ICONS, duration, fit, fit_name, plural

Calls = Mapping[str, Sequence[ToolCall]]  # trace id -> the tool calls made in it
HINT = "[/] previous/next test · ↑/↓ worker · ←/→ scroll · +/- zoom · 0 fit · esc back"
REBUILD_SECONDS = 0.25
MIN_LABEL = 5  # the lane labels' column: "main " at least
MAX_CALL_LINES = 200  # the selected test's calls listed under the lanes (the rest: a count)


KEY_NAMES = {
    "]": "right_square_bracket",
    "[": "left_square_bracket",
    "↓": "down",
    "↑": "up",
    "→": "right",
    "←": "left",
}


def both_ways(action: str, description: str, keys: tuple[str, str], tooltip: str) -> list[Binding]:
    """`action(1)` on the first key (in the footer), `action(-1)` on the second; one tooltip,
    so the help lists them on one line."""
    return [
        Binding(
            KEY_NAMES[key],
            f"{action}({way})",
            description,
            key_display=key,
            show=way == 1,
            tooltip=tooltip,
        )
        for key, way in zip(keys, (1, -1), strict=True)
    ]


class TimelineView(Widget):
    """The lanes under a time axis. Owns the view: zoom step, first column, selection."""

    DEFAULT_CSS = "TimelineView { height: auto; max-height: 60%; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.timeline = build(RunState(), {}, 0.0)
        self.step = 0
        self.first = 0
        self.fitting = True  # every test fits the width, until a key zooms or scrolls
        self.following = False  # scrolled to the right end: stays there as the run grows
        self.selected: str | None = None
        self.top = 0  # the first lane shown, when there are more lanes than lines

    # -- geometry ----------------------------------------------------------------

    @property
    def label_width(self) -> int:
        return max([MIN_LABEL - 1, *(len(lane.worker) for lane in self.timeline.lanes)]) + 1

    @property
    def time_width(self) -> int:
        return max(1, self.size.width - self.label_width)

    @property
    def lane_lines(self) -> int:
        return max(1, self.size.height - 2)  # under the labels and the tick rule

    # -- changes ---------------------------------------------------------------

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 2 + max(1, len(self.timeline.lanes))

    def set_timeline(self, timeline: Timeline) -> None:
        grew = len(timeline.lanes) != len(self.timeline.lanes)
        self.timeline = timeline
        if grew:
            self.refresh(layout=True)
        if self.selected is not None and timeline.span(self.selected) is None:
            self.selected = None
        self._settle()

    def fit(self) -> None:
        self.fitting = True
        self._settle()

    def zoom(self, delta: int) -> None:
        """`delta` steps finer (negative) or coarser, keeping the selected test's start (or
        the middle of the view) in its place on screen."""
        new = min(max(0, self.step + delta), len(ZOOM_STEPS) - 1)
        span = self.timeline.span(self.selected) if self.selected else None
        anchor = self.time_width // 2
        if span is not None:
            here = span.start // ZOOM_STEPS[self.step] - self.first
            anchor = here if 0 <= here < self.time_width else anchor
        self.first = zoomed_offset(self.first, self.step, new, anchor)
        self.step, self.fitting = new, False
        self._settle(keep_selected=True)

    def pan(self, columns: int) -> None:
        self.fitting = False
        self.first += columns
        self.following = self.first >= max_offset(self.timeline, self.step, self.time_width)
        self._settle()

    def pan_to_end(self, end: bool) -> None:
        self.fitting = False
        self.first = max_offset(self.timeline, self.step, self.time_width) if end else 0
        self.following = end
        self._settle()

    def select(self, nodeid: str | None) -> None:
        self.selected = nodeid
        self._settle(keep_selected=True)

    def _settle(self, *, keep_selected: bool = False) -> None:
        """Zoom and offset valid for the timeline and the width; the selection on screen."""
        width = self.time_width
        if self.fitting:
            self.step, self.first = fit_tests(self.timeline, width)
        elif self.following:
            self.first = max_offset(self.timeline, self.step, width)
        span = self.timeline.span(self.selected) if self.selected else None
        if span is not None and keep_selected:
            self.first = offset_showing(span, self.step, width, self.first)
        self.first = clamp_offset(self.timeline, self.step, width, self.first)
        if span is not None:
            lane = self.timeline.where[span.nodeid][0]
            self.top = min(max(self.top, lane - self.lane_lines + 1), lane)
        self.top = min(self.top, max(0, len(self.timeline.lanes) - self.lane_lines))
        self.refresh()

    def on_resize(self) -> None:
        self._settle(keep_selected=True)

    # -- drawing ---------------------------------------------------------------

    def render(self) -> Text:
        if not self.timeline.lanes:
            return Text("No test has started yet.", style="dim")
        width, label = self.time_width, self.label_width
        shown = frame(self.timeline, self.step, self.first, width, self.selected)
        chosen = self.timeline.where.get(self.selected) if self.selected else None
        lines = [
            Text(" " * label + shown.labels, style="dim"),
            Text(" " * label + shown.rule, style="dim"),
        ]
        end = self.top + self.lane_lines
        for index, (lane, row) in enumerate(zip(self.timeline.lanes, shown.rows, strict=True)):
            if not self.top <= index < end:
                continue
            here = chosen is not None and chosen[0] == index
            line = Text()  # the label's style is its own, not the line's
            line.append(f"{lane.worker:<{label - 1}}", style="bold reverse" if here else "bold")
            line.append(" ")
            for cell in row:
                if cell is None:
                    line.append(" ")
                else:
                    line.append(cell.glyph, _style(cell))
            lines.append(line)
        return Text("\n", no_wrap=True, overflow="crop").join(lines)


def _style(cell: Cell) -> str:
    colour = ICONS[cell.status][1]
    if cell.call:
        return f"{colour} reverse"  # the mark in the background's colour, on the bar
    return f"{colour} bold" if cell.selected else colour


class RunTimelineScreen(Screen[None]):
    AUTO_FOCUS = None  # the keys are the screen's own: nothing here takes the focus

    DEFAULT_CSS = """
    RunTimelineScreen #timeline-title { height: 1; padding: 0 1; background: $panel; }
    RunTimelineScreen TimelineView { padding: 1 1 0 1; }
    RunTimelineScreen #timeline-legend { height: 1; padding: 0 1; margin-top: 1; }
    RunTimelineScreen #timeline-now { height: 1; padding: 0 1; background: $panel; }
    RunTimelineScreen #timeline-calls { height: 1fr; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", tooltip="back to the panes"),
        *both_ways("step_test", "Next test", ("]", "["), "next/previous test on the worker"),
        *both_ways("step_lane", "Worker", ("↓", "↑"), "worker below/above"),
        *both_ways("pan", "Scroll", ("→", "←"), "scroll right/left"),
        Binding("home", "pan_to_end(False)", "Start", show=False, tooltip="the run's start/end"),
        Binding("end", "pan_to_end(True)", "End", show=False, tooltip="the run's start/end"),
        Binding("plus,equals_sign", "zoom(-1)", "Zoom in", key_display="+", tooltip="zoom in/out"),
        Binding("minus", "zoom(1)", "Zoom out", key_display="-", tooltip="zoom in/out"),
        Binding("0", "fit", "Fit", tooltip="fit every test in the width"),
        Binding("enter", "open", "Open", tooltip="the selected test's detail"),
    ]

    @dataclass
    class Chosen(Message):
        """Open this test's detail screen."""

        nodeid: str

    def __init__(self, state: RunState, calls: Calls, now: float | None = None) -> None:
        super().__init__()
        self.state = state
        self.calls = calls
        self.now = time.time() if now is None else now
        self._built: float | None = None  # the `now` of the last layout
        self._composed = False

    def compose(self) -> ComposeResult:
        yield Static(id="timeline-title")
        yield TimelineView(id="timeline")
        yield Static(legend(), id="timeline-legend")
        yield Static(id="timeline-now")
        yield Static(id="timeline-calls")
        yield Footer(compact=True, show_command_palette=False)

    @property
    def view(self) -> TimelineView:
        return self.query_one(TimelineView)

    def on_mount(self) -> None:
        self._composed = True
        self.show(self.state, self.calls, self.now)

    def show(self, state: RunState, calls: Calls, now: float | None = None) -> None:
        """Draw `state` and the calls per trace id. While the run goes, at most every
        REBUILD_SECONDS (of `now`): the app calls this every frame, and a run's bars move
        by a column a second or slower at the zooms that show more than a few seconds."""
        now = time.time() if now is None else now
        if not self._composed:  # pushed, not drawn yet: `on_mount` draws what is given here
            self.state, self.calls, self.now = state, calls, now
            return
        same = state is self.state and calls is self.calls
        if self._built is not None and (
            (same and not state.active) or (state.active and now - self._built < REBUILD_SECONDS)
        ):
            return
        self.state, self.calls, self.now, self._built = state, calls, now, now
        view = self.view
        view.set_timeline(build(state, calls, now, view.timeline))
        self._describe()

    def _describe(self) -> None:
        """The title (zoom, tests, workers) and the selected test's line."""
        view, timeline = self.view, self.view.timeline
        tests = sum(len(lane.tests) for lane in timeline.lanes)
        workers = [lane.worker for lane in timeline.lanes]
        title = Text.assemble(
            ("Run timeline", "bold"),
            f"  {tick_label(ZOOM_STEPS[view.step])} per column",
            f" · {plural(tests, 'test')} on {plural(len(workers), 'lane')}",
        )
        if len(workers) > view.lane_lines:
            last = min(len(workers), view.top + view.lane_lines)
            title.append(f" · lanes {view.top + 1}-{last} shown (↑/↓)", style="dim")
        if view.following and self.state.active:
            title.append(" · following the run", style="bold yellow")
        self.query_one("#timeline-title", Static).update(title)
        test = self.state.tests.get(view.selected) if view.selected else None
        width = max(1, self.size.width - 2)
        line = selection_line(test, timeline, width) if test else Text(fit(HINT, width), "dim")
        self.query_one("#timeline-now", Static).update(line)
        span = timeline.span(test.nodeid) if test else None
        listed = call_lines(span, width) if span else Text()
        self.query_one("#timeline-calls", Static).update(listed)

    # -- keys ------------------------------------------------------------------

    def action_step_test(self, delta: int) -> None:
        self._select(neighbour(self.view.timeline, self.view.selected, delta))

    def action_step_lane(self, delta: int) -> None:
        self._select(across(self.view.timeline, self.view.selected, delta))

    def _select(self, nodeid: str | None) -> None:
        self.view.select(nodeid)
        self._describe()

    def action_pan(self, direction: int) -> None:
        self.view.pan(direction * max(1, self.view.time_width // 4))
        self._describe()

    def action_pan_to_end(self, end: bool) -> None:
        self.view.pan_to_end(end)
        self._describe()

    def action_zoom(self, delta: int) -> None:
        self.view.zoom(delta)
        self._describe()

    def action_fit(self) -> None:
        self.view.fit()
        self._describe()

    def action_open(self) -> None:
        if self.view.selected is not None:
            self.post_message(self.Chosen(self.view.selected))

    def on_resize(self) -> None:
        self.call_after_refresh(self._describe)


def selection_line(test: TestState, timeline: Timeline, width: int) -> Text:
    """`✗ tests/x.py::test_a  1.23s on gw1 · 3 calls, 1 failed` (the calls are listed below);
    a name too long for the width loses its middle, the facts after it stay."""
    span = timeline.span(test.nodeid)
    icon, style = ICONS[test.status]
    took = test.duration if test.finished or span is None else (span.end - span.start) / 1e6
    facts = Text(f"  {duration(took)}")
    place = timeline.where.get(test.nodeid)
    if place is not None:
        facts.append(f" on {timeline.lanes[place[0]].worker}", style="dim")
    calls = span.calls if span is not None else ()
    facts.append(f" · {plural(len(calls), 'call')}")
    failures = sum(failed(call) for call in calls)
    if failures:
        facts.append(f", {failures} failed", style="bold red")
    name = fit_name(test.nodeid, max(12, width - 2 - facts.cell_len))
    line = Text.assemble((icon, style), " ", (name, "bold"), facts)
    line.truncate(width, overflow="ellipsis")
    return line


def legend() -> Text:
    passed, failed = ICONS[TestStatus.PASSED][1], ICONS[TestStatus.FAILED][1]
    return Text.assemble(
        (BAR_START + BAR * 2, passed),
        (BAR_START + BAR * 2, failed),
        (" tests by status · ", "dim"),
        (CALL, f"{passed} reverse"),
        (" tool call · ", "dim"),
        (FAILED_CALL, f"{failed} reverse"),
        (" failed call · ", "dim"),
        (SELECTED * 2, f"{passed} bold"),
        (" selected", "dim"),
    )


def call_lines(span: TestSpan, width: int) -> Text:
    """The selected test's calls, one a line: offset from its start, duration, tool, status."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, (call, at) in enumerate(zip(span.calls, span.call_starts, strict=True)):
        if index == MAX_CALL_LINES:
            text.append(f"\n… {plural(len(span.calls) - index, 'more call')}", style="dim")
            break
        if index:
            text.append("\n")
        offset = f"+{duration(max(0, at - span.start) / 1e6)}"
        text.append(f"  {offset:>7} {duration(call.duration_ms / 1000):>6}  ", style="dim")
        text.append(fit(call.tool, max(1, width - 40)))
        text.append(f"  {call.status}", style="bold red" if failed(call) else "green")
    return text
