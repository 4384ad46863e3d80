"""Dashboard table refresh with 100,000 executions in the database, on SQLite and PostgreSQL.

Target: under 50 ms per refresh. Baseline, same run and same database: the
change check on an unchanged database (`PRAGMA data_version` on SQLite, the
transaction snapshot on PostgreSQL), which is what a poll costs when nothing
changed. PostgreSQL runs on a database made for this run on the server of
MCP_TEST_POSTGRES_URL (default: the local test server), dropped afterwards;
`--engine sqlite` skips it.

    python benchmarks/table_refresh.py [--engine sqlite|postgresql ...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import header, row

from mcp_dashboard.db_views.base import DatabaseView
from mcp_dashboard.db_views.factory import open_view
from mcp_service import MCPService
from mcp_service.config import Settings
from mcp_service.models import ToolExecution, utcnow

ROWS = 100_000
BATCH = 10_000


async def fill(url: str) -> None:
    service = MCPService(Settings(database_url=url))
    await service.initialize()
    registered = await service.register_client("bench", "basic")
    session = await service.create_session(registered.client_id)
    now = utcnow()
    # A history of one call per millisecond, oldest first: distinct start times, as real
    # calls have. (100k rows with one identical timestamp is a worst case for PostgreSQL,
    # whose index on started_at cannot break ties by id: ~40-100 ms there.)
    for start in range(0, ROWS, BATCH):
        async with service.database.write() as db:
            db.add_all(
                ToolExecution(
                    session_id=session.session_id,
                    client_id=registered.client_id,
                    tool_name="echo",
                    arguments={"message": str(i)},
                    result={"message": str(i)},
                    status="success",
                    duration_ms=0.1,
                    started_at=now - timedelta(milliseconds=ROWS - i),
                    finished_at=now - timedelta(milliseconds=ROWS - i),
                )
                for i in range(start, start + BATCH)
            )
    await service.shutdown()


def measure(engine: str, view: DatabaseView, runs: int = 20) -> None:
    refresh, unchanged = [], []
    assert view.poll() is not None  # connect, warm the caches
    for _ in range(runs):
        t = time.perf_counter()
        snap = view.poll(force=True)
        refresh.append(time.perf_counter() - t)
        assert snap is not None and snap.executions is not None, snap
        assert snap.executions.total == ROWS
        # PostgreSQL's signal is cluster-wide: a commit elsewhere can make this a refresh.
        t = time.perf_counter()
        if view.poll() is None:
            unchanged.append(time.perf_counter() - t)
    view.close()
    r50, u50 = statistics.median(refresh), statistics.median(unchanged)
    row(
        f"table refresh, 100k executions, {engine} (p50)",
        f"{r50 * 1e3:.1f} ms",
        "< 50 ms",
        f"unchanged check {u50 * 1e3:.3f} ms",
        f"{r50 / u50:.0f}x",
    )


def sqlite() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(fill(url))
        measure("sqlite", open_view(url))


def postgresql() -> None:
    from tests.databases import postgres_database

    with postgres_database("mcp_bench_tables") as url:
        asyncio.run(fill(url))
        measure("postgresql", open_view(url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", choices=["sqlite", "postgresql"])
    engines = parser.parse_args().engine or ["sqlite", "postgresql"]
    header()
    for engine in engines:
        {"sqlite": sqlite, "postgresql": postgresql}[engine]()


if __name__ == "__main__":
    main()
