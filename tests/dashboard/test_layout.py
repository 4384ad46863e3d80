"""The layout on real runs: a big suite fits any terminal with its failures in view, and
pytest's own errors are on screen where the user looks."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_dashboard.state import Counts
from mcp_dashboard.status import RunStatus, TestStatus
from mcp_dashboard.widgets.pane_grid import Layout, columns_for
from mcp_dashboard.widgets.path_pane import GroupSummary
from mcp_dashboard.widgets.status_line import StatusLine
from mcp_dashboard.widgets.test_list import MAX_LINES
from tests.dashboard.pilot import (
    dashboard,
    finished,
    grid,
    header,
    pane,
    screen_lines,
    screen_text,
    shown,
)
from tests.dashboard.suites import count_tests, many_modules
from tests.toolkit import until

LAST = "tests/test_module_29.py"
FAILURES = (
    "TestBroken::test_fails_on_purpose",
    "TestBroken::test_fails_with_a_parameter[a]",
    "TestBroken::test_fails_with_a_parameter[b]",
)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)])
async def test_thirty_modules_fit_with_the_failures_in_the_first_frame_after_the_run(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    """Failures are in the last module, so collection order would put them below the fold."""
    project = many_modules(tmp_path / "project")
    async with dashboard(tmp_path, cwd=project, size=size) as (app, pilot):
        panes = grid(app)
        await until(
            lambda: app.state.finished and panes.shown_state is app.state,
            "the first frame after the run",
            pilot=pilot,
        )
        await pilot.pause()  # composited, not scrolled
        lines = screen_lines(app)
        passed = count_tests() - 3
        assert header(app).startswith(f"FAILED 3 failed, {passed} passed in ")
        # The failing module is open first, its failures first, all three on screen.
        assert panes.layout_now.open[0] == LAST
        assert lines[2].split("  ")[0].strip("║│ ") == "✗ test_module_29.py"  # not tests/
        for row, name in enumerate(FAILURES, start=3):
            assert lines[row].strip("║│ ").startswith(f"✗ {name}"), "\n".join(lines)
        # The 29 passed modules are folded to one line each, in columns from the width.
        assert panes.layout_now.compact
        assert len(panes.layout_now.folded) == 29
        folded = panes.folded_area
        assert folded.size.width // 34 >= columns_for(size[0] - 2, 34, 29) - 1
        assert panes.scroll_offset.y == 0
        await finished(app, pilot)  # its history written, before the app closes
    assert app.state.status == RunStatus.FAILED


async def test_a_usage_error_is_shown_with_pytests_words(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes", "--no-such-option") as (app, pilot):
        await finished(app, pilot)
        assert header(app).startswith("USAGE ERROR unrecognized arguments: --no-such-option")
        text = screen_text(app)
        assert "pytest refused its arguments" in text
        assert "__main__.py: error: unrecognized arguments: --no-such-option" in text


async def test_a_missing_path_is_the_first_line_of_the_panel(tmp_path: Path) -> None:
    """Found under tmux at 80x24: for a missing path pytest prints its session header
    first, and the panel showed that header; the error itself was below the fold."""
    async with dashboard(tmp_path, "no/such/dir", size=(80, 24)) as (app, pilot):
        await finished(app, pilot)
        assert header(app).startswith("USAGE ERROR file or directory not found: no/such/dir")
        problems = [line.strip("│ ") for line in screen_lines(app)[2:4]]
        assert problems == [
            "pytest refused its arguments",
            "ERROR: file or directory not found: no/such/dir",
        ]
        assert "test session starts" not in screen_text(app)


async def test_a_collection_error_is_shown_with_file_line_and_message(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_fine.py").write_text("def test_fine():\n    pass\n")
    (suite / "test_syntax.py").write_text("def test_ok():\n    pass\n\n\ndef broken(\n")
    async with dashboard(tmp_path, cwd=suite) as (app, pilot):
        await finished(app, pilot)
        assert header(app).startswith("ERROR 1 error during collection: test_syntax.py")
        text = screen_text(app)
        problems = [line.strip("│ ") for line in screen_lines(app)[2:4]]
        assert problems == [
            "ERROR collecting test_syntax.py",
            "test_syntax.py:5: SyntaxError: '(' was never closed",
        ]
        assert "_pytest/assertion/rewrite.py" in text  # pytest's own words follow


async def test_no_tests_collected_says_so_and_why(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes", "-k", "no_test_is_called_this") as (app, pilot):
        await finished(app, pilot)
        assert header(app).startswith("NO TESTS no tests collected (8 deselected) ━")
        text = screen_text(app)
        assert "No tests collected" in text
        assert "8 tests deselected by -k, -m or --pattern" in text


async def test_the_full_node_id_shows_for_the_selected_and_the_hovered_test(
    tmp_path: Path,
) -> None:
    """Pane lines leave out the module and the shared class; the line under the panes and
    the tooltip give the whole id back."""
    project = many_modules(tmp_path / "project")
    async with dashboard(tmp_path, cwd=project, size=(80, 24)) as (app, pilot):
        await finished(app, pilot)
        failing = pane(app, LAST).tests
        await until(lambda: failing.has_focus, "focus on the first failure", pilot=pilot)
        first = f"{LAST}::{FAILURES[0]}"
        assert app.query_one("#now", StatusLine).selected is app.state.tests[first]
        assert f"✗ {first}  " in screen_lines(app)[-3]
        await pilot.hover(failing, offset=(4, 1))
        assert failing.tooltip == f"{LAST}::{FAILURES[1]}"
        await pilot.hover(failing, offset=(4, 0))
        assert failing.tooltip == first


async def test_a_filter_after_the_run_opens_the_groups_that_fit_and_says_when_nothing_matches(
    tmp_path: Path,
) -> None:
    project = many_modules(tmp_path / "project")
    async with dashboard(tmp_path, cwd=project, size=(80, 24)) as (app, pilot):
        await finished(app, pilot)
        panes = grid(app)
        await pilot.press("escape", "slash", *"module_1", "enter")
        app.draw()
        await pilot.pause()
        ten = [f"tests/test_module_1{n}.py" for n in range(10)]
        assert panes.layout_now.open == tuple(ten[:2])  # two of nine lines each, side by side
        assert panes.layout_now.folded == tuple(ten[2:])
        assert panes.virtual_size.height <= panes.size.height  # all of it on screen
        lines = screen_lines(app)
        assert lines[1].strip() == 'filter "module_1"   escape: all tests'
        assert "✓ test_module_19.py  6 of 6 shown  ✓6" in "\n".join(lines)
        assert not shown(panes.nothing_shown)
        # `/` again selects the filter's text: typing replaces it, `end` keeps it to edit.
        await pilot.press("slash", "end", "x", "enter")  # "module_1x": no test is called that
        app.draw()
        await pilot.pause()
        assert panes.layout_now == Layout((), (), False)
        assert shown(panes.nothing_shown)
        assert screen_lines(app)[2].strip() == 'No test matches: filter "module_1x".'
        await pilot.press("escape")
        app.draw()
        await pilot.pause()
        assert not shown(panes.nothing_shown)
        assert panes.layout_now.open == (LAST,)


async def test_after_the_run_an_open_pane_takes_the_lines_nobody_uses(tmp_path: Path) -> None:
    """The failing module has 23 tests: cut at 12 lines, it left 10 blank lines below."""
    project = many_modules(tmp_path / "project", params=18)
    async with dashboard(tmp_path, cwd=project, size=(120, 40)) as (app, pilot):
        await finished(app, pilot)
        panes = grid(app)
        listing = pane(app, LAST).tests
        assert panes.layout_now.open == (LAST,)
        await until(lambda: listing.size.height > MAX_LINES, "the pane to grow", pilot=pilot)
        await pilot.pause()
        # 36 lines for the panes: the pane's border and title (3), the folded lines
        # (29 in 3 columns, and a blank line: 11), so its list gets the other 22.
        assert panes.size.height == 36
        assert listing.size.height == 22
        assert panes.virtual_size.height == panes.size.height  # filled, nothing to scroll
        assert len(listing.rows) == 23


def test_a_narrow_title_keeps_its_name_and_gives_up_the_rest_first() -> None:
    """Found on attrs at 80x24: two panes side by side (36 cells each) titled
    `✗ test_…rs.py  33/33  ✗1 ✓32  84ms`, and with `o` on `✓ te….py  1 of 1 shown`: the
    name, the one thing that tells panes apart, was cut to keep the time and the counts."""
    counts = Counts(passed=32, failed=1)
    plain = GroupSummary("test_converters.py", counts, 0.084, 33, False, TestStatus.FAILED)
    assert [plain.text(width).plain for width in (60, 36, 30, 20)] == [
        "✗ test_converters.py  33/33  ✗1 ✓32  84ms",
        "✗ test_converters.py  33/33  ✗1 ✓32",
        "✗ test_converters.py  ✗1 ✓32",
        "✗ test…rs.py  ✗1 ✓32",  # only now is the name shortened
    ]
    one = Counts(passed=1)
    filtered = GroupSummary("test_3rd_party.py", one, 0.637, 1, True, TestStatus.PASSED)
    assert [filtered.text(width).plain for width in (60, 37, 31, 24)] == [
        "✓ test_3rd_party.py  1 of 1 shown  ✓1  637ms",
        "✓ test_3rd_party.py  1 of 1 shown  ✓1",
        "✓ test_3rd_party.py  1 of 1  ✓1",
        "✓ test_3rd_party.py  ✓1",
    ]
