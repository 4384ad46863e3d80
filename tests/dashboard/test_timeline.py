"""The run timeline (`t`): the pure layout to the column, the screen driven by Pilot, and SVG
snapshots at the smallest and a large terminal.

Runs are built from events (as the plugin writes them), at fixed times, never the clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Static

from mcp_dashboard.db_views.traces import TraceCall
from mcp_dashboard.events import Event
from mcp_dashboard.screens.run_timeline import (
    Calls,
    RunTimelineScreen,
    TimelineView,
    call_lines,
    selection_line,
)
from mcp_dashboard.state import RunState, reduce_all
from mcp_dashboard.status import TestStatus
from mcp_dashboard.timeline import (
    BAR,
    BAR_START,
    CALL,
    FAILED_CALL,
    MAIN_LANE,
    SELECTED,
    TICK,
    ZOOM_STEPS,
    Timeline,
    TimelineCall,
    across,
    axis,
    build,
    fit_step,
    fit_tests,
    frame,
    max_offset,
    neighbour,
    offset_showing,
    plain,
    tick_label,
    zoomed_offset,
)
from tests.dashboard.builders import began, collected, finish, nodeid, report, start, traced
from tests.dashboard.test_snapshots import SnapCompare

T0 = 1_700_000_000.0  # the run's start: an epoch time, as the plugin's clock gives
STEP_200MS = ZOOM_STEPS.index(200_000)
STEP_500MS = ZOOM_STEPS.index(500_000)
STEP_5S = ZOOM_STEPS.index(5_000_000)


def ran(
    name: str, worker: str | None, begin: float, end: float | None, outcome: str = "passed"
) -> list[Event]:
    """A test that started at T0+`begin` on `worker` in trace `trace-<name>` and (unless
    `end` is None: still running) ended at T0+`end` with `outcome`."""
    events: list[Event] = [
        began(name, T0 + begin),
        traced(name, T0 + begin, trace_id=f"trace-{name}", span_id="1", worker=worker),
    ]
    if end is not None:
        phases = (
            ("setup", "passed", 0.0),
            ("call", outcome, end - begin),
            ("teardown", "passed", 0.0),
        )
        for when, category, took in phases:
            events.append(
                replace(report(name, when, category, duration=took, t=T0 + end), worker=worker)
            )
    return events


def call(at: float, tool: str = "corpus_add", status: str = "success") -> TimelineCall:
    return TimelineCall(started=T0 + at, duration_ms=4.0, tool=tool, status=status)


def two_workers(*, done: bool = False) -> RunState:
    """-n 2: gw0 ran a (0-2 s) then b (2-3 s, failed); gw1 ran c (0.2-3.5 s), then d
    started at 3.5 s and is still running (or, `done`, passed at 4 s)."""
    names = ("test_a", "test_b", "test_c", "test_d")
    return reduce_all(
        [
            start(T0, workers=2),
            collected(*((name, "tools") for name in names)),
            *ran("test_a", "gw0", 0.0, 2.0),
            *ran("test_b", "gw0", 2.0, 3.0, "failed"),
            *ran("test_c", "gw1", 0.2, 3.5),
            *ran("test_d", "gw1", 3.5, 4.0 if done else None),
            *([finish(1, t=T0 + 4.0)] if done else []),
        ]
    )


CALLS: dict[str, list[TimelineCall]] = {
    "trace-test_a": [call(0.5), call(1.2, "corpus_search", "error")],
    "trace-test_c": [call(0.3), call(0.4, "session_get"), call(3.4, "session_close")],
}
NOW = T0 + 4.0


def rows(timeline: Timeline, step: int, offset: int, width: int, selected: str = "") -> list[str]:
    shown = frame(timeline, step, offset, width, selected or None)
    return [plain(row) for row in shown.rows]


# -- the layout --------------------------------------------------------------


def test_two_workers_get_a_lane_each_with_their_tests_in_order() -> None:
    timeline = build(two_workers(), CALLS, NOW)
    assert [lane.worker for lane in timeline.lanes] == ["gw0", "gw1"]
    assert [[s.nodeid for s in lane.tests] for lane in timeline.lanes] == [
        [nodeid("test_a"), nodeid("test_b")],
        [nodeid("test_c"), nodeid("test_d")],
    ]
    a, b = timeline.lanes[0].tests
    c, d = timeline.lanes[1].tests
    assert (a.start, a.end, a.status) == (0, 2_000_000, TestStatus.PASSED)
    assert (b.start, b.end, b.status) == (2_000_000, 3_000_000, TestStatus.FAILED)
    assert (c.start, c.end) == (200_000, 3_500_000)
    # Still running: it ends at `now` so far.
    assert (d.start, d.end, d.status) == (3_500_000, 4_000_000, TestStatus.RUNNING)
    assert a.call_starts == (500_000, 1_200_000)
    assert [x.tool for x in c.calls] == ["corpus_add", "session_get", "session_close"]
    assert b.calls == () and d.calls == ()
    assert timeline.end == 4_000_000


def test_a_rebuild_reuses_the_spans_of_unchanged_tests_and_grows_the_running_one() -> None:
    state = two_workers()
    first = build(state, CALLS, NOW)
    again = build(state, CALLS, NOW + 1.0, first)
    assert again.span(nodeid("test_a")) is first.span(nodeid("test_a"))
    grown = again.span(nodeid("test_d"))
    assert grown is not None and grown.end == 5_000_000
    fewer = build(state, {**CALLS, "trace-test_a": [call(0.5)]}, NOW, first)
    changed = fewer.span(nodeid("test_a"))
    assert changed is not None and [c.tool for c in changed.calls] == ["corpus_add"]
    assert fewer.span(nodeid("test_c")) is first.span(nodeid("test_c"))


def test_the_rows_the_database_view_reads_are_drawn_as_they_are() -> None:
    """The app hands over `DatabaseView.trace_calls(...).by_trace` without copying it."""
    row = TraceCall(
        trace_id="trace-test_b",
        execution_id="e1",
        tool="corpus_search",
        status="denied",
        started=T0 + 2.6,
        duration_ms=1.5,
    )
    calls: Calls = {"trace-test_b": (row,)}
    timeline = build(two_workers(), calls, NOW)
    b = timeline.span(nodeid("test_b"))
    assert b is not None and b.calls == (row,) and b.call_starts == (2_600_000,)
    assert rows(timeline, STEP_500MS, 0, 8)[0] == f"{BAR_START}{BAR * 3}{BAR_START}{FAILED_CALL}  "


def test_half_a_second_per_column_places_every_bar_and_call() -> None:
    timeline = build(two_workers(), CALLS, NOW)
    assert fit_step(timeline, 8) == STEP_500MS  # 4 s in 8 columns; 200 ms would need 20
    # gw0: a in columns 0-3, its calls at 0.5 s (column 1) and 1.2 s (column 2, failed);
    # b starts in column 4 (its start glyph keeps it apart from a) and ends in column 5.
    # gw1: c from column 0 to 6 with two calls in column 0 (one mark) and one in 6; d in 7.
    assert rows(timeline, STEP_500MS, 0, 8) == [
        f"{BAR_START}{CALL}{FAILED_CALL}{BAR}{BAR_START}{BAR}  ",
        f"{CALL}{BAR * 5}{CALL}{BAR_START}",
    ]
    shown = frame(timeline, STEP_500MS, 0, 8)
    gw0 = shown.rows[0]
    assert [None if cell is None else cell.status for cell in gw0] == [
        *[TestStatus.PASSED] * 4,
        *[TestStatus.FAILED] * 2,
        None,
        None,
    ]
    assert [cell is not None and cell.call for cell in gw0] == [
        False,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    last = shown.rows[1][7]
    assert last is not None and last.status == TestStatus.RUNNING
    assert last.nodeid == nodeid("test_d")
    assert shown.rule == TICK + "─" * 7  # ticks 5 s apart: only 0 s fits
    assert shown.labels == "0s      "


def test_zooming_in_spreads_the_bars_and_the_axis_ticks_every_two_seconds() -> None:
    timeline = build(two_workers(), CALLS, NOW)
    assert timeline.columns(STEP_200MS) == 20
    gw0, gw1 = rows(timeline, STEP_200MS, 0, 30)
    # a: columns 0-9, calls at 0.5 s (2) and 1.2 s (6); b: 10-14.
    assert gw0 == (
        BAR_START + BAR + CALL + BAR * 3 + FAILED_CALL + BAR * 3 + BAR_START + BAR * 4 + " " * 15
    )
    # c: columns 1-17 (0.2 s to 3.5 s), calls at 0.3 and 0.4 s (1, 2) and 3.4 s (17); d: 17-19.
    # d starts in c's last column: the call mark there stays.
    assert gw1[:20] == " " + CALL + CALL + BAR * 14 + CALL + BAR * 2
    rule, labels = axis(ZOOM_STEPS[STEP_200MS], 0, 30)
    assert rule == (TICK + "─" * 9) * 3
    assert labels == "0s        2s        4s        "


def test_scrolling_shows_the_columns_from_the_offset_and_keeps_calls_in_place() -> None:
    timeline = build(two_workers(), CALLS, NOW)
    gw0, _ = rows(timeline, STEP_200MS, 5, 10)
    assert gw0 == BAR + FAILED_CALL + BAR * 3 + BAR_START + BAR * 4
    assert max_offset(timeline, STEP_200MS, 10) == 10
    rule, labels = axis(ZOOM_STEPS[STEP_200MS], 5, 10)
    assert (rule, labels) == ("─" * 5 + TICK + "─" * 4, "     2s   ")


def test_at_a_coarse_zoom_a_shared_column_shows_the_worst_test_and_keeps_the_call_mark() -> None:
    timeline = build(two_workers(done=True), CALLS, NOW)
    shown = frame(timeline, STEP_5S, 0, 3)
    gw0 = shown.rows[0][0]
    assert gw0 is not None
    # a (passed, with a failed call) and b (failed) both fall in column 0.
    assert (gw0.glyph, gw0.status, gw0.nodeid) == (FAILED_CALL, TestStatus.FAILED, nodeid("test_b"))
    assert plain(shown.rows[1]) == CALL + "  "


def test_a_call_logged_before_its_test_started_is_drawn_in_the_tests_first_column() -> None:
    """The controller hears a test start a moment after the worker began it: a call made
    in that moment is still inside its test's bar."""
    state = reduce_all([start(T0), *ran("test_a", None, 1.0, 2.0)])
    timeline = build(state, {"trace-test_a": [call(0.9)]}, NOW)
    assert rows(timeline, STEP_500MS, 0, 6) == [f"  {CALL}{BAR}  "]


