"""Dashboard table refresh with 100,000 executions in the database.

Target: under 50 ms per refresh. Baseline, same run and same file: the cheapest
possible change check (`PRAGMA data_version` on an unchanged file), which is
what a refresh costs when nothing changed.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, row

from mcp_dashboard.db_view import DatabaseView
from mcp_service import MCPService
from mcp_service.config import Settings
from mcp_service.models import ToolExecution, utcnow

ROWS = 100_000


async def fill(path: Path) -> None:
    service = MCPService(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    await service.initialize()
    registered = await service.register_client("bench", "basic")
    session = await service.create_session(registered.client_id)
    now = utcnow()
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
                started_at=now,
                finished_at=now,
            )
            for i in range(ROWS)
        )
    await service.shutdown()


def measure(path: Path, runs: int = 20) -> None:
    view = DatabaseView(path)
    refresh, unchanged = [], []
    for _ in range(runs):
        t = time.perf_counter()
        snap = view.poll(force=True)
        refresh.append(time.perf_counter() - t)
        assert snap is not None and snap.executions is not None
        assert snap.executions.total == ROWS
        t = time.perf_counter()
        assert view.poll() is None
        unchanged.append(time.perf_counter() - t)
    r50, u50 = statistics.median(refresh), statistics.median(unchanged)
    row(
        "table refresh, 100k executions (p50)",
        f"{r50 * 1e3:.1f} ms",
        "< 50 ms",
        f"unchanged check {u50 * 1e3:.3f} ms",
        f"{r50 / u50:.0f}x",
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        asyncio.run(fill(path))
        measure(path)


if __name__ == "__main__":
    header()
    main()
