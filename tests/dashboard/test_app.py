"""The Textual dashboard driving real pytest runs of the fixture suites (Pilot, no mocks)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.cli import build_parser
from mcp_dashboard.launch import Launcher
from mcp_dashboard.screens.help import HelpScreen
from mcp_dashboard.screens.test_detail import TestDetailScreen
from mcp_dashboard.widgets.path_pane import PathPane
from tests.dashboard.helpers import FIXTURES

SIZE = (160, 48)


@asynccontextmanager
async def dashboard(
    tmp_path: Path, *argv: str, env: dict[str, str] | None = None, autostart: bool = True
) -> AsyncIterator[tuple[DashboardApp, Pilot]]:
    args = build_parser().parse_args([*argv, "--history", str(tmp_path / "history.sqlite3")])
    with Launcher(args, cwd=FIXTURES, state_dir=tmp_path / "state", env=env) as launcher:
        app = DashboardApp(launcher, autostart=autostart)
        async with app.run_test(size=SIZE) as pilot:
            yield app, pilot


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.05)


async def finished(app: DashboardApp, pilot: Pilot, runs: int = 1) -> None:
    await until(pilot, lambda: app.runs_finished >= runs and not app.running)
    await app.draw()  # the frame after the last event
    await pilot.pause()


def pane(app: DashboardApp, path: str) -> PathPane:
    return next(p for p in app.query(PathPane) if p.path == path)


def tree_lines(app: DashboardApp, path: str) -> list[str]:
    """What a pane's tree shows: test lines and their step lines, in order."""
    lines = []
    for node in pane(app, path).tree.root.children:
        lines.append(node.label.plain)
        lines.extend(f"  {child.label.plain}" for child in node.children)
    return lines


def shown_tests(app: DashboardApp) -> set[str]:
    return {
        node.data
        for p in app.query(PathPane)
        for node in p.tree.root.children
        if node.data is not None
    }