def test_a_run_without_xdist_is_one_main_lane() -> None:
    state = reduce_all(
        [
            start(T0),
            *ran("test_a", None, 0.0, 1.0),
            *ran("test_b", None, 1.0, 1.5, "failed"),
            finish(1, t=T0 + 1.5),
        ]
    )
    timeline = build(state, {}, T0 + 99.0)
    assert [lane.worker for lane in timeline.lanes] == [MAIN_LANE]
    assert timeline.end == 1_500_000  # the run's end, not `now`
    assert rows(timeline, STEP_500MS, 0, 4) == [BAR_START + BAR + BAR_START + " "]


def test_every_xdist_worker_has_a_lane_even_idle_and_they_sort_by_number() -> None:
    events: list[Event] = [start(T0, workers=3)]
    for index, worker in enumerate(("gw10", "gw2", "gw0")):
        events += ran(f"test_{index}", worker, float(index), float(index) + 0.5)
    # A test whose worker the controller has not heard of yet waits for it.
    events.append(began("test_waiting", T0 + 5.0))
    timeline = build(reduce_all(events), {}, T0 + 6.0)
    assert [lane.worker for lane in timeline.lanes] == ["gw0", "gw1", "gw2", "gw10"]
    assert [len(lane.tests) for lane in timeline.lanes] == [1, 0, 1, 1]
    assert timeline.span(nodeid("test_waiting")) is None


