"""The Textual dashboard driving real pytest runs of the fixture suites (Pilot, no mocks)."""

from __future__ import annotations

import json
import re
import shutil
import threading
from pathlib import Path

from textual.color import Color
from textual.widgets import DataTable, Input, Static

from mcp_dashboard.app import DashboardApp, rerun_scope
from mcp_dashboard.filtering import TestFilter
from mcp_dashboard.launch import Launcher
from mcp_dashboard.screens.help import HelpScreen
from mcp_dashboard.screens.test_detail import TestDetailScreen
from mcp_dashboard.state import RunState
from mcp_dashboard.status import RunStatus
from mcp_dashboard.widgets.test_list import TestList
from tests.dashboard.helpers import FIXTURES, child_env
from tests.dashboard.pilot import (
    AppPilot,
    burst,
    dashboard,
    finished,
    gated,
    grid,
    header,
    launcher,
    pane,
    pane_lines,
    screen_lines,
    screen_text,
    shown,
    shown_tests,
    tables,
    waiting_at_the_gate,
)
from tests.toolkit import until

OUT = "outcomes/test_outcomes.py::"
GATE = "gate/test_gate.py::"
FAILED = {f"{OUT}test_fail", f"{OUT}test_error_in_setup"}
WROTE_ROWS = "service/test_service_rows.py::test_writes_rows"  # every row of the service suite


async def test_panes_show_failures_first_with_their_steps(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes") as (app, pilot):
        await finished(app, pilot)
        assert status(app) == RunStatus.FAILED
        # Failing groups first, then collection order.
        assert list(grid(app).layout_now.open) == [
            "registration",
            "tools",
            "sessions",
            "outcomes/test_unmarked.py",
        ]
        # In a pane: the failure first, its steps unfolded; a passed test's steps folded.
        assert pane_lines(app, "registration") == [
            "✗ test_fail",
            "  ✓ about to fail",
            "✓ test_pass",
        ]
        assert pane_lines(app, "sessions") == ["s test_skip", "x test_xfail", "X test_xpass"]
        assert pane_lines(app, "tools") == ["E test_error_in_setup"]
        assert pane(app, "registration").summary.status == "failed"
        assert pane(app, "sessions").summary.status == "passed"
        # The border says so, in the theme's colours.
        border_colour = pane(app, "registration").styles.border_top[1]
        assert border_colour == Color.parse(app.theme_variables["error"])
        title = pane(app, "registration").summary.text(60).plain
        assert title.startswith("✗ registration  2/2  ✗1 ✓1")


async def test_the_focus_lands_on_the_first_failure_and_n_walks_the_failures(
    tmp_path: Path,
) -> None:
    async with dashboard(tmp_path, "outcomes") as (app, pilot):
        await finished(app, pilot)
        await until(lambda: app.selected == f"{OUT}test_fail", "focus on the failure", pilot=pilot)
        assert isinstance(app.focused, TestList)
        assert app.focused is pane(app, "registration").tests
        await pilot.press("n")
        await until(
            lambda: app.selected == f"{OUT}test_error_in_setup", "the next failure", pilot=pilot
        )
        assert app.focused is pane(app, "tools").tests
        await pilot.press("n")  # wraps around
        await until(lambda: app.selected == f"{OUT}test_fail", "the first again", pilot=pilot)
        await pilot.press("N")
        await until(lambda: app.selected == f"{OUT}test_error_in_setup", "previous", pilot=pilot)
        # The line under the panes names the test in full.
        app.draw()
        await pilot.pause()
        [now] = [line for line in screen_lines(app) if line.startswith(" E outcomes/")]
        assert now.startswith(f" E {OUT}test_error_in_setup  ")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, TestDetailScreen), "the detail", pilot=pilot)
        detail = app.screen
        assert isinstance(detail, TestDetailScreen)
        assert detail.test.nodeid == f"{OUT}test_error_in_setup"
        await pilot.press("n")  # the next failure, without leaving the detail
        await until(
            lambda: (
                isinstance(app.screen, TestDetailScreen)
                and app.screen.test.nodeid == f"{OUT}test_fail"
            ),
            "the next failure's detail",
            pilot=pilot,
        )


