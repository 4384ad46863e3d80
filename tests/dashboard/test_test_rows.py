"""Each test connected to the service rows it made (Pilot, real runs of tests/fixtures/traced).

The fixture suites call the real service in-process, each test in the trace the plugin
makes for it, on the database given with --database-url: the run's database, so these
run on SQLite and again on PostgreSQL. That database is shared by the run's tests, so
every count here is of rows carrying one test's trace id, or taken from before.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.db_views.base import DEFAULT_ROW_LIMIT, DatabaseView
from mcp_dashboard.db_views.factory import open_view
from mcp_dashboard.db_views.traces import TraceRows
from mcp_dashboard.screens.test_detail import TestDetailScreen
from mcp_dashboard.state import PhaseResult, SessionsLeft, TestState
from mcp_dashboard.status import TestStatus
from mcp_dashboard.widgets.test_rows import TestRows
from mcp_dashboard.widgets.what_it_did import WhatItDid
from tests.dashboard.live_db import execute, totals
from tests.dashboard.pilot import AppPilot, dashboard, finished, grid, screen_lines, tables
from tests.dashboard.test_trace_rows import write_traced
from tests.toolkit import until

LEAKS = "traced/test_leaks.py::"
CLOSES, FORGETS, CLIENT_ONLY = (
    f"{LEAKS}test_closes_its_session",
    f"{LEAKS}test_forgets_to_close_a_session",
    f"{LEAKS}test_registers_a_client_only",
)
SNAP = "traced/test_failure_snapshot.py::"
FAILS, LATER = f"{SNAP}test_fails_in_an_open_session", f"{SNAP}test_later_uses_the_same_session"


def rows_of(app: DashboardApp) -> TestRows:
    return app.query_one(TestRows)


def all_read(app: DashboardApp, *nodeids: str) -> bool:
    """The rows of these tests were read (each test is read once, when it finished)."""
    done = rows_of(app).done
    return all((n, app.state.tests[n].trace_id) in done for n in nodeids if n in app.state.tests)


def counts(app: DashboardApp) -> tuple[int, int, int]:
    """Rows shown in the Clients, Sessions and Executions tables."""
    found = (app.query_one(f"#table-{n}", DataTable).row_count for n in TABLE_NAMES)
    clients, sessions, executions = found
    return clients, sessions, executions


TABLE_NAMES = ("clients", "sessions", "executions")


async def select(app: DashboardApp, pilot: AppPilot, nodeid: str) -> None:
    grid(app).reveal(nodeid)
    await until(lambda: app.selected == nodeid, f"{nodeid} selected", pilot=pilot)
    app.draw()


def status_line(app: DashboardApp) -> str:
    return str(app.query_one("#tables-status", Static).render())


async def test_selecting_a_test_shows_its_rows_and_only_the_leak_is_marked(
    database_url: str, tmp_path: Path
) -> None:
    argv = ("traced/test_leaks.py", "--database-url", database_url)
    async with dashboard(tmp_path, *argv) as (app, pilot):
        await finished(app, pilot)
        await until(lambda: all_read(app, CLOSES, FORGETS, CLIENT_ONLY), "rows read", pilot=pilot)
        app.draw()
        await pilot.pause()
        assert {n: t.leaked != () for n, t in app.state.tests.items()} == {
            CLOSES: False,
            FORGETS: True,
            CLIENT_ONLY: False,
        }
        marked = [line for line in screen_lines(app) if " leak " in line]
        assert len(marked) == 1 and "test_forgets_to_close_a_session" in marked[0]

        live = tables(app)
        await until(lambda: live.traced, "the tables see traced rows", pilot=pilot)
        await select(app, pilot, CLOSES)
        await until(lambda: counts(app) == (1, 1, 3), "the first test's rows", pilot=pilot)
        assert "1 of 1 clients · 1 of 1 sessions · 3 of 3 executions" in status_line(app)
        scope = str(app.query_one("#tables-scope", Static).render())
        assert scope.startswith(f"Rows of this test: {CLOSES}")
        executions = app.query_one("#table-executions", DataTable)
        assert [executions.get_row_at(i)[2] for i in range(3)] == ["echo"] * 3
        # The "test" column (before the error): the test whose trace made the row.
        assert [executions.get_row_at(i)[7] for i in range(3)] == ["test_closes_its_session"] * 3

        await select(app, pilot, FORGETS)
        await until(lambda: counts(app) == (1, 1, 2), "the forgetful test's rows", pilot=pilot)
        await select(app, pilot, CLIENT_ONLY)
        await until(lambda: counts(app) == (1, 0, 0), "a client, nothing else", pilot=pilot)

        everything = totals(database_url)
        await pilot.press("c")
        assert not live.this_test
        # The database is the session's: earlier tests' rows are there too, one page shown.
        shown = min(everything[2], DEFAULT_ROW_LIMIT)
        await until(
            lambda: f"{shown:,} of {everything[2]:,} executions" in status_line(app),
            "every row again",
            pilot=pilot,
        )
        assert str(app.query_one("#tables-scope", Static).render()).startswith("All rows")


async def test_a_failures_rows_stay_as_they_were_when_it_failed(
    database_url: str, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    argv = ("traced/test_failure_snapshot.py", "--database-url", database_url)
    async with dashboard(tmp_path, *argv, env={"FIXTURE_GATE": str(gate)}) as (app, pilot):
        rows = rows_of(app)
        await until(lambda: FAILS in rows.captured, "the failure's rows captured", pilot=pilot)
        captured = rows.captured[FAILS]
        [session] = captured.sessions
        assert (session.status, session.requests, len(captured.calls)) == ("open", 1, 1)
        gate.touch()  # now the later test uses the same session: 2 more calls, then closes it
        await finished(app, pilot)
        [(status, requests)] = execute(
            database_url,
            "SELECT status, request_count FROM sessions WHERE id = :id",
            {"id": session.session_id},
        )
        assert (status, requests) == ("closed", 3)

        app.open_test(FAILS)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TestDetailScreen)
        section = screen.query_one(WhatItDid)
        assert section.rows is captured and section.captured
        text = str(screen.query_one("#did-sessions", Static).render())
        assert "open" in text and "1 request " in text and "LEAK" in text
        assert "(as they were when it failed)" in str(
            screen.query_one("#did-summary", Static).render()
        )
        await pilot.press("escape")

        await until(lambda: all_read(app, LATER), "the later test's rows", pilot=pilot)
        app.open_test(LATER)  # it passed: its rows are read now
        await pilot.pause()
        later = app.screen.query_one(WhatItDid)
        await until(lambda: later.rows is not None, "the later test's rows", pilot=pilot)
        assert isinstance(later.rows, TraceRows)
        assert (len(later.rows.calls), later.rows.sessions, later.captured) == (2, (), False)


class RowsHost(App[None]):
    """Only the reader of test rows, on a view of the run's database."""

    def __init__(self, view: DatabaseView) -> None:
        super().__init__()
        self.view = view
        self.left: list[SessionsLeft] = []

    def compose(self) -> ComposeResult:
        yield TestRows(lambda: self.view)

    @on(TestRows.Read)
    def _read(self, event: TestRows.Read) -> None:
        self.left.extend(event.left)