def test_no_test_started_gives_no_lanes_without_xdist() -> None:
    timeline = build(reduce_all([start(T0), collected(("test_a", "tools"))]), {}, T0 + 1.0)
    assert timeline.lanes == ()
    assert timeline.end == 1_000_000


def test_the_selected_test_is_drawn_shaded_and_its_calls_stay_marked() -> None:
    timeline = build(two_workers(), CALLS, NOW)
    gw0, _ = rows(timeline, STEP_500MS, 0, 8, selected=nodeid("test_a"))
    assert gw0 == f"{SELECTED}{CALL}{FAILED_CALL}{SELECTED}{BAR_START}{BAR}  "
    cell = frame(timeline, STEP_500MS, 0, 8, nodeid("test_a")).rows[0][1]
    assert cell is not None and cell.selected and cell.call


def test_zoom_keeps_the_anchor_time_in_place_and_scrolling_reveals_a_test() -> None:
    # Column 3 at 500 ms shows 1.5 s + 5 columns: 4 s. At 200 ms, 4 s is column 20: offset 17.
    assert zoomed_offset(5, STEP_500MS, STEP_200MS, 3) == 17
    assert zoomed_offset(17, STEP_200MS, STEP_500MS, 3) == 5
    timeline = build(two_workers(), CALLS, NOW)
    b = timeline.span(nodeid("test_b"))
    assert b is not None  # starts in column 10 at 200 ms
    assert offset_showing(b, STEP_200MS, 5, 0) == 6
    assert offset_showing(b, STEP_200MS, 5, 8) == 8
    assert offset_showing(b, STEP_200MS, 5, 12) == 10