async def test_live_tables_show_rows_from_the_real_database(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "service") as (app, pilot):
        await finished(app, pilot)
        grid(app).reveal(WROTE_ROWS)  # the tables follow the selected test: the one that wrote
        live = tables(app)
        await until(
            lambda: (
                live.last_snapshot is not None
                and live.last_snapshot.executions is not None
                and live.last_snapshot.executions.total == 6
            ),
            "six executions in the tables",
            pilot=pilot,
        )
        await pilot.pause()
        assert not live.has_class("-absent")
        clients = app.query_one("#table-clients", DataTable)
        executions = app.query_one("#table-executions", DataTable)
        assert clients.row_count == 2
        assert sorted(clients.get_row_at(i)[1] for i in range(2)) == [
            "fixture client 0",
            "fixture client 1",
        ]
        assert executions.row_count == 6
        assert {executions.get_row_at(i)[2] for i in range(6)} == {"echo"}
        assert all(clients.get_row_at(i)[4].startswith("pbkdf2-sha256:") for i in range(2))
        status = str(app.query_one("#tables-status", Static).render())
        assert "2 of 2 clients · 2 of 2 sessions · 6 of 6 executions" in status


async def test_a_suite_without_a_service_database_shows_one_quiet_line(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes") as (app, pilot):
        await finished(app, pilot)
        live = tables(app)
        polls = live.polls
        await until(lambda: live.polls >= polls + 2, "two more polls", pilot=pilot)
        status = app.query_one("#tables-status", Static)
        assert live.has_class("-absent") and not status.has_class("error")
        assert live.size.height == 1
        assert str(status.render()) == (
            "No service database in this run (the tables open when the tests create one)"
        )
        assert "Database file not found" not in screen_text(app)


async def test_the_tables_open_when_the_database_appears_during_the_run(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "service", env={"FIXTURE_DB_DELAY": "1.5"}) as (app, pilot):
        live = tables(app)
        await until(lambda: live.polls >= 2, "polls before the file exists", pilot=pilot)
        assert live.has_class("-absent")
        await finished(app, pilot)
        grid(app).reveal(WROTE_ROWS)
        executions = app.query_one("#table-executions", DataTable)
        await until(lambda: executions.row_count == 6, "the rows", pilot=pilot)
        assert not live.has_class("-absent")
        assert "6 of 6 executions" in str(app.query_one("#tables-status", Static).render())


async def test_f_reruns_exactly_the_failed_tests_and_the_header_says_so(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes") as (app, pilot):
        await finished(app, pilot)
        assert {t.nodeid for t in app.state.tests.values() if t.failed} == FAILED
        await pilot.press("f")
        await finished(app, pilot, runs=2)
        assert set(app.state.tests) == FAILED
        assert app.state.collected == 2
        assert shown_tests(app) == FAILED
        assert re.fullmatch(
            r"FAILED rerun of 2 failed tests: 1 failed, 1 error in \d\.\d\ds ━+ 2/2", header(app)
        )
        # Panes of groups with no test in this run are gone.
        assert sorted(grid(app).panes) == ["registration", "tools"]


async def test_a_partial_rerun_that_passes_says_what_it_ran(tmp_path: Path) -> None:
    suite = shutil.copytree(FIXTURES / "history", tmp_path / "suite")
    shutil.copy(FIXTURES / "pytest.ini", suite)
    env = child_env(FIXTURE_FAIL="1")
    async with dashboard(tmp_path, "-k", "sometimes_fails", cwd=suite, env=env) as (app, pilot):
        await finished(app, pilot)
        assert status(app) == RunStatus.FAILED
        app.launcher.env.clear()  # the next run passes
        app.launcher.env.update(child_env())
        await pilot.press("f")
        await finished(app, pilot, runs=2)
        assert status(app) == RunStatus.PASSED
        assert re.fullmatch(
            r"PASSED rerun of 1 failed test: 1 passed in \d\.\d\ds ━+ 1/1",
            header(app),
        )


async def test_x_cancels_the_run_in_progress(tmp_path: Path) -> None:
    async with gated(tmp_path) as (app, pilot, _gate):
        await pilot.press("x")
        await finished(app, pilot)
        assert status(app) == RunStatus.CANCELLED
        statuses = {t.name: t.status for t in app.state.tests_in_order()}
        assert statuses == {
            "test_fails_before_the_gate": "failed",
            "test_waits_at_the_gate": "interrupted",
            "test_after_the_gate": "pending",
        }
        assert re.fullmatch(r"CANCELLED 1 failed, 1 interrupted in \d\.\d\ds ━+ 2/3", header(app))


async def test_a_during_a_run_cancels_it_and_starts_again(tmp_path: Path) -> None:
    async with gated(tmp_path) as (app, pilot, gate):
        await pilot.press("a")
        await until(lambda: app.runs_finished == 1, "the cancelled run", pilot=pilot)
        await until(lambda: waiting_at_the_gate(app.state), "the new run at the gate", pilot=pilot)
        assert app.running and status(app) == RunStatus.RUNNING
        gate.touch()
        await finished(app, pilot, runs=2)
        assert status(app) == RunStatus.FAILED
        assert app.state.counts.passed == 2 and app.state.counts.failed == 1


async def test_f_during_a_run_reruns_the_failures_so_far(tmp_path: Path) -> None:
    async with gated(tmp_path) as (app, pilot, gate):
        await pilot.press("f")
        await until(lambda: app.runs_finished == 1, "the cancelled run", pilot=pilot)
        gate.touch()
        await finished(app, pilot, runs=2)
        # The failure so far and the test the cancel interrupted: exactly those.
        assert [t.name for t in app.state.tests_in_order()] == [
            "test_fails_before_the_gate",
            "test_waits_at_the_gate",
        ]


async def test_f_after_a_cancelled_run_still_reruns_the_failure_of_the_run_before(
    tmp_path: Path,
) -> None:
    """A cancel before the failing test ran again must not make `f` forget it: the failure
    of the first run and the test the cancel interrupted are rerun, and the header calls
    the interrupted one interrupted, not failed."""
    gate = tmp_path / "gate"
    gate.touch()  # the first run goes through the gate; the failing test runs after it
    order = (f"{GATE}test_waits_at_the_gate", f"{GATE}test_fails_before_the_gate")
    async with dashboard(tmp_path, *order, env={"FIXTURE_GATE": str(gate)}) as (app, pilot):
        await finished(app, pilot)
        assert [t.nodeid for t in app.state.tests_in_order() if t.failed] == [order[1]]
        gate.unlink()
        await pilot.press("a")
        await until(lambda: waiting_at_the_gate(app.state), "the run at the gate", pilot=pilot)
        await pilot.press("x")
        await finished(app, pilot, runs=2)
        statuses = {t.nodeid: t.status for t in app.state.tests_in_order()}
        assert statuses == {order[0]: "interrupted", order[1]: "pending"}
        gate.touch()
        await pilot.press("f")
        await finished(app, pilot, runs=3)
        assert set(app.state.tests) == set(order)
        assert re.fullmatch(
            r"FAILED rerun of 1 failed and 1 interrupted tests: 1 failed, 1 passed "
            r"in \d\.\d\ds ━+ 2/2",
            header(app),
        )
        # That run's verdicts replace the earlier ones: only the failure is left to rerun.
        assert app.rerun_before == {order[1]: "failed"}


async def test_a_run_ending_while_the_filter_is_typed_leaves_the_focus_there(
    tmp_path: Path,
) -> None:
    """Found on attrs: `/` pressed as the run ended lost the filter to the first failure,
    the letters went to the pane and enter opened the failure."""
    async with gated(tmp_path) as (app, pilot, gate):
        await pilot.press("slash", *"fails")
        field = app.query_one("#filter", Input)
        gate.touch()
        await finished(app, pilot)
        await until(
            lambda: app.selected == f"{GATE}test_fails_before_the_gate",
            "the cursor on the failure",
            pilot=pilot,
        )
        assert field.has_focus
        await pilot.press(*"_before", "enter")
        assert field.value == "fails_before"
        assert not field.display
        listing = pane(app, "gate").tests
        assert listing.has_focus and listing.highlighted == f"{GATE}test_fails_before_the_gate"
        assert app.screen is app.screen_stack[0]  # enter opened nothing


async def test_keys_typed_at_once_after_slash_all_reach_the_filter(tmp_path: Path) -> None:
    """Found under tmux: `/` then "pickle" in one burst filtered on "kle": the focus moved
    to the filter a beat late and the first letters went to the pane."""
    async with dashboard(tmp_path, "outcomes") as (app, pilot):
        await finished(app, pilot)
        await burst(app, pilot, "slash", *"xfail", "enter")
        assert app.query_one("#filter", Input).value == "xfail"
        assert shown_tests(app) == {f"{OUT}test_xfail"}
        # In the filter, `/` is a character: a path can be typed.
        await pilot.press("slash", *"s", "slash", *"test_outcomes.py::test_x", "enter")
        assert app.query_one("#filter", Input).value == "s/test_outcomes.py::test_x"
        assert shown_tests(app) == {f"{OUT}test_xfail", f"{OUT}test_xpass"}


async def test_the_filter_keys_do_nothing_on_the_detail_screen(tmp_path: Path) -> None:
    """`o` there changed the panes behind it, out of sight; `/` focused a field the
    detail screen does not have."""
    async with dashboard(tmp_path, "outcomes", "-k", "test_fail") as (app, pilot):
        await finished(app, pilot)
        await until(lambda: app.selected == f"{OUT}test_fail", "the failure", pilot=pilot)
        await pilot.press("enter")
        await detail_facts(app, pilot)
        detail = app.screen
        await pilot.press("o", "slash", "t", "T")
        assert app.screen is detail
        assert app.test_filter == TestFilter()
        assert shown(tables(app))
        keys = {k for k, b in app.active_bindings.items() if b.binding.show}
        assert keys == {"escape", "y", "n", "N", "f", "a", "x", "w", "question_mark", "q"}


def status(app: DashboardApp) -> RunStatus:
    """The run's status now (a call, so a type checker does not pin it across awaits)."""
    return app.state.status


async def detail_facts(app: DashboardApp, pilot: AppPilot) -> str:
    """The facts line of the detail screen, once it is on screen."""
    await until(
        lambda: (
            isinstance(app.screen, TestDetailScreen) and bool(app.screen.query("#detail-facts"))
        ),
        "the detail screen",
        pilot=pilot,
    )
    return str(app.screen.query_one("#detail-facts", Static).render())


class HeldLauncher(Launcher):
    """Holds each run in its "finishing" moment (history being written) until released."""

    release: threading.Event

    def finish(self, run_id: int, state: RunState) -> RunState:
        self.release.wait(timeout=60)
        return super().finish(run_id, state)


async def test_f_pressed_while_a_run_is_finishing_is_queued_not_refused(tmp_path: Path) -> None:
    chosen = launcher(tmp_path, "outcomes")
    held = HeldLauncher(chosen.options, cwd=FIXTURES, state_dir=tmp_path / "state")
    held.release = threading.Event()
    chosen.history.close()
    async with dashboard(tmp_path, chosen=held) as (app, pilot):
        await until(lambda: app.state.finished and app.running, "the finishing run", pilot=pilot)
        await pilot.press("f")
        assert app.runs_finished == 0 and app.running
        held.release.set()
        await finished(app, pilot, runs=2)
        assert set(app.state.tests) == FAILED


async def test_ctrl_c_cancels_the_run_then_quits(tmp_path: Path) -> None:
    async with gated(tmp_path) as (app, pilot, _gate):
        await pilot.press("ctrl+c")
        await until(lambda: app.runs_finished == 1, "the cancel", pilot=pilot)
        assert status(app) == RunStatus.CANCELLED and app.is_running
        await pilot.press("ctrl+c")
        await until(lambda: not app.is_running, "the app to quit", pilot=pilot)
    assert app.return_value == 0  # the only run was stopped by the user: not a failure


async def test_quitting_after_a_failed_run_returns_its_status(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes") as (app, pilot):
        await finished(app, pilot)
        await pilot.press("q")
        await until(lambda: not app.is_running, "the app to quit", pilot=pilot)
    assert app.return_value == 1


async def test_filter_and_failures_only_show_an_indicator_and_count_what_they_show(
    tmp_path: Path,
) -> None:
    async with dashboard(tmp_path, "outcomes") as (app, pilot):
        await finished(app, pilot)
        everything = shown_tests(app)
        assert len(everything) == 8
        await pilot.press("slash")
        assert app.query_one("#filter", Input).has_focus
        await pilot.press(*"xfail")
        app.draw()
        assert shown_tests(app) == {f"{OUT}test_xfail"}
        await pilot.press("enter")
        app.draw()
        await pilot.pause()
        indicators = app.query_one("#indicators", Static)
        assert shown(indicators)
        assert str(indicators.render()).startswith(' filter "xfail"')
        assert (
            pane(app, "sessions").summary.text(80).plain.startswith("✓ sessions  1 of 3 shown  x1")
        )
        await pilot.press("escape")
        app.draw()
        assert shown_tests(app) == everything
        assert not shown(indicators)
        await pilot.press("o")
        app.draw()
        await pilot.pause()
        assert shown_tests(app) == FAILED
        assert str(indicators.render()).startswith(" only failures")
        assert (
            pane(app, "registration")
            .summary.text(80)
            .plain.startswith("✗ registration  1 of 2 shown  ✗1")
        )
        await pilot.press("o")
        app.draw()
        assert shown_tests(app) == everything
        await pilot.press("o", "slash", *"fail", "enter")
        app.draw()
        await pilot.pause()
        assert str(indicators.render()) == ' filter "fail" · only failures   escape: all tests'
        await pilot.press("escape")  # both end at once
        app.draw()
        await pilot.pause()
        assert shown_tests(app) == everything
        assert app.test_filter == TestFilter()
        assert not shown(indicators)


async def test_o_and_the_filter_take_effect_in_every_pane_while_a_run_waits(
    tmp_path: Path,
) -> None:
    """Found on attrs under tmux: `o` during a run left a finished pane unfiltered (its
    title `33/33`, every passed test listed) until more events came; with the run held at
    the gate, forever. While a run streams panes are redrawn in turns, and the key's one
    frame reached only the panes whose turn it was."""
    async with gated(tmp_path) as (app, pilot, gate):
        app.draw()  # the state at the gate on screen; no event arrives until it opens
        await pilot.press("o")
        app.draw()  # the one frame the key asks for
        titles = {p: s.summary.text(60).plain for p, s in grid(app).panes.items()}
        assert titles["gate"].startswith("✗ gate  1 of 2 shown  ✗1  ")
        assert shown_tests(app) == {f"{GATE}test_fails_before_the_gate"}
        assert pane_lines(app, "gate") == [
            "✗ test_fails_before_the_gate",
            "  ✓ failing before the gate",
        ]
        await pilot.press("o", "slash", *"after")
        app.draw()
        assert shown_tests(app) == {f"{GATE}test_after_the_gate"}
        assert (
            pane(app, "gate/test_gate.py")
            .summary.text(60)
            .plain.startswith("◌ gate/test_gate.py  1 of 1 shown")
        )
        gate.touch()
        await finished(app, pilot)


async def test_a_pane_waiting_for_its_turn_is_drawn_without_another_event(
    tmp_path: Path,
) -> None:
    """Panes redraw in turns while a run streams; one whose turn has not come when the
    events stop (a test that runs for minutes) is drawn on the next frames anyway."""
    async with gated(tmp_path) as (app, pilot, gate):
        panes = grid(app)
        await until(lambda: len(panes.panes) == 2, "the two panes", pilot=pilot)
        for pane_ in panes.panes.values():
            pane_.invalidate()  # as an event off their turn leaves them
        assert panes.behind
        await until(lambda: not panes.behind, "every pane drawn", pilot=pilot)
        assert not any(p.stale or p.list_stale for p in panes.panes.values())
        gate.touch()
        await finished(app, pilot)


async def test_enter_opens_the_failure_and_y_copies_its_traceback(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes", "-k", "test_fail") as (app, pilot):
        await finished(app, pilot)
        await until(lambda: app.selected == f"{OUT}test_fail", "the failure", pilot=pilot)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, TestDetailScreen), "the detail", pilot=pilot)
        screen = app.screen
        assert isinstance(screen, TestDetailScreen)
        assert "arithmetic is broken" in screen.traceback
        facts = await detail_facts(app, pilot)
        assert facts.startswith("critical path: registration · duration: ")
        await pilot.press("y")
        copied = tmp_path / "state" / "copied.txt"
        await until(copied.exists, "the copy file", pilot=pilot)
        assert copied.read_text() == screen.traceback
        assert app.clipboard == screen.traceback
        await pilot.press("escape")
        assert not isinstance(app.screen, TestDetailScreen)


async def test_a_module_test_says_module_not_critical_path(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes", "-k", "plain_one") as (app, pilot):
        await finished(app, pilot)
        app.open_test("outcomes/test_unmarked.py::test_plain_one")
        facts = await detail_facts(app, pilot)
        assert facts.startswith("module: outcomes/test_unmarked.py:")
        assert "critical path" not in facts


async def test_help_lists_every_key(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes", autostart=False) as (app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-keys", Static).render())
        keys = {line.split()[0] for line in text.splitlines() if line.startswith("  ")}
        for key in (
            "f",
            "a",
            "x",
            "n/N",
            "/",
            "o",
            "t",
            "T",
            "w",
            "?",
            "q",
            "escape",
            "ctrl+c",
            "y",
        ):
            assert key in keys, key
        for description in (
            "rerun the failed tests",
            "run every test again",
            "next/previous failure, across panes",
            "copy the traceback",
            "next/previous table",
            "open the test",
            "open a folded group",
            "tab/shift+tab",
            "when it has stopped",  # what f and a do while a run is going
        ):
            assert description.lower() in text.lower(), description
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_the_palette_lists_quit_once(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes", autostart=False) as (app, _pilot):
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert commands.count("Quit") == 1
        assert "Rerun failed" in commands


async def test_a_killed_child_shows_aborted_and_a_rerun_still_works(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "killer") as (app, pilot):
        await finished(app, pilot)
        assert status(app) == RunStatus.ABORTED
        assert header(app).startswith(
            "ABORTED pytest was killed by SIGKILL: 1 passed, 1 interrupted in "
        )
        await pilot.press("a")
        await finished(app, pilot, runs=2)
        assert status(app) == RunStatus.ABORTED


async def test_json_report_is_rewritten_after_every_run_reruns_included(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    async with dashboard(tmp_path, "outcomes", "--json-report", str(report)) as (app, pilot):
        await finished(app, pilot)
        first = json.loads(report.read_text())
        assert first["summary"]["total"] == 8
        await pilot.press("f")
        await finished(app, pilot, runs=2)
        second = json.loads(report.read_text())
        assert second["summary"]["total"] == 2
        assert {t["nodeid"] for t in second["tests"]} == FAILED


async def test_flaky_means_passed_and_failed_on_the_same_code(tmp_path: Path) -> None:
    suite = shutil.copytree(FIXTURES / "history", tmp_path / "suite")
    async with dashboard(tmp_path, cwd=suite, env=child_env(FIXTURE_FAIL="0")) as (app, pilot):
        await finished(app, pilot)
        assert not any(t.flaky for t in app.state.tests.values())
    async with dashboard(tmp_path, cwd=suite, env=child_env(FIXTURE_FAIL="1")) as (app, pilot):
        await finished(app, pilot)
        flaky = [t.name for t in app.state.tests_in_order() if t.flaky]
        assert flaky == ["test_sometimes_fails"]
        assert pane_lines(app, "sessions")[0] == "✗ test_sometimes_fails flaky"
    # The same failure after the test file changed: a change, not flakiness.
    source = suite / "test_history.py"
    source.write_text(source.read_text() + "\n# edited\n")
    async with dashboard(tmp_path, cwd=suite, env=child_env(FIXTURE_FAIL="0")) as (app, pilot):
        await finished(app, pilot)
        assert not any(t.flaky for t in app.state.tests.values())


def test_a_rerun_scope_names_interrupted_tests_apart_from_failed_ones() -> None:
    assert rerun_scope(["failed", "error"]) == "rerun of 2 failed tests"
    assert rerun_scope(["interrupted"]) == "rerun of 1 interrupted test"
    assert rerun_scope(["failed"]) == "rerun of 1 failed test"
    assert (
        rerun_scope(["interrupted", "failed", "interrupted"])
        == "rerun of 1 failed and 2 interrupted tests"
    )
