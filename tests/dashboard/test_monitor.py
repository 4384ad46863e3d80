"""Monitor mode: the live tables of a service database, updating while the service works.

The Pilot test takes `database_url`, so it watches a SQLite file and, in the
PostgreSQL pass, a PostgreSQL database. That database is shared by the run's
tests: rows are counted from what was there before.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static, TabbedContent

from mcp_dashboard.db_views.factory import UnsupportedDatabase
from mcp_dashboard.monitor import MonitorApp, describe
from mcp_dashboard.screens.row_detail import RowDetailScreen
from mcp_service import MCPService
from mcp_service.config import Settings
from mcp_service.db import sqlite_file
from mcp_service.errors import MCPServiceError
from tests.dashboard.live_db import execute, focus, plus, status_counts, totals
from tests.toolkit import until


def row_keys(table: DataTable[str]) -> list[str]:
    return [
        table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value or ""
        for i in range(table.row_count)
    ]


async def test_monitor_follows_a_working_service(database_url: str) -> None:
    service = MCPService(Settings(database_url=database_url))
    await service.initialize()
    before = totals(database_url)
    name = f"Cursor {uuid.uuid4().hex[:6]}"
    try:
        app = MonitorApp(database_url)
        async with app.run_test(size=(140, 40)) as pilot:
            status = app.query_one("#tables-status", Static)
            executions = app.query_one("#table-executions", DataTable)
            clients = app.query_one("#table-clients", DataTable)
            path = sqlite_file(database_url)
            url = make_url(database_url)
            shown = str(path) if path else url.render_as_string(hide_password=True)
            await until(
                lambda: status_counts(*before) in str(status.render()),
                "the status line to say so",
                pilot=pilot,
            )
            assert str(status.render()).rstrip().endswith(shown)

            registered = await service.register_client(name, "basic")
            session = await service.create_session(registered.client_id)
            first = await service.execute_tool(
                session.session_id, "echo", {"message": "hi"}, client_id=registered.client_id
            )
            await until(
                lambda: first.execution_id in row_keys(executions),
                "the status line to say so",
                pilot=pilot,
            )
            assert row_keys(executions)[0] == first.execution_id  # newest first
            assert executions.get_row_at(0)[2:4] == ["echo", "success"]
            assert executions.get_row_at(0)[5] == name
            assert row_keys(clients)[0] == registered.client_id
            assert clients.get_row_at(0)[1:3] == [name, "basic"]

            executions.focus()
            executions.move_cursor(row=0)
            later = []
            for n in range(3):
                record = await service.execute_tool(
                    session.session_id, "echo", {"message": str(n)}, client_id=registered.client_id
                )
                later.append(record.execution_id)
            expected = status_counts(*plus(before, (1, 1, 4)))
            await until(
                lambda: expected in str(status.render()),
                "the status line to say so",
                pilot=pilot,
            )
            # Newest first, and the cursor stayed on the row it was on.
            assert row_keys(executions)[:4] == [*reversed(later), first.execution_id]
            cursor = executions.coordinate_to_cell_key(executions.cursor_coordinate).row_key
            assert (cursor.value, executions.cursor_row) == (first.execution_id, 3)
    finally:
        await service.shutdown()


def test_describe_names_the_database_without_its_password() -> None:
    assert describe("sqlite+aiosqlite:////tmp/x.db") == "/tmp/x.db"
    assert describe(Path("/tmp/y.db")) == "/tmp/y.db"
    assert (
        describe("postgresql+asyncpg://svc:s3cret@127.0.0.1/live")
        == "postgresql+asyncpg://svc:***@127.0.0.1/live"
    )
    with pytest.raises(UnsupportedDatabase, match="mysql is not supported"):
        describe("mysql+aiomysql://localhost/test")


def run_monitor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcp_dashboard.cli", "--monitor", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_monitor_cli_refuses_bad_input_clearly(tmp_path: Path) -> None:
    other = run_monitor("--database-url", "mysql+aiomysql://me:s3cret@localhost/test")
    assert (other.returncode, other.stderr.strip()) == (
        2,
        "mcp-dashboard: error: the dashboard reads a SQLite file or PostgreSQL; "
        "mysql is not supported",
    )
    memory = run_monitor("--database-url", "sqlite+aiosqlite:///:memory:")
    assert (memory.returncode, "in-memory SQLite is not supported" in memory.stderr) == (2, True)
    for url in (
        f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        "postgresql+asyncpg://svc:s3cret@127.0.0.1/live",  # accepted: only the TTY is missing
    ):
        no_tty = run_monitor("--database-url", url)
        assert (no_tty.returncode, no_tty.stderr.strip()) == (
            2,
            "mcp-dashboard: error: --monitor needs a terminal",
        )


async def write_calls(url: str, name: str, calls: int, *, denied: int = 0) -> tuple[str, str]:
    """A client and session with `calls` echoes and `denied` refused admin calls."""
    service = MCPService(Settings(database_url=url))
    await service.initialize()
    try:
        registered = await service.register_client(name, "basic")
        session = await service.create_session(registered.client_id)
        for n in range(calls):
            await service.execute_tool(
                session.session_id, "echo", {"message": f"call {n}"}, client_id=registered.client_id
            )
        for _ in range(denied):
            with pytest.raises(MCPServiceError, match="lacks the admin permission"):
                await service.execute_tool(
                    session.session_id,
                    "revoke_client",
                    {"client_id": "x" * 200},
                    client_id=registered.client_id,
                )
        return registered.client_id, session.session_id
    finally:
        await service.shutdown()


@pytest.mark.sqlite_only
async def test_monitor_shows_rates_pages_and_the_detail_of_a_row(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}"
    _, session_id = await write_calls(url, "Paged Co", 5, denied=1)
    long_error = "refused: " + "a reason that goes on " * 20
    execute(
        url,
        "UPDATE tool_executions SET error_message = :e WHERE status = 'denied'",
        {"e": long_error},
    )
    app = MonitorApp(url, row_limit=2)
    async with app.run_test(size=(200, 40)) as pilot:
        status = app.query_one("#tables-status", Static)
        executions = app.query_one("#table-executions", DataTable)
        await until(lambda: "2 of 6 executions" in str(status.render()), "page 1", pilot=pilot)
        rates = str(app.query_one("#tables-rates", Static).render())
        assert rates == (
            "last minute: echo 0.08/s · 0% errors   revoke_client 0.02/s · 100% errors"
        )
        # The refused call's long error takes the width the other columns leave.
        [error] = [
            executions.get_row_at(i)[7] for i in range(2) if executions.get_row_at(i)[3] == "denied"
        ]
        assert len(error) > 100 and error.endswith("…")

        executions.focus()
        await pilot.pause()
        executions.move_cursor(row=1)
        await pilot.press("pagedown")  # on the last row: the next page
        await until(lambda: "3–4 of 6 executions" in str(status.render()), "page 2", pilot=pilot)
        assert (executions.row_count, executions.cursor_row) == (2, 0)
        await pilot.press("pageup")  # on the first row: back
        await until(
            lambda: "2 of 6 executions" in str(status.render()), "page 1 again", pilot=pilot
        )
        assert executions.cursor_row == 1  # its last row: where the page was left

        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RowDetailScreen), "the detail", pilot=pilot)
        detail = app.screen
        assert isinstance(detail, RowDetailScreen)
        assert detail.detail.error is None
        sections = dict(detail.detail.sections)
        assert sections["Arguments"] == '{\n  "message": "call 4"\n}'
        assert sections["Result"].startswith("{\n  ")
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, RowDetailScreen), "back", pilot=pilot)

        app.query_one(TabbedContent).active = "tab-sessions"
        sessions = app.query_one("#table-sessions", DataTable)
        await focus(pilot, sessions)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RowDetailScreen), "the session", pilot=pilot)
        detail = app.screen
        assert isinstance(detail, RowDetailScreen)
        assert detail.detail.title == f"session {session_id}"
        calls = dict(detail.detail.sections)["Calls (newest first, 6 shown)"].splitlines()
        assert [line.split()[1:3] for line in calls] == [
            ["revoke_client", "denied"],
            *[["echo", "success"]] * 5,
        ]
