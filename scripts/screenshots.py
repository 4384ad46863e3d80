"""`make screenshots`: SVGs of the dashboard from real runs (what the README shows).

1. dashboard-running.svg  the realistic suite, mid-run
2. dashboard-failed.svg   a small suite that writes real rows and has a failure, after the run
3. failure-detail.svg     that failure's detail screen
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402

from mcp_dashboard.app import DashboardApp  # noqa: E402
from mcp_dashboard.cli import build_parser  # noqa: E402
from mcp_dashboard.launch import Launcher  # noqa: E402
from mcp_dashboard.widgets.live_tables import LiveTables  # noqa: E402
from mcp_dashboard.widgets.path_pane import PathPane  # noqa: E402

OUT = ROOT / "screenshots"
SIZE = (160, 48)


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the run did not reach the expected point")
        await pilot.pause(0.02)


def launcher(tmp: Path, cwd: Path, *argv: str) -> Launcher:
    args = build_parser().parse_args([*argv, "--history", str(tmp / "history.sqlite3")])
    return Launcher(args, cwd=cwd, state_dir=tmp / "state")


async def running(tmp: Path) -> None:
    suite = "tests/integration/test_mcp_service_realistic.py"
    with launcher(tmp, ROOT, suite) as chosen:
        app = DashboardApp(chosen)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.state.counts.done >= 4)
            await app.draw()
            await pilot.pause(0.6)  # let the tables catch up
            app.save_screenshot(str(OUT / "dashboard-running.svg"))
            await until(pilot, lambda: app.runs_finished == 1)


async def failed(tmp: Path) -> None:
    with launcher(tmp, ROOT / "tests" / "fixtures", "service") as chosen:
        app = DashboardApp(chosen)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.runs_finished == 1)
            tables = app.query_one(LiveTables)
            await until(pilot, lambda: bool(tables.last_snapshot and tables.last_snapshot.ok))
            await app.draw()
            await pilot.pause(0.3)
            app.save_screenshot(str(OUT / "dashboard-failed.svg"))
            failure = next(t for t in app.state.tests.values() if t.status == "failed")
            pane = next(p for p in app.query(PathPane) if p.path == failure.critical_path)
            pane.post_message(PathPane.TestChosen(failure.nodeid))
            await pilot.pause(0.3)
            app.save_screenshot(str(OUT / "failure-detail.svg"))


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        await running(Path(tmp))
        await failed(Path(tmp))
    for name in ("dashboard-running.svg", "dashboard-failed.svg", "failure-detail.svg"):
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    asyncio.run(main())