def test_moving_the_selection_along_a_lane_and_across_lanes() -> None:
    timeline = build(two_workers(), CALLS, NOW)
    a, b, c, d = (nodeid(n) for n in ("test_a", "test_b", "test_c", "test_d"))
    assert neighbour(timeline, None, 1) == a
    assert neighbour(timeline, a, 1) == b
    assert neighbour(timeline, b, 1) == b  # kept at the lane's end
    assert neighbour(timeline, a, -1) == a
    assert across(timeline, a, 1) == c  # c starts 0.2 s after a, nearest to it
    assert across(timeline, b, 1) == c  # c was running when b started
    assert across(timeline, d, -1) == b
    assert across(timeline, c, -1) == a
    assert across(timeline, a, -1) == a  # no lane above


def test_fit_picks_the_finest_zoom_that_shows_the_whole_run() -> None:
    timeline = build(two_workers(), CALLS, NOW)
    assert [fit_step(timeline, width) for width in (200, 40, 20, 19, 8, 4, 1)] == [
        ZOOM_STEPS.index(20_000),
        ZOOM_STEPS.index(100_000),
        STEP_200MS,
        STEP_500MS,
        STEP_500MS,
        ZOOM_STEPS.index(1_000_000),
        STEP_5S,
    ]


def test_fit_shows_every_test_from_the_first_ones_start() -> None:
    """xdist took 5 s to start its workers: fitting the whole run would crush the tests."""
    state = reduce_all(
        [start(T0, workers=2), *ran("test_a", "gw0", 5.0, 5.6), *ran("test_b", "gw1", 5.2, 6.0)]
    )
    timeline = build(state, {}, T0 + 30.0)
    assert fit_step(timeline, 10) == STEP_5S
    assert fit_tests(timeline, 10) == (ZOOM_STEPS.index(100_000), 50)
    assert rows(timeline, ZOOM_STEPS.index(100_000), 50, 10) == [
        BAR_START + BAR * 5 + "    ",
        "  " + BAR_START + BAR * 7,
    ]
    assert fit_tests(build(reduce_all([start(T0)]), {}, T0 + 3.0), 10) == (STEP_500MS, 0)


def test_tick_labels_read_as_short_times() -> None:
    assert [tick_label(m) for m in (0, 2_000, 250_000, 1_500_000, 12_000_000)] == [
        "0s",
        "2ms",
        "250ms",
        "1.5s",
        "12s",
    ]
    assert [tick_label(m) for m in (60_000_000, 150_000_000, 3_600_000_000)] == [
        "1m",
        "2m30s",
        "60m",
    ]


