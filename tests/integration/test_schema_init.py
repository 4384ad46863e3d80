"""Several processes initializing one new database file at the same moment.

xdist workers sharing MCP_DATABASE_URL, or several service processes started
together, all find no tables and all try to create them; without the write lock
taken up front one of them fails with "database is locked".
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from mcp_service import MCPService
from mcp_service.config import Settings
from tests.databases import write_locked_elsewhere

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("lifecycle")]

RACERS = 6
ROUNDS = 8

INIT = """
import asyncio, sys, time
from mcp_service import MCPService
from mcp_service.config import Settings

async def main(folder, start, rounds):
    for n in range(rounds):
        time.sleep(max(0.0, start + 0.25 * n - time.time()))
        service = MCPService(Settings(database_url=f"sqlite+aiosqlite:///{folder}/race-{n}.db"))
        await service.initialize()
        await service.register_client("racer", "basic")
        await service.shutdown()

asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3])))
"""


def test_processes_racing_to_create_the_schema_all_succeed(tmp_path: Path) -> None:
    start = time.time() + 2.5  # after every interpreter has imported the service
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", INIT, str(tmp_path), str(start), str(ROUNDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(RACERS)
    ]
    results = [(r.wait(timeout=120), r.stderr.read() if r.stderr else "") for r in racers]
    assert [code for code, _ in results] == [0] * RACERS, [err[-600:] for _, err in results]
    for n in range(ROUNDS):
        engine = create_engine(f"sqlite:///{tmp_path}/race-{n}.db")
        with engine.connect() as conn:
            count: int = conn.exec_driver_sql("SELECT count(*) FROM clients").scalar_one()
        engine.dispose()
        assert count == RACERS


async def test_a_new_file_write_locked_by_another_process_is_waited_for(tmp_path: Path) -> None:
    """Switching a new file to WAL while another process holds its write lock fails
    at once, without SQLite's busy handler; the service must wait like any writer."""
    path = tmp_path / "held.db"
    with write_locked_elsewhere(path, 0.5):
        service = MCPService(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
        await service.initialize()
        try:
            await service.register_client("after the lock", "basic")
        finally:
            await service.shutdown()
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        names: list[str] = list(conn.exec_driver_sql("SELECT name FROM clients").scalars())
    engine.dispose()
    assert names == ["after the lock"]