async def test_panes_fill_with_outcomes_and_steps(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes") as (app, pilot):
        await finished(app, pilot)
        assert app.state.status == "failed"
        assert [p.path for p in app.query(PathPane)] == [
            "registration",
            "sessions",
            "tools",
            "outcomes/test_unmarked.py",
        ]
        registration = tree_lines(app, "registration")
        assert registration[0].startswith("✓ test_pass")
        assert registration[1:3] == ["  ✓ registered a client", "  ✓ stored only its hash"]
        assert registration[3].startswith("✗ test_fail")
        assert registration[4] == "  ✓ about to fail"
        assert [line.split()[:2] for line in tree_lines(app, "sessions")] == [
            ["s", "test_skip"],
            ["x", "test_xfail"],
            ["X", "test_xpass"],
        ]
        assert tree_lines(app, "tools")[0].startswith("E test_error_in_setup")
        assert pane(app, "registration").has_class("pane-failed")
        assert pane(app, "sessions").has_class("pane-passed")
        title = pane(app, "registration").query_one(".pane-title", Static)
        assert "2/2" in str(title.render())


async def test_live_tables_show_rows_from_the_real_database(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "service") as (app, pilot):
        await finished(app, pilot)
        tables = app.query_one("LiveTables")
        await until(
            pilot,
            lambda: (
                tables.last_snapshot is not None
                and tables.last_snapshot.ok
                and tables.last_snapshot.executions.total == 6
            ),
        )
        await pilot.pause()
        clients = app.query_one("#table-clients", DataTable)
        executions = app.query_one("#table-executions", DataTable)
        assert clients.row_count == 2
        names = sorted(clients.get_row_at(i)[1] for i in range(2))
        assert names == ["fixture client 0", "fixture client 1"]
        assert executions.row_count == 6
        assert {executions.get_row_at(i)[2] for i in range(6)} == {"echo"}
        assert all(clients.get_row_at(i)[4].startswith("pbkdf2-sha256:") for i in range(2))
        status = str(app.query_one("#tables-status", Static).render())
        assert "2 of 2 clients · 2 of 2 sessions · 6 of 6 executions" in status


async def test_f_reruns_exactly_the_failed_tests(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes") as (app, pilot):
        await finished(app, pilot)
        failed = {t.nodeid for t in app.state.tests.values() if t.status in ("failed", "error")}
        assert failed == {
            "outcomes/test_outcomes.py::test_fail",
            "outcomes/test_outcomes.py::test_error_in_setup",
        }
        await pilot.press("f")
        await finished(app, pilot, runs=2)
        assert set(app.state.tests) == failed
        assert app.state.collected == 2
        assert shown_tests(app) == failed


async def test_x_cancels_the_running_run_and_a_rerun_is_refused_meanwhile(
    tmp_path: Path,
) -> None:
    async with dashboard(tmp_path, "slow", env={"FIXTURE_STEP_PAUSE": "5"}) as (app, pilot):
        await until(pilot, lambda: any(t.steps for t in app.state.tests.values()))
        await pilot.press("a")  # refused: a run is in progress
        await pilot.pause()
        assert app.running and app.runs_finished == 0
        await pilot.press("x")
        await finished(app, pilot)
        assert app.state.status == "cancelled"
        [test] = app.state.tests.values()
        assert test.status == "interrupted"
        assert str(app.query_one("#run-status", Static).render()).startswith("CANCELLED")


async def test_filter_and_failures_only(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes") as (app, pilot):
        await finished(app, pilot)
        everything = shown_tests(app)
        assert len(everything) == 8
        await pilot.press("slash")
        assert app.query_one("#filter", Input).has_focus
        await pilot.press(*"xfail")
        await app.draw()
        assert shown_tests(app) == {"outcomes/test_outcomes.py::test_xfail"}
        await pilot.press("escape")
        await app.draw()
        assert shown_tests(app) == everything
        await pilot.press("o")
        await app.draw()
        assert shown_tests(app) == {
            "outcomes/test_outcomes.py::test_fail",
            "outcomes/test_outcomes.py::test_error_in_setup",
        }
        await pilot.press("o")
        await app.draw()
        assert shown_tests(app) == everything


async def test_enter_opens_the_failure_and_y_copies_its_traceback(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes", "-k", "test_fail") as (app, pilot):
        await finished(app, pilot)
        tree = pane(app, "registration").tree
        tree.focus()
        tree.move_cursor(tree.root.children[0])
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TestDetailScreen)
        assert screen.test.nodeid == "outcomes/test_outcomes.py::test_fail"
        assert "arithmetic is broken" in screen.traceback
        await pilot.press("y")
        assert app.clipboard == screen.traceback
        await pilot.press("escape")
        assert not isinstance(app.screen, TestDetailScreen)


async def test_help_lists_every_key(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes", autostart=False) as (app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        for description in (
            "Rerun failed",
            "Run all",
            "Cancel run",
            "Filter",
            "Only failures",
            "Help",
            "Quit",
        ):
            assert description in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_a_missing_database_file_is_survived(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "service", env={"FIXTURE_DB_DELAY": "1.5"}) as (app, pilot):
        status = app.query_one("#tables-status", Static)
        await until(pilot, lambda: "Database file not found" in str(status.render()))
        await finished(app, pilot)
        executions = app.query_one("#table-executions", DataTable)
        # The file appeared after the first polls; the tables recover and show every row.
        await until(pilot, lambda: executions.row_count == 6)
        assert "6 of 6 executions" in str(status.render())


async def test_a_killed_child_shows_aborted_and_a_rerun_still_works(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "killer") as (app, pilot):
        await finished(app, pilot)
        assert app.state.status == "aborted"
        assert str(app.query_one("#run-status", Static).render()).startswith("ABORTED")
        await pilot.press("a")
        await finished(app, pilot, runs=2)
        assert app.state.status == "aborted"


async def test_json_report_is_rewritten_after_every_run_reruns_included(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    async with dashboard(tmp_path, "outcomes", "--json-report", str(report)) as (app, pilot):
        await finished(app, pilot)
        first = json.loads(report.read_text())
        assert first["summary"]["total"] == 8
        await pilot.press("f")
        await finished(app, pilot, runs=2)
        second = json.loads(report.read_text())
        assert second["summary"]["total"] == 2
        assert {t["nodeid"] for t in second["tests"]} == {
            "outcomes/test_outcomes.py::test_fail",
            "outcomes/test_outcomes.py::test_error_in_setup",
        }


async def test_flaky_tests_are_marked_in_their_pane(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "history", env={"FIXTURE_FAIL": "0"}) as (app, pilot):
        await finished(app, pilot)
        assert "flaky" not in "".join(tree_lines(app, "sessions"))
    async with dashboard(tmp_path, "history", env={"FIXTURE_FAIL": "1"}) as (app, pilot):
        await finished(app, pilot)
        await until(pilot, lambda: app.state.tests_in_order()[0].history is not None)
        await app.draw()
        sessions = tree_lines(app, "sessions")
        assert sessions[0].startswith("✗ test_sometimes_fails")
        assert sessions[0].endswith("flaky")
        assert "flaky" not in "".join(tree_lines(app, "tools"))
