"""Driving the Textual dashboard in tests: open it on a suite, wait for runs, read the screen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from textual import events
from textual.pilot import Pilot
from textual.widget import Widget

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.launch import Launcher
from mcp_dashboard.options import parse
from mcp_dashboard.state import RunState
from mcp_dashboard.widgets.labels import ICONS, test_name
from mcp_dashboard.widgets.live_tables import LiveTables
from mcp_dashboard.widgets.pane_grid import PaneGrid
from mcp_dashboard.widgets.path_pane import PathPane
from tests.dashboard.helpers import FIXTURES
from tests.toolkit import until

SIZE = (160, 48)
AppPilot = Pilot[int]


def launcher(
    tmp_path: Path, *argv: str, cwd: Path = FIXTURES, env: dict[str, str] | None = None
) -> Launcher:
    """A launcher whose history and runs live in `tmp_path`."""
    options = parse([*argv, "--history", str(tmp_path / "history.sqlite3")])
    return Launcher(options, cwd=cwd, state_dir=tmp_path / "state", env=env)


@asynccontextmanager
async def dashboard(
    tmp_path: Path,
    *argv: str,
    cwd: Path = FIXTURES,
    env: dict[str, str] | None = None,
    autostart: bool = True,
    size: tuple[int, int] = SIZE,
    chosen: Launcher | None = None,
) -> AsyncIterator[tuple[DashboardApp, AppPilot]]:
    with chosen or launcher(tmp_path, *argv, cwd=cwd, env=env) as opened:
        app = DashboardApp(opened, autostart=autostart)
        async with app.run_test(size=size) as pilot:
            yield app, pilot


GATED = "gate/test_gate.py::test_waits_at_the_gate"


def waiting_at_the_gate(state: RunState) -> bool:
    """The gate suite's second test is running, held until the test opens the gate."""
    test = state.tests.get(GATED)
    return test is not None and bool(test.steps) and not state.finished


@asynccontextmanager
async def gated(tmp_path: Path) -> AsyncIterator[tuple[DashboardApp, AppPilot, Path]]:
    """The dashboard on the gate suite, with a run in progress: it waits at the gate (the
    file yielded last) until the test creates it."""
    gate = tmp_path / "gate"
    async with dashboard(tmp_path, "gate", env={"FIXTURE_GATE": str(gate)}) as (app, pilot):
        await until(lambda: waiting_at_the_gate(app.state), "the run at the gate", pilot=pilot)
        yield app, pilot, gate


async def finished(app: DashboardApp, pilot: AppPilot, runs: int = 1) -> None:
    """Wait until `runs` runs have ended and the screen shows the last one."""
    await until(lambda: app.runs_finished >= runs and not app.running, "the run", pilot=pilot)
    app.draw()
    await pilot.pause()


async def burst(app: DashboardApp, pilot: AppPilot, *keys: str) -> None:
    """Keys as a terminal delivers a quick typist's or tmux's send-keys: all queued at once,
    none waiting for the app to handle the one before (`pilot.press` waits after each)."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        char = key if len(key) == 1 else {"slash": "/", "enter": "\r"}.get(key)
        event = events.Key(key, char)
        event.set_sender(app)
        driver.send_message(event)
    await pilot.pause()


def screen_lines(app: DashboardApp) -> list[str]:
    """What the terminal shows, line by line (the current screen, as composited)."""
    strips = app.screen._compositor.render_strips()
    return ["".join(segment.text for segment in strip).rstrip() for strip in strips]


def header(app: DashboardApp) -> str:
    """The header line with its runs of spaces squeezed to one."""
    return " ".join(screen_lines(app)[0].split())


def screen_text(app: DashboardApp) -> str:
    return "\n".join(screen_lines(app))


def grid(app: DashboardApp) -> PaneGrid:
    return app.query_one(PaneGrid)


def pane(app: DashboardApp, path: str) -> PathPane:
    return grid(app).panes[path]


def pane_lines(app: DashboardApp, path: str) -> list[str]:
    """A pane's list top to bottom, as icon, name and flags (no duration: it varies), and
    each unfolded step line indented under its test."""
    listing = pane(app, path).tests
    lines = []
    for row in listing.rows:
        test = listing.tests[row.nodeid]
        if row.step is None:
            flags = " flaky" * test.flaky + " slower" * test.slower
            name = test_name(test).removeprefix(listing.prefix)
            lines.append(f"{ICONS[test.status][0]} {name}{flags}")
        else:
            message = next(s.message for s in test.steps if s.index == row.step)
            lines.append(f"  {message}")
    return lines


def shown(widget: Widget) -> bool:
    """Whether the widget is displayed (a call, so the checker does not narrow it)."""
    return widget.display


def shown_tests(app: DashboardApp) -> set[str]:
    """Node ids in the panes that are open, plus the members of folded groups."""
    panes = grid(app).panes.values()
    return {t.nodeid for p in panes for t in p.shown}


def tables(app: DashboardApp) -> LiveTables:
    return app.query_one(LiveTables)
