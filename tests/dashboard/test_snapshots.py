"""SVG snapshots of what a person sees, drawn from fixed run states (no clock, no timing).

Each would have caught a defect people saw: the header's words run together, a pane's
count read as "1/11 passed", "all tests passed" after a partial rerun, a module called a
critical path, pytest's errors nowhere on screen, failures below the fold of a big suite.
Update after an intended change with `make snapshots-update`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path, PurePath
from typing import Any, Protocol

from textual.app import App
from textual.pilot import Pilot

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.events import Event, HistoryLoaded, TestHistory
from mcp_dashboard.state import RunState, reduce_all
from tests.dashboard.builders import began, collect_report, collected, finish, phases, start
from tests.dashboard.pilot import launcher
from tests.dashboard.scenario import FAILING, events, nodeid

SIZE = (160, 44)


class SnapCompare(Protocol):
    """pytest-textual-snapshot's fixture."""

    def __call__(
        self,
        app: App[Any] | str | PurePath,
        press: Iterable[str] = (),
        terminal_size: tuple[int, int] = (80, 24),
        run_before: Callable[[Pilot[Any]], Awaitable[None] | None] | None = None,
    ) -> bool: ...


def make_app(tmp_path: Path) -> DashboardApp:
    return DashboardApp(launcher(tmp_path, cwd=tmp_path), autostart=False)


def showing(
    state: RunState | Sequence[Event], scope: str = ""
) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        app.state = state if isinstance(state, RunState) else reduce_all(state)
        app.scope = scope
        app.draw()
        await pilot.pause()
        app.draw()  # the frame after the focus landed on the first failure
        await pilot.pause()

    return run_before


def test_main_screen_after_a_run_with_a_failure(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=showing(events()))


def test_main_screen_at_80x24(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), run_before=showing(events()))


def test_failure_detail_screen(snap_compare: SnapCompare, tmp_path: Path) -> None:
    async def open_failure(pilot: Pilot[Any]) -> None:
        await showing(events())(pilot)
        app = pilot.app
        assert isinstance(app, DashboardApp)
        app.open_test(nodeid(FAILING))
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=open_failure)


def test_a_module_tests_detail_says_module(snap_compare: SnapCompare, tmp_path: Path) -> None:
    """A test with no critical_path marker is grouped by its module: its detail says
    "module: tests/test_f.py:1", not "critical path: tests/test_f.py"."""
    plain: list[Event] = [
        start(1.0),
        collected(("test_plain", "tests/test_f.py")),
        began("test_plain"),
        *phases("test_plain"),
        finish(0, t=1.3),
    ]

    async def open_it(pilot: Pilot[Any]) -> None:
        await showing(plain)(pilot)
        app = pilot.app
        assert isinstance(app, DashboardApp)
        app.open_test("tests/test_f.py::test_plain")
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=(100, 16), run_before=open_it)


def test_only_failures_filter(snap_compare: SnapCompare, tmp_path: Path) -> None:
    async def only_failures(pilot: Pilot[Any]) -> None:
        await showing(events())(pilot)
        await pilot.press("o")
        app = pilot.app
        assert isinstance(app, DashboardApp)
        app.draw()
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=only_failures)


def test_help_screen(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(make_app(tmp_path), terminal_size=(120, 44), press=["question_mark"])


def one_test_rerun(outcome: str) -> list[Event]:
    return [
        start(1.0),
        collected(("test_sometimes", "sessions")),
        began("test_sometimes"),
        *phases("test_sometimes", outcome),
        finish(0 if outcome == "passed" else 1, t=1.4),
    ]


def test_a_partial_rerun_that_passed_says_what_ran(
    snap_compare: SnapCompare, tmp_path: Path
) -> None:
    """Not "PASSED all tests passed": one test ran, and the header says which run it was."""
    run = showing(one_test_rerun("passed"), scope="rerun of 1 failed test")
    assert snap_compare(make_app(tmp_path), terminal_size=(100, 16), run_before=run)


def test_a_flaky_test_is_marked_in_its_pane(snap_compare: SnapCompare, tmp_path: Path) -> None:
    history = HistoryLoaded(
        time=2.0, tests=(TestHistory(nodeid="tests/test_f.py::test_sometimes", flaky=True),)
    )
    run = showing([*one_test_rerun("failed"), history])
    assert snap_compare(make_app(tmp_path), terminal_size=(100, 16), run_before=run)


def many_groups() -> list[Event]:
    """30 modules of 6 passing tests; the last module also has 2 failures."""
    modules = [f"tests/test_module_{n:02d}.py" for n in range(30)]
    out: list[Event] = [start(0.0)]
    for module in modules:
        names = [(f"test_{k}", module) for k in range(6)]
        if module == modules[-1]:
            names += [("test_broken_a", module), ("test_broken_b", module)]
        out.append(collected(*names, file=module, total=182))
        for name, _ in names:
            out += phases(name, "failed" if "broken" in name else "passed", file=module)
    return [*out, finish(1, t=4.0)]


def test_thirty_modules_at_80x24_fold_and_show_the_failures_first(
    snap_compare: SnapCompare, tmp_path: Path
) -> None:
    run = showing(many_groups())
    assert snap_compare(make_app(tmp_path), terminal_size=(80, 24), run_before=run)


def test_a_collection_error_is_on_screen_with_pytests_text(
    snap_compare: SnapCompare, tmp_path: Path
) -> None:
    problem = collect_report(
        "tests/test_broken.py",
        longrepr="tests/test_broken.py:3: in <module>\n    def broken(\n"
        "E     def broken(\nE               ^\nE   SyntaxError: '(' was never closed",
        t=0.5,
    )
    run = showing([start(0.0), problem, collected(("test_fine", "tests/test_f.py")), finish(2)])
    assert snap_compare(make_app(tmp_path), terminal_size=(100, 24), run_before=run)


def test_a_usage_error_is_on_screen_with_pytests_text(
    snap_compare: SnapCompare, tmp_path: Path
) -> None:
    usage = finish(
        4,
        source="runner",
        reason="pytest usage error: unrecognized arguments: --tb-short",
        output="ERROR: usage: __main__.py [options] [file_or_dir] [file_or_dir] [...]\n"
        "__main__.py: error: unrecognized arguments: --tb-short\n  inifile: None\n"
        "  rootdir: /project",
    )
    assert snap_compare(make_app(tmp_path), terminal_size=(100, 20), run_before=showing([usage]))