def ended(nodeid: str, trace_id: str, at: float, *, failed: bool = False) -> TestState:
    phase = PhaseResult(
        when="call", outcome="failed" if failed else "passed", category="", duration=0.1
    )
    status = TestStatus.FAILED if failed else TestStatus.PASSED
    return TestState(
        nodeid=nodeid,
        critical_path="p",
        status=status,
        phases=(phase,),
        trace_id=trace_id,
        finished_at=at,
    )


async def test_many_finished_tests_are_read_a_few_dozen_traces_at_a_time(database_url: str) -> None:
    traced = await write_traced(database_url)
    view = open_view(database_url)
    host = RowsHost(view)
    try:
        async with host.run_test() as pilot:
            rows = host.query_one(TestRows)
            quiet = [ended(f"quiet{i}", f"{i + 1:032x}", traced.finished) for i in range(120)]
            leaks = ended("leaks", traced.leaking_trace, traced.finished)
            fails = ended("fails", traced.closed_trace, traced.finished, failed=True)
            for test in [*quiet, leaks, fails]:
                rows.seen(test)
            await until(lambda: len(rows.done) == 122, "every test read", pilot=pilot)
            # The first test alone (nothing else was queued yet), then 121 traces by 50.
            assert rows.reads == 1 + 3
            assert [(f.nodeid, f.sessions) for f in host.left] == [
                ("leaks", (traced.session_left_open,))
            ]
            assert list(rows.captured) == ["fails"]
            assert len(rows.captured["fails"].calls) == 3
    finally:
        view.close()
