"""`make screenshots`: SVGs of the dashboard from real runs (what the README shows).

1. dashboard-running.svg   the realistic suite, mid-run
2. dashboard-failed.svg    a small suite that writes real rows and has a failure, after the run
3. failure-detail.svg      that failure's detail screen
4. dashboard-compact.svg   a third-party-shaped project (30 modules) at 100x30: compact mode
5. monitor.svg             monitor mode on the database of run 2, a call's detail open
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402

from mcp_dashboard.app import DashboardApp  # noqa: E402
from mcp_dashboard.launch import Launcher  # noqa: E402
from mcp_dashboard.monitor import MonitorApp  # noqa: E402
from mcp_dashboard.options import parse  # noqa: E402
from mcp_dashboard.screens.row_detail import RowDetailScreen  # noqa: E402
from mcp_dashboard.widgets.live_tables import LiveTables  # noqa: E402
from tests.dashboard.suites import many_modules  # noqa: E402

OUT = ROOT / "screenshots"
SIZE = (160, 48)


async def until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the run did not reach the expected point")
        await pilot.pause(0.02)


def launcher(tmp: Path, cwd: Path, *argv: str) -> Launcher:
    options = parse([*argv, "--history", str(tmp / "history.sqlite3")])
    return Launcher(options, cwd=cwd, state_dir=tmp / "state")


async def settled(app: DashboardApp, pilot: Pilot[Any]) -> None:
    """The run over, its history written, the focus on the first failure, drawn."""
    await until(pilot, lambda: app.runs_finished >= 1 and not app.running)
    await pilot.pause(0.3)
    app.draw()
    await pilot.pause(0.3)


async def running(tmp: Path) -> None:
    suite = "tests/integration/test_mcp_service_realistic.py"
    with launcher(tmp, ROOT, suite) as chosen:
        app = DashboardApp(chosen)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.state.counts.done >= 4)
            app.draw()
            await pilot.pause(0.6)  # let the tables catch up
            app.save_screenshot(str(OUT / "dashboard-running.svg"))
            await until(pilot, lambda: app.runs_finished == 1)


async def failed(tmp: Path) -> Path:
    with launcher(tmp, ROOT / "tests" / "fixtures", "service") as chosen:
        app = DashboardApp(chosen)
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            tables = app.query_one(LiveTables)
            await until(pilot, lambda: bool(tables.last_snapshot and tables.last_snapshot.ok))
            await pilot.pause(0.3)
            app.save_screenshot(str(OUT / "dashboard-failed.svg"))
            failure = next(t for t in app.state.tests.values() if t.failed)
            app.open_test(failure.nodeid)
            await pilot.pause(0.3)
            app.save_screenshot(str(OUT / "failure-detail.svg"))
            view = tables.view
            assert view is not None
            return Path(view.source)


async def compact(tmp: Path) -> None:
    project = many_modules(tmp / "project")
    with launcher(tmp, project) as chosen:
        app = DashboardApp(chosen)
        async with app.run_test(size=(100, 30)) as pilot:
            await settled(app, pilot)
            app.save_screenshot(str(OUT / "dashboard-compact.svg"))


async def monitor(database: Path) -> None:
    app = MonitorApp(database)
    async with app.run_test(size=(140, 32)) as pilot:
        tables = app.query_one(LiveTables)
        await until(pilot, lambda: bool(tables.last_snapshot and tables.last_snapshot.ok))
        tables.poll(force=True)
        await pilot.pause(0.6)
        app.save_screenshot(str(OUT / "monitor.svg"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RowDetailScreen))
        await pilot.pause(0.3)
        app.save_screenshot(str(OUT / "monitor-detail.svg"))


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        await running(Path(tmp) / "1")
        database = await failed(Path(tmp) / "2")
        await compact(Path(tmp) / "3")
        await monitor(database)
    for svg in sorted(OUT.glob("*.svg")):
        print(f"wrote {svg}")


if __name__ == "__main__":
    asyncio.run(main())