def test_a_label_that_would_be_cut_at_the_right_edge_is_left_out() -> None:
    rule, labels = axis(ZOOM_STEPS[STEP_200MS], 0, 21)
    assert rule == (TICK + "─" * 9) * 2 + TICK
    assert labels == "0s        2s         "


# -- the screen ----------------------------------------------------------------


class TimelineApp(App[None]):
    """The screen alone, on the state and calls it is given, as the dashboard pushes it."""

    def __init__(self, state: RunState, calls: Calls, now: float) -> None:
        super().__init__()
        self.state, self.calls, self.now = state, calls, now
        self.chosen: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("the panes")

    def on_mount(self) -> None:
        self.push_screen(RunTimelineScreen(self.state, self.calls, self.now))

    def on_run_timeline_screen_chosen(self, event: RunTimelineScreen.Chosen) -> None:
        self.chosen.append(event.nodeid)


def lines(app: App[Any]) -> list[str]:
    strips = app.screen._compositor.render_strips()
    return ["".join(segment.text for segment in strip).rstrip() for strip in strips]


@asynccontextmanager
async def opened() -> AsyncIterator[tuple[TimelineApp, Pilot[None], RunTimelineScreen]]:
    """The screen on `two_workers()` at 80x24."""
    app = TimelineApp(two_workers(), CALLS, NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunTimelineScreen)
        yield app, pilot, screen


async def test_keys_zoom_scroll_select_open_and_close() -> None:
    async with opened() as (app, pilot, screen):
        view = screen.query_one(TimelineView)
        # 80 columns less 2 of padding and the 5 of the labels: 73 for 4 s: 100 ms each.
        assert (view.time_width, view.step, view.first) == (73, ZOOM_STEPS.index(100_000), 0)
        shown = lines(app)
        assert shown[0].startswith(" Run timeline  100ms per column · 4 tests on 2 lanes")
        assert shown[2] == " " * 6 + "".join(f"{s}s".ljust(10) for s in range(8)).rstrip()
        assert shown[3] == " " * 6 + (TICK + "─" * 9) * 7 + TICK + "─" * 2
        assert shown[4].startswith(" gw0  " + BAR_START + BAR * 4 + CALL)
        assert shown[5].startswith(" gw1    " + BAR_START + CALL + CALL)
        await pilot.press("right_square_bracket")
        assert view.selected == nodeid("test_a")
        shown = lines(app)
        at = shown.index(f" ✓ {nodeid('test_a')}  2.00s on gw0 · 2 calls, 1 failed")
        assert shown[at + 1 : at + 3] == [
            "    +500ms    4ms  corpus_add  success",
            "    +1.20s    4ms  corpus_search  error",
        ]
        await pilot.press("down")
        assert view.selected == nodeid("test_c")
        await pilot.press("right_square_bracket", "up")
        assert view.selected == nodeid("test_b")
        await pilot.press("plus", "plus")
        assert (view.step, view.fitting) == (ZOOM_STEPS.index(20_000), False)
        # b starts at 2 s, column 100 at 20 ms: it stays on screen.
        assert view.first <= 100 < view.first + view.time_width
        await pilot.press("home")
        assert view.first == 0
        await pilot.press("right")
        assert view.first == 73 // 4
        await pilot.press("end")
        assert view.first == max_offset(view.timeline, view.step, 73) == 200 - 73
        await pilot.press("minus")
        assert view.step == ZOOM_STEPS.index(50_000)
        await pilot.press("0")
        assert (view.step, view.first, view.fitting) == (ZOOM_STEPS.index(100_000), 0, True)
        await pilot.press("enter")
        assert app.chosen == [nodeid("test_b")]
        await pilot.press("escape")
        assert not isinstance(app.screen, RunTimelineScreen)


