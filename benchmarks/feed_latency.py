"""Commit-to-visible latency of a row in the live tables: with the live feed, and polling only.

A real service commits one tool call at a time; the time from its commit (the call
returning) to the execution's row being in the Executions table of a headless
`--monitor` app (`run_test`), same process, same event loop. Between calls a random
pause, so a call lands anywhere in the polling cycle. Cases:

- SQLite + Redis: the service has `MCP_REDIS_URL`, the dashboard `--redis-url`
  (a private redis-server started for the run);
- PostgreSQL, its own notifications (`LISTEN`, no Redis);
- baseline, same run and same database: polling only (no feed), twice a second.

Target: ≤ 100 ms with the feed (issue 16). PostgreSQL runs on a database made for
this run on the server of MCP_TEST_POSTGRES_URL (default: the local test server);
`--engine sqlite` skips it.

    python benchmarks/feed_latency.py [--engine sqlite|postgresql ...] [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import header, row
from textual.widgets import DataTable

from mcp_dashboard.monitor import MonitorApp
from mcp_dashboard.widgets import live_tables
from mcp_dashboard.widgets.live_tables import POLL_SECONDS, LiveTables
from mcp_service import MCPService
from mcp_service.config import Settings

CALLS = 40
GIVE_UP_S = 10.0


async def latencies(url: str, redis_url: str | None, calls: int) -> tuple[list[float], str]:
    """Seconds from each call's commit to its row in the table; and the feed's state."""
    service = MCPService(Settings(database_url=url, redis_url=redis_url))
    await service.initialize()
    client = await service.register_client("bench feed", "basic")
    session = await service.create_session(client.client_id)
    app = MonitorApp(url, redis_url=redis_url)
    seen: list[float] = []
    try:
        async with app.run_test(size=(160, 40)):
            tables = app.query_one(LiveTables)
            rows = app.query_one("#table-executions", DataTable).rows
            deadline = time.perf_counter() + GIVE_UP_S
            while tables.polls == 0 or (tables.feed.label and not tables.feed.following):
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"the tables never started: {tables.feed}")
                await asyncio.sleep(0.01)
            for _ in range(calls):
                await asyncio.sleep(random.uniform(0, POLL_SECONDS))  # anywhere in the cycle
                record = await service.execute_tool(
                    session.session_id, "echo", {"message": "x"}, client_id=client.client_id
                )
                committed = time.perf_counter()
                while record.execution_id not in rows:
                    if time.perf_counter() - committed > GIVE_UP_S:
                        raise RuntimeError("a committed row never showed")
                    await asyncio.sleep(0.0005)
                seen.append(time.perf_counter() - committed)
            state = tables.feed.label or "polling"
    finally:
        await service.shutdown()
    return seen, state


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(case: str, feed: list[float], polling: list[float]) -> None:
    f50, f99, b50, b99 = p(feed, 0.5), p(feed, 0.99), p(polling, 0.5), p(polling, 0.99)
    row(
        f"commit to visible row, {case} (p50 / p99, {len(feed)} calls)",
        f"{f50 * 1e3:.1f} / {f99 * 1e3:.1f} ms",
        "≤ 100 ms",
        f"polling only {b50 * 1e3:.0f} / {b99 * 1e3:.0f} ms",
        f"{f50 / b50:.2f}x",
    )


def measure(url: str, redis_url: str | None, case: str, calls: int) -> None:
    feed, state = asyncio.run(latencies(url, redis_url, calls))
    assert state.startswith("live: "), state
    polling, state = asyncio.run(polling_only(url, calls))
    assert state == "polling", state
    report(case, feed, polling)


async def polling_only(url: str, calls: int) -> tuple[list[float], str]:
    """The baseline: the same tables with no feed at all (PostgreSQL always has its own)."""
    original = live_tables.choose_feed
    live_tables.choose_feed = lambda database, redis_url: None
    try:
        return await latencies(url, None, calls)
    finally:
        live_tables.choose_feed = original


def sqlite(calls: int) -> None:
    from tests.redis_server import private_redis

    with tempfile.TemporaryDirectory() as tmp, private_redis() as redis_url:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        measure(url, redis_url, "sqlite + redis", calls)


def postgresql(calls: int) -> None:
    from tests.databases import postgres_database

    with postgres_database("mcp_bench_feed") as url:
        measure(url, None, "postgresql LISTEN", calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--calls", type=int, default=CALLS)
    args = parser.parse_args()
    header()
    for engine in args.engine or ["sqlite", "postgresql"]:
        {"sqlite": sqlite, "postgresql": postgresql}[engine](args.calls)


if __name__ == "__main__":
    main()
