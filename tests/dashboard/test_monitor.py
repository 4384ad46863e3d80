"""Monitor mode: the live tables of a service database, updating while the service works."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from mcp_dashboard.monitor import MonitorApp, database_file
from mcp_service import MCPService
from mcp_service.config import Settings


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.05)


async def test_monitor_follows_a_working_service(tmp_path: Path) -> None:
    path = tmp_path / "service.db"
    service = MCPService(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    await service.initialize()
    try:
        app = MonitorApp(path)
        async with app.run_test(size=(140, 40)) as pilot:
            status = app.query_one("#tables-status", Static)
            executions = app.query_one("#table-executions", DataTable)
            clients = app.query_one("#table-clients", DataTable)
            await until(pilot, lambda: "0 of 0 executions" in str(status.render()))

            registered = await service.register_client("Cursor on laptop", "basic")
            session = await service.create_session(registered.client_id)
            await service.execute_tool(
                session.session_id, "echo", {"message": "hi"}, client_id=registered.client_id
            )
            await until(pilot, lambda: executions.row_count == 1)
            assert clients.get_row_at(0)[1] == "Cursor on laptop"
            assert executions.get_row_at(0)[2:4] == ["echo", "success"]

            executions.focus()
            executions.move_cursor(row=0)
            first_key = executions.coordinate_to_cell_key(executions.cursor_coordinate).row_key
            for n in range(3):
                await service.execute_tool(
                    session.session_id, "echo", {"message": str(n)}, client_id=registered.client_id
                )
            await until(pilot, lambda: executions.row_count == 4)
            # Newest first, and the cursor stayed on the row it was on.
            assert executions.coordinate_to_cell_key(executions.cursor_coordinate).row_key == (
                first_key
            )
            assert executions.cursor_row == 3
            assert "1 of 1 clients · 1 of 1 sessions · 4 of 4 executions" in str(status.render())
    finally:
        await service.shutdown()


def test_monitor_needs_a_sqlite_file() -> None:
    assert database_file("sqlite+aiosqlite:////tmp/x.db") == Path("/tmp/x.db")
    with pytest.raises(ValueError, match="postgresql\\+asyncpg is not one yet"):
        database_file("postgresql+asyncpg://localhost/test")


def run_monitor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcp_dashboard.cli", "--monitor", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_monitor_cli_refuses_bad_input_clearly(tmp_path: Path) -> None:
    other = run_monitor("--database-url", "postgresql+asyncpg://localhost/test")
    assert other.returncode == 2
    assert "monitor mode reads a SQLite database file" in other.stderr
    memory = run_monitor("--database-url", "sqlite+aiosqlite:///:memory:")
    assert (memory.returncode, "in-memory SQLite is not supported" in memory.stderr) == (2, True)
    no_tty = run_monitor("--database-url", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert (no_tty.returncode, no_tty.stderr.strip()) == (
        2,
        "mcp-dashboard: error: --monitor needs a terminal",
    )
