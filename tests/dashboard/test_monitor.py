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
from textual.widgets import DataTable, Static

from mcp_dashboard.db_views.factory import UnsupportedDatabase
from mcp_dashboard.monitor import MonitorApp, describe
from mcp_service import MCPService
from mcp_service.config import Settings
from mcp_service.db import sqlite_file
from tests.dashboard.live_db import plus, status_counts, totals
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
        "mcp-dashboard: error: the live tables read a SQLite file or PostgreSQL; "
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
