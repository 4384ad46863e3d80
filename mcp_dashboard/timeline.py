"""The run timeline's layout: tests per xdist worker over time, their tool calls inside.

Pure and Textual-free, so the layout is tested to the column and any front end can draw it.
`build` turns a `RunState` and the tool calls per trace id into lanes of test spans (time,
no columns); `frame` projects them at a zoom (seconds per column) and a horizontal offset
into rows of cells and a time axis. Times are whole microseconds from the run's start, so
a column is integer arithmetic and never off by one from float rounding.

Cost: `build` is linear in tests + calls, plus one sort of each lane by start (a worker
runs its tests one after another, so the sort is nearly linear), and given the previous
timeline it reuses the spans of the tests that did not change. `frame` touches each
test's visible columns and each call once: the view's width plus one per test in a lane
whose tests do not overlap, plus the calls.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mcp_dashboard.state import RunState, TestState
from mcp_dashboard.status import TestStatus

MAIN_LANE = "main"  # the run without xdist, or a test whose worker is not known
# Seconds per column, as whole microseconds: the zoom steps `+` and `-` move along.
ZOOM_STEPS: tuple[int, ...] = (
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
    300_000_000,
    600_000_000,
)
# Tick intervals (microseconds), the smallest at least MIN_TICK_COLUMNS columns apart wins.
TICK_STEPS: tuple[int, ...] = (
    *ZOOM_STEPS[:12],
    10_000_000,
    15_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
    300_000_000,
    600_000_000,
    1_800_000_000,
    3_600_000_000,
    7_200_000_000,
)
MIN_TICK_COLUMNS = 10
SUCCESS = "success"  # a tool call's status when it did what was asked

BAR_START = "▐"  # the first column of a test: its left half blank, so two tests never merge
BAR = "█"
SELECTED = "▓"
CALL = "●"
FAILED_CALL = "×"
TICK = "┼"
RULE = "─"

# At a zoom where several tests share a column, the worst status shows: a failure is
# never hidden behind the tests that passed around it.
_SEVERITY: dict[TestStatus, int] = {
    TestStatus.PASSED: 0,
    TestStatus.PENDING: 1,
    TestStatus.SKIPPED: 2,
    TestStatus.XFAILED: 3,
    TestStatus.RUNNING: 4,
    TestStatus.XPASSED: 5,
    TestStatus.INTERRUPTED: 6,
    TestStatus.ERROR: 7,
    TestStatus.FAILED: 8,
}


class ToolCall(Protocol):
    """One tool call a test made (a `tool_executions` row carrying the test's trace id):
    what the timeline needs of it. `db_views.traces.TraceCall` is one, as it is read."""

    @property
    def started(self) -> float: ...  # epoch seconds, the clock the test times use

    @property
    def duration_ms(self) -> float: ...

    @property
    def tool(self) -> str: ...

    @property
    def status(self) -> str: ...  # "success", "error", "denied", "timeout", "rate_limited"


@dataclass(frozen=True, slots=True)
class TimelineCall:
    """A `ToolCall` of its own, for a caller that has no row to hand over."""

    started: float
    duration_ms: float
    tool: str
    status: str


def failed(call: ToolCall) -> bool:
    return call.status != SUCCESS


@dataclass(frozen=True, slots=True)
class TestSpan:
    """A test on its lane: when it ran (microseconds from the run's start) and its calls."""

    __test__ = False

    nodeid: str
    status: TestStatus
    start: int
    end: int  # the end so far, for a test still running
    calls: tuple[ToolCall, ...]
    call_starts: tuple[int, ...]  # each call's start, like `start`


@dataclass(frozen=True, slots=True)
class Lane:
    worker: str
    tests: tuple[TestSpan, ...]  # by start


@dataclass(frozen=True, slots=True)
class Timeline:
    origin: float  # epoch seconds at microsecond 0: the run's start
    end: int  # microseconds: the run's end, or now while it runs
    lanes: tuple[Lane, ...]
    where: Mapping[str, tuple[int, int]]  # node id -> (lane, index in the lane)
    # What each span was made from, so the next `build` reuses the spans of the tests that
    # did not change (an unchanged test is the same object in the next state).
    made_from: Mapping[str, tuple[TestState, TestSpan]] = field(default_factory=dict)

    def span(self, nodeid: str) -> TestSpan | None:
        place = self.where.get(nodeid)
        return None if place is None else self.lanes[place[0]].tests[place[1]]

    def columns(self, step: int) -> int:
        """How many columns the whole run takes at zoom `step`."""
        return max(1, -(-self.end // ZOOM_STEPS[step]))


@dataclass(frozen=True, slots=True)
class Cell:
    glyph: str
    status: TestStatus
    nodeid: str  # the test drawn here (the worst one, when several share the column)
    call: bool = False  # a call mark, drawn in the bar's colour as its background
    selected: bool = False


Row = tuple[Cell | None, ...]


@dataclass(frozen=True, slots=True)
class Frame:
    """What the screen draws: a row of `width` cells per lane, the tick rule, the labels."""

    rows: tuple[Row, ...]
    rule: str
    labels: str


def build(
    state: RunState,
    calls: Mapping[str, Sequence[ToolCall]],
    now: float,
    previous: Timeline | None = None,
) -> Timeline:
    """Lanes of the tests that have started, each with the calls made in its trace.

    A test still running ends at `now` (at the run's end, if the run is over). Under
    xdist every worker has a lane from the start, idle or not; a test whose worker is not
    known yet (its first event came from the controller) waits for it, for a moment.
    `previous`: the timeline of an earlier state of this run, whose spans of finished,
    unchanged tests with the same calls are taken as they are."""
    started = [t for t in state.tests.values() if t.started_at is not None]
    origin = min(
        (t.started_at for t in started if t.started_at is not None),
        default=now if state.started_at is None else state.started_at,
    )
    if state.started_at is not None:
        origin = min(origin, state.started_at)
    run_end = state.finished_at if state.finished_at is not None else max(now, origin)
    reuse = previous.made_from if previous is not None and previous.origin == origin else {}
    made_from: dict[str, tuple[TestState, TestSpan]] = {}
    by_worker: dict[str, list[TestSpan]] = {f"gw{i}": [] for i in range(state.workers)}
    for test in started:
        if test.worker is None and state.workers and not test.finished:
            continue
        found = calls.get(test.trace_id, ()) if test.trace_id else ()
        hit = reuse.get(test.nodeid)
        if (
            hit is not None
            and hit[0] is test
            and test.finished_at is not None
            and (hit[1].calls is found or hit[1].calls == tuple(found))
        ):
            span = hit[1]
        else:
            span = _span(test, found, origin, run_end)
        made_from[test.nodeid] = (test, span)
        by_worker.setdefault(test.worker or MAIN_LANE, []).append(span)
    end = _micro(run_end, origin)
    lanes: list[Lane] = []
    where: dict[str, tuple[int, int]] = {}
    for worker in sorted(by_worker, key=_worker_order):
        spans = sorted(by_worker[worker], key=lambda s: (s.start, s.end))
        for index, span in enumerate(spans):
            where[span.nodeid] = (len(lanes), index)
            end = max(end, span.end)
        lanes.append(Lane(worker, tuple(spans)))
    return Timeline(origin=origin, end=end, lanes=tuple(lanes), where=where, made_from=made_from)


def _span(test: TestState, calls: Sequence[ToolCall], origin: float, run_end: float) -> TestSpan:
    assert test.started_at is not None
    start = _micro(test.started_at, origin)
    finished = test.finished_at if test.finished_at is not None else run_end
    return TestSpan(
        nodeid=test.nodeid,
        status=test.status,
        start=start,
        end=max(start, _micro(finished, origin)),
        calls=tuple(calls),
        call_starts=tuple(_micro(c.started, origin) for c in calls),
    )


def _micro(at: float, origin: float) -> int:
    return round((at - origin) * 1_000_000)


def _worker_order(worker: str) -> tuple[int, str, int]:
    """main first, then gw0, gw1 … gw10 in number order (not gw1, gw10, gw2)."""
    if worker == MAIN_LANE:
        return (0, "", 0)
    match = re.fullmatch(r"(\D*)(\d+)", worker)
    if match is None:
        return (2, worker, 0)
    return (1, match.group(1), int(match.group(2)))


# -- zoom and scroll -----------------------------------------------------------


def fit_step(timeline: Timeline, width: int) -> int:
    """The finest zoom at which the whole run fits in `width` columns."""
    for step in range(len(ZOOM_STEPS)):
        if timeline.columns(step) <= width:
            return step
    return len(ZOOM_STEPS) - 1


def fit_tests(timeline: Timeline, width: int) -> tuple[int, int]:
    """(zoom step, offset) of the finest view that shows every test, from the first one's
    start: pytest and xdist take seconds to start, and the tests can take less."""
    first = min((lane.tests[0].start for lane in timeline.lanes if lane.tests), default=None)
    if first is None:
        return fit_step(timeline, width), 0
    last = max(span.end for lane in timeline.lanes for span in lane.tests)
    for step, per in enumerate(ZOOM_STEPS):
        if -(-last // per) - first // per <= width:
            return step, first // per
    return len(ZOOM_STEPS) - 1, first // ZOOM_STEPS[-1]


def max_offset(timeline: Timeline, step: int, width: int) -> int:
    return max(0, timeline.columns(step) - width)


def clamp_offset(timeline: Timeline, step: int, width: int, offset: int) -> int:
    return min(max(0, offset), max_offset(timeline, step, width))


def zoomed_offset(offset: int, old_step: int, new_step: int, anchor: int) -> int:
    """The offset at `new_step` that keeps the time under screen column `anchor` there."""
    time = (offset + anchor) * ZOOM_STEPS[old_step]
    return time // ZOOM_STEPS[new_step] - anchor


def offset_showing(span: TestSpan, step: int, width: int, offset: int) -> int:
    """`offset`, moved as little as needed for the test's start to be on screen."""
    first = span.start // ZOOM_STEPS[step]
    if first < offset:
        return first
    if first >= offset + width:
        return first - width + 1
    return offset


# -- selection -----------------------------------------------------------------


def neighbour(timeline: Timeline, nodeid: str | None, delta: int) -> str | None:
    """The test `delta` places after (before, if negative) `nodeid` on its lane, kept at
    the lane's ends; with none selected, the first test of the first lane that has one."""
    place = timeline.where.get(nodeid) if nodeid is not None else None
    if place is None:
        return next((lane.tests[0].nodeid for lane in timeline.lanes if lane.tests), None)
    tests = timeline.lanes[place[0]].tests
    return tests[min(max(0, place[1] + delta), len(tests) - 1)].nodeid


def across(timeline: Timeline, nodeid: str | None, delta: int) -> str | None:
    """The test on the next lane with tests, `delta` lanes down (up, if negative), that
    ran at the selected test's start, or the one nearest to it."""
    place = timeline.where.get(nodeid) if nodeid is not None else None
    if place is None:
        return neighbour(timeline, None, 1)
    at = timeline.lanes[place[0]].tests[place[1]].start
    lane = place[0] + delta
    while 0 <= lane < len(timeline.lanes):
        tests = timeline.lanes[lane].tests
        if tests:
            return _nearest(tests, at).nodeid
        lane += 1 if delta > 0 else -1
    return nodeid


def _nearest(tests: tuple[TestSpan, ...], at: int) -> TestSpan:
    index = bisect.bisect_right(tests, at, key=lambda s: s.start)
    if index and tests[index - 1].end >= at:
        return tests[index - 1]  # it was running at that moment
    nearby = tests[max(0, index - 1) : index + 1]
    return min(nearby, key=lambda s: min(abs(s.start - at), abs(s.end - at)))


# -- projection ----------------------------------------------------------------


def frame(
    timeline: Timeline, step: int, offset: int, width: int, selected: str | None = None
) -> Frame:
    """The view `width` columns wide whose first column is column `offset` at zoom `step`."""
    per = ZOOM_STEPS[step]
    rows = tuple(_row(lane, per, offset, width, selected) for lane in timeline.lanes)
    rule, labels = axis(per, offset, width)
    return Frame(rows=rows, rule=rule, labels=labels)


def _row(lane: Lane, per: int, offset: int, width: int, selected: str | None) -> Row:
    """One lane's cells. Kept in flat lists and made into cells once, at the end: at a
    coarse zoom thousands of tests and calls fall into a few columns."""
    rank = [-1] * width  # the severity of the worst test in each column
    owner: list[TestSpan | None] = [None] * width
    glyph = [" "] * width
    marked = [False] * width  # a call mark: no bar glyph replaces it
    chosen = [False] * width
    for span in lane.tests:
        first = span.start // per
        last = max(first, -(-span.end // per) - 1)  # the column its end falls in
        if last < offset or first >= offset + width:
            continue
        severity = _SEVERITY[span.status]
        is_selected = span.nodeid == selected
        for index in range(max(first, offset) - offset, min(last - offset, width - 1) + 1):
            if severity > rank[index]:
                rank[index], owner[index] = severity, span
            if is_selected:
                chosen[index] = True
            if not marked[index] and (glyph[index] == " " or index + offset == first):
                glyph[index] = BAR_START if index + offset == first else BAR
        for call, at in zip(span.calls, span.call_starts, strict=True):
            index = min(max(at // per, first), last) - offset  # inside its test's bar
            if 0 <= index < width:
                marked[index] = True
                if failed(call) or glyph[index] != FAILED_CALL:
                    glyph[index] = FAILED_CALL if failed(call) else CALL
    cells: list[Cell | None] = []
    for index, worst in enumerate(owner):
        if worst is None:
            cells.append(None)
            continue
        shown = SELECTED if chosen[index] and not marked[index] else glyph[index]
        cells.append(Cell(shown, worst.status, worst.nodeid, marked[index], chosen[index]))
    return tuple(cells)


def axis(per: int, offset: int, width: int) -> tuple[str, str]:
    """The tick rule and the labels under it: round times at least MIN_TICK_COLUMNS apart;
    a label that would touch the one before it or be cut at the right edge is left out."""
    interval = next((t for t in TICK_STEPS if t >= per * MIN_TICK_COLUMNS), TICK_STEPS[-1])
    rule = [RULE] * width
    labels = [" "] * width
    k = -(-(offset * per) // interval)
    free = 0  # the first column a label may start at
    while (column := (k * interval) // per - offset) < width:
        rule[column] = TICK
        text = tick_label(k * interval)
        if column >= free and column + len(text) <= width:
            labels[column : column + len(text)] = text
            free = column + len(text) + 1
        k += 1
    return "".join(rule), "".join(labels)


def tick_label(micro: int) -> str:
    """0s, 250ms, 1.5s, 12s, 2m, 2m30s: a time from the run's start, as short as it reads."""
    if micro == 0:
        return "0s"
    if micro < 1_000_000:
        return f"{micro / 1000:g}ms"
    seconds = micro / 1_000_000
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"


def plain(row: Row) -> str:
    """A row as the characters it shows (tests read these; a blank is a space)."""
    return "".join(" " if cell is None else cell.glyph for cell in row)
