"""The Textual dashboard: live panes per critical path, live database tables, rerun failed.

The app renders a `RunState` and nothing else. A worker folds the runner's events
into the state as they arrive (`fold`); a timer draws the latest state 15 times a
second (`draw`), and the pane grid touches only the tests that changed since the
last frame, so a burst of thousands of events costs one frame, not thousands.

Runs: `f` and `a` start a new run. Pressed while a run is finishing (its end
arrived, its history is being written) they are queued and start when it has
ended; pressed while one is running, they cancel it and start the new run when
it has stopped (Vitest's habit). ctrl+c cancels a run in progress; pressed
again, or with nothing running, it quits, as `q` does.

Tests and rows: when the service database holds rows made in traced tests, the tables
follow the selected test (`c`: every row again), each finished test's rows are read once
(widgets/test_rows.py) so its pane marks a test that left sessions open, and a failed
test's detail shows its rows as they were when it failed. `t` opens the run on a time
axis (screens/run_timeline.py), per xdist worker, with each test's tool calls inside.
When a run has ended, its tool calls per tool (and what regressed) show under the panes.

Watch mode (`--watch`, or `w`): a saved change reruns the tests it affects and the tests
that failed last time (watch.py decides); a change during a run queues one rerun.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from mcp_dashboard.db_views.base import DatabaseView, TraceCalls
from mcp_dashboard.events import Event
from mcp_dashboard.filtering import TestFilter
from mcp_dashboard.launch import Launcher, exit_code
from mcp_dashboard.options import Options
from mcp_dashboard.run_calls import measure_calls
from mcp_dashboard.runner import STATE_DIR, Run
from mcp_dashboard.screens.help import HelpScreen, Section, keys_of
from mcp_dashboard.screens.run_timeline import Calls, RunTimelineScreen
from mcp_dashboard.screens.test_detail import TestDetailScreen
from mcp_dashboard.state import RunState, SessionsLeft, reduce, reduce_all
from mcp_dashboard.status import RunStatus, TestStatus, is_failed, is_final, needs_rerun
from mcp_dashboard.watch import Request, WatchSession, still_to_rerun
from mcp_dashboard.widgets.filter_field import FilterField
from mcp_dashboard.widgets.fitted_footer import FittedFooter
from mcp_dashboard.widgets.live_tables import LiveTables
from mcp_dashboard.widgets.pane_grid import PaneGrid, changed_tests
from mcp_dashboard.widgets.path_pane import GroupLine  # its keys are listed in the help
from mcp_dashboard.widgets.problems import ProblemsPanel
from mcp_dashboard.widgets.run_header import RunHeader
from mcp_dashboard.widgets.status_line import StatusLine
from mcp_dashboard.widgets.test_list import TestList
from mcp_dashboard.widgets.test_rows import TestRows
from mcp_dashboard.widgets.tool_calls import ToolCallsPanel

FRAME_SECONDS = 1 / 15
TRACE_CALLS_SECONDS = 1.0  # how often the open timeline reads the run's calls again
# Absolute, so a subclass defined elsewhere (benchmarks/) finds it too; package data.
STYLESHEET = Path(__file__).with_name("dashboard.tcss")
# The keys a narrow footer leaves out first, in this order (`?` lists them all): at 80
# columns the timeline, the tables' rows and only-failures.
FOOTER_DROP_FIRST = (
    "timeline",
    "toggle_test_rows",
    "failures_only",
    "next_failure",
    "filter",
    "toggle_watch",
)
RERUN_POLICY = (
    "f and a while a run is going: it is cancelled and the new run starts when it has "
    "stopped; while it is finishing: the new run waits for it."
)


@dataclass(frozen=True, slots=True)
class Plan:
    """A run to start: what pytest gets, and what the header calls it."""

    targets: list[str]
    scope: str = ""  # "" for the whole selection, else e.g. "rerun of 2 failed tests"
    # Every test of the selection: only such a run's tool calls are measured against
    # the runs before it (a rerun of a few tests would look like a regression).
    whole: bool = True


class DashboardApp(App[int]):
    CSS_PATH = STYLESHEET
    TITLE = "mcp-dashboard"
    AUTO_FOCUS = None  # the panes take the focus when they have tests (`_keep_focus`)

    BINDINGS: ClassVar[list[BindingType]] = [
        # Short words for the footer; the help screen (?) shows each tooltip in full.
        # A narrow footer leaves out whole keys, those of FOOTER_DROP_FIRST first, then
        # from the end: the keys that find every other key (?) and end the app come early.
        Binding(
            "f",
            "rerun_failed",
            "Rerun failed",
            tooltip="rerun the failed tests, and a test the run died in",
        ),
        Binding("a", "rerun_all", "All", tooltip="run every test again"),
        Binding(
            "x",
            "cancel_run",
            "Cancel",
            tooltip="cancel the run (SIGINT, then SIGTERM, then SIGKILL)",
        ),
        Binding("n", "next_failure(1)", "Next fail", tooltip="next/previous failure, across panes"),
        Binding(
            "N",
            "next_failure(-1)",
            "Prev fail",
            key_display="N",
            show=False,
            tooltip="next/previous failure, across panes",
        ),
        Binding("question_mark", "help", "Keys", key_display="?", tooltip="every key"),
        Binding("q", "quit", "Quit", tooltip="quit (the run in progress is stopped)"),
        Binding(
            "slash",
            "filter",
            "Filter",
            key_display="/",
            # Priority: handled before the keys typed after it are handed to the focus.
            priority=True,
            tooltip="filter tests by name (enter keeps it)",
        ),
        Binding("o", "failures_only", "Failures", tooltip="show only failures (again: all tests)"),
        Binding(
            "t",
            "timeline",
            "Timeline",
            tooltip="the run on a time axis: tests per xdist worker, their tool calls inside",
        ),
        Binding(
            "w",
            "toggle_watch",
            "Watch",
            tooltip="watch mode: a saved change reruns the tests it affects (again: stop)",
        ),
        Binding(
            "T",
            "toggle_tables",
            "Tables",
            key_display="T",
            show=False,
            tooltip="hide or show the live tables",
        ),
        Binding(
            "c",
            "toggle_test_rows",
            "Test rows",
            tooltip="the tables: the selected test's rows, or every row",
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear",
            show=False,
            tooltip="clear the filter and only-failures",
        ),
        Binding(
            "ctrl+c",
            "interrupt",
            "Interrupt",
            show=False,
            priority=True,
            tooltip="cancel the run; pressed again (or with no run): quit",
        ),
    ]

    def __init__(self, launcher: Launcher, *, autostart: bool = True) -> None:
        super().__init__()
        self.launcher = launcher
        self.autostart = autostart
        self.state = RunState()
        self.scope = ""
        self._whole_run = True
        self.run_handle: Run | None = None
        self.runs_finished = 0
        self.exit_status: int | None = None  # the last run that ended by itself
        # What `f` reruns, node id -> status, kept across runs: a run updates it, a test
        # it did not run (a cancel came first) keeps its verdict (see `_to_rerun`).
        self.rerun_before: dict[str, str] = {}
        self.test_filter = TestFilter()
        self.selected: str | None = None
        self._queued: Callable[[], Plan | None] | None = None  # planned when it starts
        self._run_worker: Worker[None] | None = None
        self._rendered: RunState | None = None
        self._dirty: set[str] = set()  # tests changed by `fold` since the state `_rendered`
        self._folded: RunState = self.state  # the state `fold` made last
        self._redraw = True
        self._focus_after_run = False
        self._trace_names: dict[str, str] = {}  # trace id -> test, for the tables' test column
        self._rows_reader: TestRows | None = None
        self.trace_calls: Calls = {}  # trace id -> its tool calls, for the timeline
        self._calls_read_at = 0.0
        self.watch_session: WatchSession | None = None  # kept when watching stops: its graph cache
        self.watch_ready = False  # the watch is in place: a save from now on is seen
        self._watch_starting = False
        self._watch_worker: Worker[None] | None = None

    @property
    def _test_rows(self) -> TestRows:
        """Found once: `fold` asks for it at every report of a traced test."""
        if self._rows_reader is None:
            self._rows_reader = self.query_one("#test-rows", TestRows)
        return self._rows_reader

    @property
    def state_dir(self) -> Path:
        return self.launcher.state_dir or self.launcher.cwd / STATE_DIR

    # -- layout ----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield FilterField(
            placeholder="filter tests by name (enter: keep, escape: clear)", id="filter"
        )
        yield Static(id="indicators")
        yield ProblemsPanel(id="problems")
        yield ToolCallsPanel(id="tool-calls")
        yield PaneGrid(id="panes")
        yield StatusLine(id="now")
        yield LiveTables(
            id="tables", quiet_when_absent=True, redis_url=self.launcher.options.redis_url
        )
        yield TestRows(lambda: self.query_one(LiveTables).view, id="test-rows")
        yield FittedFooter(compact=True, show_command_palette=False, drop_first=FOOTER_DROP_FIRST)

    def on_mount(self) -> None:
        self.set_interval(FRAME_SECONDS, self.draw)
        self.query_one(LiveTables).trace_names = self._trace_names
        if not self.autostart:
            return
        if self.launcher.options.watch:
            self.run_worker(self._start_watching(run=True), group="watch-start")
            return
        if self.launcher.options.rerun_failed:
            message, failed = self.launcher.last_failures()
            self.notify(message)
            if failed:
                scope = rerun_scope([TestStatus.FAILED] * len(failed))
                self.start_run(Plan(failed, scope, whole=False))
            return
        self.start_run(Plan(self.launcher.initial_targets()))

    # -- running ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        """A run's worker is on: from its start until its history is written."""
        return self._run_worker is not None and not self._run_worker.is_finished

    def start_run(self, plan: Plan | Callable[[], Plan | None]) -> None:
        """Start `plan` now, or as soon as the run in progress has ended. A callable is
        planned only then (so `f` reruns what failed in the run it cancelled, and the tests
        the cancel interrupted)."""
        if self.running:
            self._queued = plan if callable(plan) else _planned(plan)
            return
        if callable(plan):
            planned = plan()
            if planned is None:
                self.notify("No failed tests to rerun.")
                return
            plan = planned
        self.state = self._folded = RunState()
        self.scope = plan.scope
        self._whole_run = plan.whole
        self._dirty.clear()
        self._redraw = True
        self.query_one(PaneGrid).reset()
        self.query_one(ToolCallsPanel).show(None)
        self.trace_calls = {}
        self._test_rows.reset()
        self._focus_after_run = True
        self._run_worker = self.run_worker(
            self._drive(plan.targets), group="run", exclusive=True, exit_on_error=False
        )

    async def _drive(self, targets: list[str]) -> None:
        config = self.launcher.config(targets)
        record = await asyncio.to_thread(self.launcher.begin, config)
        async with Run(config) as run:
            self.run_handle = run
            self.query_one(LiveTables).follow(run.database_url)  # SQLite file or PostgreSQL
            try:
                async for event in run:
                    self.fold(event)
            finally:
                self.run_handle = None
        ended = self.state
        finished = await asyncio.to_thread(self.launcher.finish, record, ended)
        # Leaks read while the history was written were folded into a state now replaced.
        finished = reduce_all(self._test_rows.facts(), finished)
        self._dirty.update(changed_tests(self.state, finished))
        self.state = self._folded = finished
        self.rerun_before = self._to_rerun()
        self.runs_finished += 1
        if finished.status != RunStatus.CANCELLED:
            self.exit_status = exit_code(finished)
        if self._whole_run:
            calls = await asyncio.to_thread(
                measure_calls, self.launcher.history, record, finished, run.database_url
            )
            self.query_one(ToolCallsPanel).show(calls)
        if self.watching and self.watch_session is not None:
            request = self.watch_session.finished(finished)
            if request is not None:
                self._start_request(request)

    def fold(self, event: Event | SessionsLeft) -> None:
        """One event into the state; remember which tests it touched for the next frame."""
        before, self.state = self.state, reduce(self.state, event)
        self._folded = self.state
        nodeid = getattr(event, "nodeid", None)
        if nodeid:
            self._dirty.add(nodeid)
            test = self.state.tests.get(nodeid)
            if test is not None and test.trace_id:
                self._trace_names[test.trace_id] = nodeid  # from its trace or its pass line
                if test.finished or test.phases:
                    self._test_rows.seen(test)  # its rows: read when it fails, and when it ends
        else:  # collection, finish, history: whichever tests they changed
            self._dirty.update(changed_tests(before, self.state))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._run_worker or not event.worker.is_finished:
            return
        if event.state == WorkerState.ERROR:
            self.run_handle = None
            self.notify(f"The run failed: {event.worker.error}", severity="error")
        queued, self._queued = self._queued, None
        if queued is not None:
            self.start_run(queued)

    def _to_rerun(self) -> dict[str, str]:
        """The tests `f` reruns: those the runs before left failed or interrupted, updated
        by this run's verdicts so far (watch mode keeps its own by the same rule)."""
        tests = self.state.tests_in_order()
        passed = [t.nodeid for t in tests if is_final(t.status) and not needs_rerun(t.status)]
        failed = {t.nodeid: str(t.status) for t in tests if needs_rerun(t.status)}
        return still_to_rerun(self.rerun_before, passed, failed)

    def _failed_plan(self) -> Plan | None:
        failed = self._to_rerun()
        if not failed:
            return None
        targets = self.launcher.node_targets(self.state, list(failed))
        return Plan(targets, rerun_scope(failed.values()), whole=False)

    def _replace_run(self, plan: Plan | Callable[[], Plan | None], what: str) -> None:
        """Start `plan`: now, queued behind a finishing run, or after cancelling this one."""
        if not self.running:
            self.notify(f"{what}.")
            self.start_run(plan)
        elif self.state.finished:
            self.notify(f"{what} when this run has ended.")
            self.start_run(plan)  # queued
        else:
            self.notify(f"Cancelling this run; then {what[0].lower()}{what[1:]}.")
            self.start_run(plan)  # queued
            self._cancel()

    def action_rerun_failed(self) -> None:
        plan = self._failed_plan()
        if plan is None:
            self.notify(
                "No failures yet: x cancels the run, a restarts it."
                if self.running and not self.state.finished
                else "No failed tests to rerun."
            )
            return
        what = f"Rerunning {plan.scope.removeprefix('rerun of ')}"
        if self.watching and self.watch_session is not None:
            self.watch_session.began(plan.scope)
        if self.running and not self.state.finished:
            # Cancelling interrupts tests too: plan when this run has stopped.
            self._replace_run(self._failed_plan, what.replace("Rerunning", "Rerunning the"))
        else:
            self._replace_run(plan, what)

    def action_rerun_all(self) -> None:
        if self.watching and self.watch_session is not None:
            self.watch_session.began("run all", run_all=True)
        self._replace_run(Plan(self.launcher.initial_targets()), "Running all tests")

    # -- watch mode ------------------------------------------------------------

    @property
    def watching(self) -> bool:
        return self._watch_worker is not None and not self._watch_worker.is_finished

    def action_toggle_watch(self) -> None:
        if self._watch_starting:
            self.notify("Watch mode is starting: reading the project's imports.")
            return
        if self.watching:
            assert self._watch_worker is not None
            self._watch_worker.cancel()
            self._watch_worker = None
            self.notify("Watch mode off.")
        else:
            self.notify("Watching for saved changes.")
            self.run_worker(self._start_watching(run=False), group="watch-start")
        self._redraw = True

    async def _start_watching(self, *, run: bool) -> None:
        """Scan the project's imports (a thread: it reads files), then follow its changes;
        `run`: start with a run of everything, as `--watch` does."""
        session = self.watch_session or WatchSession(
            self.launcher.cwd,
            self.state_dir,
            self.launcher.paths,
            self.launcher.options.pytest_options,
        )
        self.watch_session = session
        self._watch_starting = True
        try:
            if run:
                self._start_request(await asyncio.to_thread(session.start))
            else:
                await asyncio.to_thread(session.graph.scan)
                if self.running:
                    session.began(self.scope or "the run in progress")
        finally:
            self._watch_starting = False
        self._watch_worker = self.run_worker(
            self._follow_changes(session), group="watch", exclusive=True, exit_on_error=False
        )

    async def _follow_changes(self, session: WatchSession) -> None:
        batches = session.batches()
        waiting = asyncio.ensure_future(anext(batches))
        await asyncio.sleep(0)  # one turn of the loop: its first step sets the watch up
        self.watch_ready = True
        self._redraw = True
        try:
            while True:
                request = await asyncio.to_thread(session.changed, await waiting)
                waiting = asyncio.ensure_future(anext(batches))
                if request is not None:
                    self._start_request(request)
                elif not self.running:
                    # A deleted file's collection error: no run will take it off the screen.
                    self.state = self._folded = session.forget_deleted(self.state)
                self._redraw = True
        finally:
            waiting.cancel()
            self.watch_ready = False

    def _start_request(self, request: Request) -> None:
        targets = list(request.targets) or self.launcher.initial_targets()
        self.start_run(Plan(targets, request.reason, whole=request.run_all))

    # -- the run timeline ------------------------------------------------------

    def action_timeline(self) -> None:
        self.push_screen(RunTimelineScreen(self.state, self.trace_calls))
        self._read_trace_calls()

    @on(RunTimelineScreen.Chosen)
    def _open_from_timeline(self, event: RunTimelineScreen.Chosen) -> None:
        self.open_test(event.nodeid)

    def _read_trace_calls(self) -> None:
        view = self.query_one(LiveTables).view
        traces = [t.trace_id for t in self.state.tests.values() if t.trace_id]
        if view is not None and traces:
            self._read_calls(view, traces)

    @work(thread=True, exclusive=True, group="timeline", exit_on_error=False)
    def _read_calls(self, view: DatabaseView, traces: list[str]) -> None:
        self.call_from_thread(self._calls_read, view.trace_calls(traces))

    def _calls_read(self, found: TraceCalls) -> None:
        if found.error is None:
            self.trace_calls = found.by_trace

    def action_cancel_run(self) -> None:
        if not self._cancel():
            self.notify("No run in progress.")

    def _cancel(self) -> bool:
        handle = self.run_handle
        if handle is None or self.state.finished:
            return False
        if not handle.cancelled:
            self.run_worker(handle.cancel(), group="cancel")
        return True

    def action_interrupt(self) -> None:
        """ctrl+c: cancel the run in progress; pressed again, or when idle, quit."""
        handle = self.run_handle
        if handle is not None and not handle.cancelled and not self.state.finished:
            self._queued = None
            self._cancel()
            self.notify("Cancelling the run: ctrl+c again or q quits.")
            return
        self.exit(self.exit_code_now())

    async def action_quit(self) -> None:
        """q and ctrl+q: quit, with the status of the last run that ended by itself."""
        self.exit(self.exit_code_now())

    def exit_code_now(self) -> int:
        """The status of the last run that ended by itself (even if its history is still
        being written); 0 when the user stopped the only one."""
        state = self.state
        if state.finished and state.status != RunStatus.CANCELLED:
            return exit_code(state)
        return 0 if self.exit_status is None else self.exit_status

    # -- filtering -------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The filter's keys act on the panes' screen only, and `/` typed in the filter is
        a `/` (False: the key goes on to the focused widget, and the footer hides it)."""
        if action in _MAIN_SCREEN_ONLY and self.screen is not self.screen_stack[0]:
            return False
        if action == "toggle_test_rows" and not self.query_one(LiveTables).traced:
            return False  # no row carries a trace: nothing to filter by
        if action == "next_failure" and isinstance(self.screen, RunTimelineScreen):
            return False  # it would move the panes' cursor, out of sight
        return not (action == "filter" and isinstance(self.focused, Input))

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        # Now, not after the queue (`focus()` defers): keys typed right after `/` are
        # already queued, and would go to the pane.
        self.screen.set_focus(field)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._set_filter(TestFilter(event.value.strip().lower(), self.test_filter.failures_only))

    @on(Input.Submitted, "#filter")
    def _filter_kept(self) -> None:
        self.query_one("#filter", Input).display = False
        self._focus_tests()

    def action_clear_filter(self) -> None:
        """Escape: every test again (the filter and only-failures both end)."""
        field = self.query_one("#filter", Input)
        if field.display or self.test_filter.active:
            field.value = ""
            field.display = False
            self._set_filter(TestFilter())
            self._focus_tests()

    def action_failures_only(self) -> None:
        self._set_filter(TestFilter(self.test_filter.text, not self.test_filter.failures_only))

    def _set_filter(self, test_filter: TestFilter) -> None:
        self.test_filter = test_filter
        self.query_one(PaneGrid).set_filter(test_filter)
        indicators = self.query_one("#indicators", Static)
        indicators.display = test_filter.active
        indicators.update(f"[b reverse] {test_filter.describe()} [/]  [dim]escape: all tests[/]")
        self._redraw = True

    def action_toggle_test_rows(self) -> None:
        tables = self.query_one(LiveTables)
        tables.toggle_this_test()
        self.notify(
            "The tables show " + ("this test's rows." if tables.this_test else "every row.")
        )

    @on(TestRows.Read)
    def _rows_read(self, event: TestRows.Read) -> None:
        for left in event.left:
            self.fold(left)

    def action_toggle_tables(self) -> None:
        tables = self.query_one(LiveTables)
        tables.display = not tables.display

    # -- moving between tests --------------------------------------------------

    def action_next_failure(self, direction: int) -> None:
        grid = self.query_one(PaneGrid)
        failures = grid.failures()
        if not failures:
            self.notify("No failures to go to.")
            return
        if self.selected in failures:
            index = (failures.index(self.selected) + direction) % len(failures)
        else:
            index = 0 if direction > 0 else len(failures) - 1
        grid.reveal(failures[index])

    def _focus_tests(self, *, first_failure: bool = False, if_unfocused: bool = False) -> None:
        """Focus a test: the first failure (when a run ends), else the one last under the
        cursor, else the first failure, else the first test. `if_unfocused`: only if the
        focus is still nowhere (a key may have put it somewhere since this was planned)."""
        if self.screen is not self.screen_stack[0]:
            return  # the detail or help screen is open: the panes wait
        if if_unfocused and self.screen.focused is not None:
            return
        grid = self.query_one(PaneGrid)
        failures = grid.failures()
        target = None if first_failure else self.selected
        if target is None or target not in self.state.tests or not grid.is_open(target):
            target = failures[0] if failures else grid.first_test()
        if target is None:
            return
        focused = self.screen.focused
        if first_failure and focused is not None and grid not in focused.ancestors:
            # The user is typing a filter or reading the tables: the cursor goes to the
            # failure, the focus stays (enter in the filter, or tab, lands on it).
            if grid.reveal(target, focus=False):
                self.selected = target
            return
        grid.reveal(target, unfold=first_failure)

    @on(TestList.Highlighted)
    def _highlighted(self, event: TestList.Highlighted) -> None:
        self.selected = event.nodeid
        self._redraw = True

    @on(TestList.Chosen)
    def _open_test(self, event: TestList.Chosen) -> None:
        self.open_test(event.nodeid)

    def open_test(self, nodeid: str) -> None:
        test = self.state.tests.get(nodeid)
        if test is not None:
            recent = self.launcher.recent_durations(nodeid)
            tables = self.query_one(LiveTables)
            traced = tables.traced  # no row carries a trace: no section
            captured = self._test_rows.captured.get(nodeid) if test.failed and traced else None
            view = tables.view if traced else None
            self.push_screen(
                TestDetailScreen(test, self.state_dir, recent, captured=captured, view=view)
            )

    @on(TestDetailScreen.Step)
    def _step_detail(self, event: TestDetailScreen.Step) -> None:
        failures = self.query_one(PaneGrid).failures()
        if not failures:
            self.notify("No failures to go to.")
            return
        here = failures.index(event.nodeid) if event.nodeid in failures else -1
        target = failures[(here + event.direction) % len(failures)]
        self.pop_screen()
        self.selected = target
        self.query_one(PaneGrid).reveal(target)
        self.open_test(target)

    # -- screens ---------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_sections(), [RERUN_POLICY]))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            # Textual lists Quit already; ctrl+c and escape are keys, not commands.
            if not isinstance(binding, Binding) or binding.action in ("quit", "interrupt"):
                continue
            if binding.action == "clear_filter":
                continue
            yield SystemCommand(
                binding.description,
                f"{binding.description} (key: {binding.key_display or binding.key})",
                lambda action=binding.action: self.run_action(action),
            )

    # -- drawing ---------------------------------------------------------------

    def draw(self, now: float | None = None) -> None:
        """Draw the latest state; only tests that changed since the last frame are touched."""
        state = self.state
        now = time.time() if now is None else now
        try:
            header = self.query_one(RunHeader)
            grid = self.query_one(PaneGrid)
        except NoMatches:  # the app is shutting down and its widgets are gone
            return
        header.show(state, self.scope, now, self._watch_line())
        if isinstance(self.screen, RunTimelineScreen):
            self.screen.show(state, self.trace_calls, now)
            if now - self._calls_read_at >= TRACE_CALLS_SECONDS:
                self._calls_read_at = now
                self._read_trace_calls()
        selected = state.tests.get(self.selected) if self.selected else None
        self.query_one(StatusLine).show(state, selected, now)
        self.query_one(LiveTables).show_test(
            selected.trace_id if selected else None, selected.nodeid if selected else ""
        )
        # `behind`: a pane still waits for its turn (panes take turns while a run streams);
        # without this frame it would wait for the next event, minutes for a slow test.
        if state is not self._rendered or self._redraw or grid.behind:
            dirty, self._dirty = self._dirty, set()
            self._redraw = False
            # Someone else set `state` (a test, a snapshot): let the grid compare states.
            grid.show(state, dirty if state is self._folded else None)
            self.query_one(ProblemsPanel).show(state, self.launcher.paths)
            self._rendered = state
        self._keep_focus(state)

    def _watch_line(self) -> str:
        """The header's word for watch mode, with what it queued or found nothing for."""
        if self._watch_starting or (self.watching and not self.watch_ready):
            return "watch: reading the imports…"
        if not self.watching or self.watch_session is None:
            return ""
        status = self.watch_session.status
        return "watching" if status in ("watching", self.scope) else f"watching · {status}"

    def _keep_focus(self, state: RunState) -> None:
        """When a run has ended, the first failure; never a widget that is gone; never none."""
        main = self.screen_stack[0]
        if state.finished and self._focus_after_run and not self.running:
            self._focus_after_run = False
            self.call_after_refresh(self._focus_tests, first_failure=True)
        elif main.focused is not None and not main.focused.is_attached:
            main.set_focus(None)  # Textual could leave it on a removed pane (see PaneGrid)
            self.call_after_refresh(self._focus_tests, if_unfocused=True)
        elif main.focused is None and self.query_one(PaneGrid).panes:
            # After the refresh a `/` typed meanwhile has put the focus in the filter: keep it.
            self.call_after_refresh(self._focus_tests, if_unfocused=True)


