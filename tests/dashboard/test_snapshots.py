"""SVG snapshots of what a person sees, drawn from a fixed run state (no clock, no timing).

Update after an intended change with `make snapshots-update`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.cli import build_parser
from mcp_dashboard.launch import Launcher
from mcp_dashboard.state import reduce_all
from tests.dashboard.scenario import FAILING, events, nodeid

SIZE = (160, 44)


def make_app(tmp_path: Path) -> DashboardApp:
    args = build_parser().parse_args(["--history", str(tmp_path / "history.sqlite3")])
    launcher = Launcher(args, cwd=tmp_path, state_dir=tmp_path / "state")
    return DashboardApp(launcher, autostart=False)


def showing(state_events: list[Any]) -> Callable[[Pilot], Any]:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        app.state = reduce_all(state_events)
        await app.draw()
        await pilot.pause()

    return run_before


def test_main_screen_after_a_run_with_a_failure(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=showing(events()))


def test_failure_detail_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def open_failure(pilot: Pilot) -> None:
        await showing(events())(pilot)
        app = pilot.app
        assert isinstance(app, DashboardApp)
        pane = next(p for p in app.query("PathPane") if p.path == "tools")
        pane.post_message(pane.TestChosen(nodeid(FAILING)))
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=open_failure)


def test_only_failures_filter(snap_compare: Any, tmp_path: Path) -> None:
    async def only_failures(pilot: Pilot) -> None:
        await showing(events())(pilot)
        await pilot.press("o")
        await pilot.app.draw()  # type: ignore[attr-defined]
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=only_failures)


def test_help_screen(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, press=["question_mark"])