async def test_show_redraws_the_run_as_it_goes_and_follows_its_end() -> None:
    async with opened() as (app, pilot, screen):
        view = screen.query_one(TimelineView)
        await pilot.press("plus", "plus", "end")  # 20 ms per column, at the run's end
        assert view.following
        running = view.timeline.span(nodeid("test_d"))
        assert running is not None and running.end == 4_000_000
        screen.show(two_workers(), CALLS, NOW + 2.0)  # two seconds later, still running
        await pilot.pause()
        running = view.timeline.span(nodeid("test_d"))
        assert running is not None and running.end == 6_000_000
        assert view.first == 300 - 73  # still at the end: 6 s is 300 columns
        assert "following the run" in lines(app)[0]
        screen.show(two_workers(done=True), CALLS, NOW + 3.0)
        await pilot.pause()
        done = view.timeline.span(nodeid("test_d"))
        assert done is not None and (done.end, done.status) == (4_000_000, TestStatus.PASSED)
        assert view.first == 200 - 73
        assert "following" not in lines(app)[0]


def test_the_selection_line_says_how_many_calls_and_shortens_the_name_to_fit() -> None:
    state = two_workers()
    timeline = build(state, CALLS, NOW)
    line = selection_line(state.tests[nodeid("test_a")], timeline, 200).plain
    assert line == f"✓ {nodeid('test_a')}  2.00s on gw0 · 2 calls, 1 failed"
    # Narrow: the name gives way (it keeps the test's own name), the facts stay.
    short = selection_line(state.tests[nodeid("test_a")], timeline, 50).plain
    assert short == "✓ tests…::test_a  2.00s on gw0 · 2 calls, 1 failed"
    assert len(selection_line(state.tests[nodeid("test_a")], timeline, 20).plain) == 20
    running = selection_line(state.tests[nodeid("test_d")], timeline, 200).plain
    assert running == f"◌ {nodeid('test_d')}  500ms on gw1 · 0 calls"


def test_the_calls_of_the_selected_test_are_listed_from_its_start() -> None:
    span = build(two_workers(), CALLS, NOW).span(nodeid("test_c"))
    assert span is not None
    assert call_lines(span, 78).plain.splitlines() == [
        "   +100ms    4ms  corpus_add  success",
        "   +200ms    4ms  session_get  success",
        "   +3.20s    4ms  session_close  success",
    ]


# -- snapshots -----------------------------------------------------------------


def realistic() -> tuple[RunState, Calls, float]:
    """-n 2 on a few realistic tests, one failed, one still running, with their calls."""
    plan = [
        ("TestRegistration::test_register_and_verify", "gw0", 0.0, 1.4, "passed"),
        ("TestSessions::test_session_expires[ttl-1]", "gw0", 1.4, 4.1, "passed"),
        ("TestTools::test_corpus_search_ranks_by_bm25", "gw0", 4.1, 6.0, "failed"),
        ("TestTools::test_rate_limit_refuses_the_11th_call", "gw1", 0.1, 3.2, "passed"),
        ("TestPermissions::test_basic_tier_is_denied", "gw1", 3.2, 3.9, "passed"),
        ("TestSessions::test_concurrent_sessions_stay_apart", "gw1", 3.9, None, "passed"),
    ]
    events: list[Event] = [start(T0, workers=2), collected(*((p[0], "tools") for p in plan))]
    calls: dict[str, list[TimelineCall]] = {}
    for name, worker, begin, end, outcome in plan:
        events += ran(name, worker, begin, end, outcome)
        stop = 7.0 if end is None else end
        count = 1 + int((stop - begin) * 2)
        calls[f"trace-{name}"] = [
            call(begin + (i + 0.5) * (stop - begin) / count, "corpus_search") for i in range(count)
        ]
    calls["trace-TestTools::test_corpus_search_ranks_by_bm25"][-1] = call(
        5.8, "corpus_search", "error"
    )
    calls["trace-TestTools::test_rate_limit_refuses_the_11th_call"][-1] = call(
        3.0, "corpus_add", "rate_limited"
    )
    return reduce_all(events), calls, T0 + 7.0


async def select_the_failure(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.press(*["right_square_bracket"] * 3)
    await pilot.pause()


def test_timeline_snapshot_at_80x24(snap_compare: SnapCompare) -> None:
    app = TimelineApp(*realistic())
    assert snap_compare(app, terminal_size=(80, 24), run_before=select_the_failure)


def test_timeline_snapshot_at_200x50(snap_compare: SnapCompare) -> None:
    app = TimelineApp(*realistic())
    assert snap_compare(app, terminal_size=(200, 50), run_before=select_the_failure)