# App keys that mean nothing on the detail and help screens.
_MAIN_SCREEN_ONLY = frozenset(
    {"filter", "failures_only", "clear_filter", "toggle_tables", "toggle_test_rows", "timeline"}
)


def _planned(plan: Plan) -> Callable[[], Plan | None]:
    return lambda: plan


def rerun_scope(statuses: Iterable[str]) -> str:
    """`rerun of 2 failed tests`, `rerun of 1 failed and 2 interrupted tests`: a test the
    run died in is not called failed (errors are failures, as `n` and `o` count them)."""
    listed = list(statuses)
    failed = sum(1 for s in listed if is_failed(s))
    interrupted = len(listed) - failed
    words = [f"{n} {word}" for n, word in ((failed, "failed"), (interrupted, "interrupted")) if n]
    return f"rerun of {' and '.join(words)} test{'' if len(listed) == 1 else 's'}"


def help_sections() -> list[Section]:
    """Every key, from the bindings of the app and of each widget that has keys."""
    return [
        ("Everywhere", keys_of(DashboardApp.BINDINGS)),
        ("In a pane", keys_of(TestList.BINDINGS) + keys_of(GroupLine.BINDINGS)),
        ("On a test's detail", keys_of(TestDetailScreen.BINDINGS)),
        ("On the run timeline", keys_of(RunTimelineScreen.BINDINGS)),
        (
            "On the tables",
            [
                *keys_of(LiveTables.BINDINGS),
                ("up/down", "move between rows (the cursor stays on its row as rows arrive)"),
                ("enter", "the row in full: arguments and result, a session's calls"),
                ("pageup/pagedown", "at the first or last row: the previous or next page"),
            ],
        ),
        (
            "Moving around",
            [
                ("tab/shift+tab", "next/previous pane, the tables"),
                ("ctrl+p", "command palette: every action by name"),
                ("ctrl+q", "quit at once"),
            ],
        ),
    ]


def run_app(options: Options) -> int:
    """Open the dashboard; the exit status is that of the last run that ended by itself."""
    with Launcher(options, cwd=Path.cwd()) as launcher:
        app = DashboardApp(launcher)
        status = app.run()
        return 0 if status is None else status
