"""Watch mode in the dashboard: `w` turns it on and off, a saved change starts the run it
picks, and the header says watching and why those tests (a real project, real saves)."""

from __future__ import annotations

import os
from pathlib import Path

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.status import TestStatus
from mcp_dashboard.widgets.problems import ProblemsPanel
from tests.dashboard.pilot import AppPilot, dashboard, header
from tests.dashboard.test_watch import PROJECT, write_project
from tests.toolkit import until


def save(tmp_path: Path, root: Path, name: str, text: str) -> None:
    """An editor's atomic save: one rename into the project, so one change batch."""
    staging = tmp_path / "staging"
    staging.write_text(text)
    os.replace(staging, root / name)


async def runs_ended(app: DashboardApp, pilot: AppPilot, runs: int) -> None:
    await until(
        lambda: app.runs_finished == runs and not app.running, f"run {runs} to end", pilot=pilot
    )


async def test_w_watches_a_saved_module_reruns_what_imports_it_and_w_stops(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path / "project")
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # the temporary project needs none
    async with dashboard(tmp_path, "tests", cwd=root, env=env, autostart=False) as (app, pilot):
        assert not app.watching
        await pilot.press("w")
        await until(lambda: app.watch_ready, "the watch in place", pilot=pilot)
        await until(lambda: " watching " in header(app), "the header to say so", pilot=pilot)
        assert app.runs_finished == 0  # `w` watches; it does not run everything first

        save(tmp_path, root, "pkg/helpers.py", PROJECT["pkg/helpers.py"] + "# saved\n")
        await runs_ended(app, pilot, 1)
        reason = "pkg/helpers.py changed: 2 test files import it"
        assert app.scope == reason
        assert reason in header(app)
        assert {n: t.status for n, t in app.state.tests.items()} == {
            "tests/test_deep.py::test_deep": TestStatus.PASSED,
            "tests/test_helpers.py::test_double": TestStatus.PASSED,
        }

        await pilot.press("w")
        await until(lambda: not app.watching, "watch mode off", pilot=pilot)
        # The header is drawn at the next frame: wait for it (a loaded CI machine read the
        # frame before).
        await until(lambda: " watching " not in header(app), "the header to say so", pilot=pilot)
        save(tmp_path, root, "tests/test_core.py", PROJECT["tests/test_core.py"] + "# saved\n")
        # Watching again: the next run is the next save's alone; the save made while
        # watch mode was off started nothing and is not remembered.
        await pilot.press("w")
        await until(lambda: app.watch_ready, "the watch in place again", pilot=pilot)
        save(tmp_path, root, "tests/test_deep.py", PROJECT["tests/test_deep.py"] + "# saved\n")
        await runs_ended(app, pilot, 2)
        assert app.scope == "tests/test_deep.py changed"
        assert list(app.state.tests) == ["tests/test_deep.py::test_deep"]


async def test_deleting_a_file_that_failed_to_collect_clears_its_error(tmp_path: Path) -> None:
    """No run follows the deletion (no other test is affected): the error would stay on
    screen for good. It is cleared, and the header says so."""
    root = write_project(tmp_path / "project")
    broken = root / "tests" / "test_broken.py"
    broken.write_text("def test_broken(:\n    pass\n")
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    async with dashboard(tmp_path, "tests", "--watch", cwd=root, env=env) as (app, pilot):
        await runs_ended(app, pilot, 1)
        await until(lambda: app.watch_ready, "the watch in place", pilot=pilot)
        assert [p.nodeid for p in app.state.collection_errors] == ["tests/test_broken.py"]
        assert app.query_one(ProblemsPanel).display
        broken.unlink()
        await until(lambda: not app.state.collection_errors, "the error cleared", pilot=pilot)
        app.draw()
        await pilot.pause()
        assert not app.query_one(ProblemsPanel).display
        assert "watching · tests/test_broken.py deleted; 1 collection error cleared" in header(app)
        assert app.runs_finished == 1 and not app.running
