"""The Textual dashboard: live critical-path panes, live database tables, rerun failed.

The app renders a `RunState` and nothing else. A worker folds the runner's events
into the state as they arrive; a timer draws the latest state 15 times a second,
touching only the tests that changed since the last frame, so a burst of
thousands of events costs one frame, not thousands of redraws.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.worker import Worker, WorkerState

from mcp_dashboard.launch import Launcher, exit_code
from mcp_dashboard.runner import Run
from mcp_dashboard.screens.help import HelpScreen
from mcp_dashboard.screens.test_detail import TestDetailScreen
from mcp_dashboard.state import RunState, TestState, reduce
from mcp_dashboard.widgets.labels import FAILED
from mcp_dashboard.widgets.live_tables import LiveTables
from mcp_dashboard.widgets.path_pane import PathPane
from mcp_dashboard.widgets.run_header import RunHeader

FRAME_SECONDS = 1 / 15
# What `f` reruns: the failures, and a test the run died during (SIGKILL, cancel).
RERUN = FAILED | {"interrupted"}


def changed_tests(before: RunState, after: RunState) -> list[str]:
    """Node ids whose test state differs (the state is immutable: identity says it all)."""
    if before.tests is after.tests:
        return []
    old = before.tests
    return [nodeid for nodeid, test in after.tests.items() if old.get(nodeid) is not test]


class DashboardApp(App[int]):
    CSS_PATH = "dashboard.tcss"
    TITLE = "mcp-dashboard"
    AUTO_FOCUS = None  # letters are commands until "/" opens the filter

    BINDINGS = [
        Binding("f", "rerun_failed", "Rerun failed"),
        Binding("a", "rerun_all", "Run all"),
        Binding("x", "cancel_run", "Cancel run"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("o", "failures_only", "Only failures"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, launcher: Launcher, *, autostart: bool = True) -> None:
        super().__init__()
        self.launcher = launcher
        self.autostart = autostart
        self.state = RunState()
        self.run_handle: Run | None = None
        self.runs_finished = 0
        self.filter_text = ""
        self.failures_only = False
        self._rendered: RunState | None = None
        self._dirty: set[str] = set()
        self._rebuild = True
        self._pane_of: dict[str, str] = {}
        self._order_of: tuple[str, ...] | None = None
        self._positions: dict[str, int] = {}
        self._drawing = asyncio.Lock()  # the frame timer and an explicit draw never interleave
        # For the latency benchmark: when the last event arrived, when its run was drawn final.
        self.last_event_at: float | None = None
        self.final_drawn_at: float | None = None

    # -- layout ----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield Input(placeholder="filter tests by name (enter: keep, escape: clear)", id="filter")
        yield Grid(id="panes")
        with Vertical(id="tables"):
            yield LiveTables(id="live-tables")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.set_interval(FRAME_SECONDS, self.draw)
        if not self.autostart:
            return
        if getattr(self.launcher.args, "rerun_failed", False):
            message, failed = self.launcher.last_failures()
            self.notify(message)
            if failed:
                self.start_run(failed)
            return
        self.start_run(self.launcher.initial_targets())

    # -- running ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.run_handle is not None

    def start_run(self, targets: list[str]) -> None:
        self.state = RunState()
        self.last_event_at = self.final_drawn_at = None
        self._rebuild = True
        self.run_worker(self._drive(targets), group="run", exclusive=True, exit_on_error=False)

    async def _drive(self, targets: list[str]) -> None:
        config = self.launcher.config(targets)
        record = self.launcher.begin(config)
        async with Run(config) as run:
            self.run_handle = run
            self.query_one(LiveTables).follow(run.database_url)  # SQLite file or PostgreSQL
            try:
                async for event in run:
                    self.last_event_at = time.monotonic()
                    before, self.state = self.state, reduce(self.state, event)
                    nodeid = getattr(event, "nodeid", None)
                    if nodeid:
                        self._dirty.add(nodeid)
                    else:  # collection, finish, history: whichever tests they changed
                        self._dirty.update(changed_tests(before, self.state))
            finally:
                self.run_handle = None
        before, self.state = self.state, self.launcher.finish(record, self.state)
        self._dirty.update(changed_tests(before, self.state))
        self.runs_finished += 1

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "run" and event.state == WorkerState.ERROR:
            self.run_handle = None
            self.notify(f"The run failed to start: {event.worker.error}", severity="error")

    def _refuse_while_running(self) -> bool:
        if self.running:
            self.notify("A run is in progress: press x to cancel it first.", severity="warning")
            return True
        return False

    def action_rerun_failed(self) -> None:
        if self._refuse_while_running():
            return
        failed = [t.nodeid for t in self.state.tests_in_order() if t.status in RERUN]
        if not failed:
            self.notify("No failed tests to rerun.")
            return
        self.notify(f"Rerunning {len(failed)} failed test{'s' * (len(failed) != 1)}.")
        self.start_run(self.launcher.node_targets(self.state, failed))

    def action_rerun_all(self) -> None:
        if not self._refuse_while_running():
            self.start_run(self.launcher.initial_targets())

    async def action_cancel_run(self) -> None:
        if self.run_handle is None:
            self.notify("No run in progress.")
            return
        await self.run_handle.cancel()

    # -- filtering -------------------------------------------------------------

    def visible(self, test: TestState) -> bool:
        if self.failures_only and test.status not in FAILED:
            return False
        return not self.filter_text or self.filter_text in test.nodeid.lower()

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip().lower()
        self._rebuild = True

    @on(Input.Submitted, "#filter")
    def _filter_kept(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = bool(field.value)
        self.set_focus(None)

    def key_escape(self) -> None:
        field = self.query_one("#filter", Input)
        if field.display:
            field.value = ""
            field.display = False
            self.set_focus(None)

    def action_failures_only(self) -> None:
        self.failures_only = not self.failures_only
        self._rebuild = True
        self.notify("Showing only failures." if self.failures_only else "Showing all tests.")

    # -- screens ---------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    @on(PathPane.TestChosen)
    def _open_test(self, event: PathPane.TestChosen) -> None:
        test = self.state.tests.get(event.nodeid)
        if test is not None:
            recent = self.launcher.recent_durations(event.nodeid)
            self.push_screen(TestDetailScreen(test, recent))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            yield SystemCommand(
                binding.description,
                f"{binding.description} (key: {binding.key_display or binding.key})",
                lambda action=binding.action: self.run_action(action),
            )

    # -- drawing ---------------------------------------------------------------

    async def draw(self, now: float | None = None) -> None:
        """Draw the latest state; only tests that changed since the last frame are touched."""
        async with self._drawing:
            await self._draw(now)

    async def _draw(self, now: float | None) -> None:
        state = self.state
        try:
            header = self.query_one(RunHeader)
            header.show(state, now if now is not None else time.time())
        except NoMatches:  # the app is shutting down and its widgets are gone
            return
        if state is self._rendered and not self._rebuild:
            return
        rebuild, dirty = self._rebuild, self._dirty
        self._rebuild, self._dirty = False, set()
        panes = await self._panes(state, fresh=rebuild)
        if rebuild:
            by_path: dict[str, list[TestState]] = defaultdict(list)
            for test in state.tests_in_order():
                by_path[test.critical_path].append(test)
                self._pane_of[test.nodeid] = test.critical_path
            for path, pane in panes.items():
                pane.rebuild(by_path.get(path, []), self.visible)
        else:
            changed: dict[str, list[TestState]] = defaultdict(list)
            position = self._position(state)
            for nodeid in sorted(dirty, key=lambda n: position.get(n, len(position))):
                test = state.tests.get(nodeid)
                if test is None:
                    continue
                moved_from = self._pane_of.get(nodeid)
                if moved_from is not None and moved_from != test.critical_path:
                    panes[moved_from].sync([test], lambda _t: False)
                self._pane_of[nodeid] = test.critical_path
                changed[test.critical_path].append(test)
            for path, tests in changed.items():
                panes[path].sync(tests, self.visible)
        active = state.status in ("pending", "running")
        for path, pane in panes.items():
            stats = state.paths.get(path)
            if stats is not None:
                pane.show_stats(stats, active)
        self._rendered = state
        if state.finished and self.final_drawn_at is None:
            self.final_drawn_at = time.monotonic()

    def _position(self, state: RunState) -> dict[str, int]:
        """Each test's place in the run order, so new tests are listed in collection order."""
        if self._order_of is not state.order:
            self._order_of = state.order
            self._positions = {nodeid: i for i, nodeid in enumerate(state.order)}
        return self._positions

    async def _panes(self, state: RunState, *, fresh: bool) -> dict[str, PathPane]:
        """One pane per critical path with tests, in the state's order; new paths get new panes."""
        grid = self.query_one("#panes", Grid)
        existing = {pane.path: pane for pane in grid.query(PathPane)}
        wanted = [p for p in state.path_order if state.paths[p].counts.total]
        for path, pane in existing.items():
            if path not in wanted:
                pane.remove()
        panes = {}
        for path in wanted:
            pane = existing.get(path)
            if pane is None:
                pane = PathPane(path)
                await grid.mount(pane)
            panes[path] = pane
        if fresh:
            self._pane_of.clear()
        return panes


def run_app(args: argparse.Namespace) -> int:
    """Open the dashboard on the suite `args` name; the exit status is the last run's."""
    with Launcher(args, cwd=Path.cwd()) as launcher:
        app = DashboardApp(launcher)
        app.run()
        return exit_code(app.state)
