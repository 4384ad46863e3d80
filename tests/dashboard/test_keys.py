"""No key can freeze the dashboard: every key, in every place the focus can be, during a run
and after it. After each key the app must still answer: its bindings reach the app (`?`
opens the help), and the focus is never left on a widget that is gone.

The freeze of issue 13.2 had one cause: a rerun removed the panes one at a time, Textual
moved the focus of a removed pane onto another pane that was being removed too, and with
the focus on a detached widget no key reached any binding (not even ctrl+q).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.containers import VerticalScroll
from textual.widgets import DataTable, Input

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.events import Event
from mcp_dashboard.screens.help import HelpScreen
from mcp_dashboard.screens.test_detail import TestDetailScreen
from mcp_dashboard.state import RunState, reduce_all
from mcp_dashboard.widgets.path_pane import GroupLine
from mcp_dashboard.widgets.test_list import TestList
from tests.dashboard.builders import collected, finish, phases, start
from tests.dashboard.pilot import (
    AppPilot,
    dashboard,
    finished,
    gated,
    grid,
    pane,
    screen_lines,
    waiting_at_the_gate,
)
from tests.dashboard.suites import many_modules
from tests.toolkit import until

OUT = "outcomes/test_outcomes.py::"

# Every key the dashboard binds anywhere, and the keys people press anyway.
KEYS = [
    "enter",
    "space",
    "up",
    "down",
    "pageup",
    "pagedown",
    "home",
    "end",
    "tab",
    "shift+tab",
    "left_square_bracket",
    "right_square_bracket",
    "n",
    "N",
    "y",
    "o",
    "t",
    "T",
    "w",
    "slash",
    "question_mark",
    "escape",
    "z",
    "f",
    "a",
    "x",
]


async def test_the_freeze_of_13_2_a_focused_pane_that_a_rerun_removes(tmp_path: Path) -> None:
    """Focus a pane that the rerun of `f` will not need, press f: keys must still work."""
    async with dashboard(tmp_path, "outcomes") as (app, pilot):
        await finished(app, pilot)
        # The end of the run puts the focus on its first failure, after a refresh: wait for
        # it, or it lands after the focus set below (a loaded CI machine timed out here).
        first = app.state.tests[grid(app).failures()[0]]
        failing = pane(app, first.critical_path).tests
        await until(lambda: app.focused is failing, "the first failure's focus", pilot=pilot)
        # Two panes have no failure and go when `f` reruns the failures; the focus is on
        # the second, so Textual's focus reset picks the first, which is being removed too.
        unmarked = pane(app, "outcomes/test_unmarked.py").tests
        unmarked.focus()
        await until(lambda: app.focused is unmarked, "the focus on the pane", pilot=pilot)
        await pilot.press("f")
        await finished(app, pilot, runs=2)
        assert sorted(grid(app).panes) == ["registration", "tools"]
        focused = app.focused
        assert focused is None or focused.is_attached
        await answers(app, pilot)
        await pilot.press("a")
        await finished(app, pilot, runs=3)
        assert sorted(grid(app).panes) == sorted(
            ["registration", "sessions", "tools", "outcomes/test_unmarked.py"]
        )
        await pilot.press("q")
        await until(lambda: not app.is_running, "q to quit", pilot=pilot)


def reachable(app: DashboardApp) -> None:
    """The focus is on a live widget, and the keys reach the app's own bindings from it (what
    the freeze broke: with the focus on a detached widget, this chain ended there)."""
    focused = app.screen.focused
    assert focused is None or focused.is_attached, f"focus on a detached {focused}"
    keys = app.screen.active_bindings
    if app.screen is not app.screen_stack[0]:  # help or detail: escape leads back
        assert "escape" in keys, sorted(keys)
    elif isinstance(focused, Input):  # letters are typed; escape leaves the filter
        assert "escape" in keys and "ctrl+q" in keys, sorted(keys)
    else:  # the app's own keys, reached from the focus
        assert {"question_mark", "f", "ctrl+q", "ctrl+c"} <= set(keys), sorted(keys)


def four_groups(*groups: str) -> RunState:
    """A finished run with one passing test in each of these groups."""
    names = [(f"test_{g}", g) for g in groups]
    events: list[Event] = [start(), collected(*names)]
    for name, _ in names:
        events += phases(name)
    return reduce_all([*events, finish(0)])


async def test_panes_removed_together_never_leave_the_focus_on_a_removed_one(
    tmp_path: Path,
) -> None:
    """The cause of the freeze, directly: two panes leave at once, the focus is on one."""
    async with dashboard(tmp_path, autostart=False) as (app, pilot):
        app.state = four_groups("g1", "g2", "g3", "g4")
        app.draw()
        await pilot.pause()
        last = pane(app, "g4").tests
        last.focus()
        await until(lambda: app.focused is last, "the focus on the last pane", pilot=pilot)
        app.state = four_groups("g1", "g2")
        grid(app).show(app.state)  # g3 and g4 leave in the same frame
        focused = app.focused
        # Removed one by one, Textual moved the focus from g4 to g3, itself being removed.
        assert focused is None or not focused._pruning, f"the focus went to a removed {focused}"
        await pilot.pause()
        assert sorted(grid(app).panes) == ["g1", "g2"]
        reachable(app)


async def answers(app: DashboardApp, pilot: AppPilot) -> None:
    """The app still answers keys: back to the main screen, then `?` opens the help."""
    for _ in range(3):
        focused = app.screen.focused
        assert focused is None or focused.is_attached, f"focus on a detached {focused}"
        if app.screen is app.screen_stack[0] and not isinstance(focused, Input):
            break
        await pilot.press("escape")
        await pilot.pause()
    assert app.screen is app.screen_stack[0], app.screen
    await pilot.press("question_mark")
    await until(lambda: isinstance(app.screen, HelpScreen), "? to open the help", pilot=pilot)
    await pilot.press("escape")
    await until(lambda: app.screen is app.screen_stack[0], "escape to close it", pilot=pilot)


Place = Callable[[DashboardApp, AppPilot], Awaitable[None]]


async def in_a_pane(app: DashboardApp, pilot: AppPilot) -> None:
    await until(lambda: bool(grid(app).panes), "a pane", pilot=pilot)
    listing = next(iter(grid(app).panes.values())).tests
    listing.focus()
    await until(lambda: app.focused is listing, "a pane's focus", pilot=pilot)


async def in_the_filter(app: DashboardApp, pilot: AppPilot) -> None:
    await pilot.press("slash")
    await until(lambda: isinstance(app.focused, Input), "the filter's focus", pilot=pilot)


async def on_the_tables(app: DashboardApp, pilot: AppPilot) -> None:
    from mcp_dashboard.widgets.live_tables import LiveTables

    app.query_one(LiveTables).display = True
    table = app.query_one("#table-executions", DataTable)
    table.focus()
    await until(lambda: app.focused is table, "the table's focus", pilot=pilot)


async def on_the_detail(app: DashboardApp, pilot: AppPilot) -> None:
    await until(lambda: bool(app.state.tests), "a test", pilot=pilot)
    app.open_test(next(iter(app.state.order)))
    await until(lambda: isinstance(app.screen, TestDetailScreen), "the detail", pilot=pilot)


async def on_a_folded_group(app: DashboardApp, pilot: AppPilot) -> None:
    await until(lambda: bool(grid(app).layout_now.folded), "a folded group", pilot=pilot)
    line = grid(app).lines[grid(app).layout_now.folded[0]]
    line.focus()
    await until(lambda: app.focused is line, "the folded line's focus", pilot=pilot)


PLACES: dict[str, Place] = {
    "pane": in_a_pane,
    "filter": in_the_filter,
    "tables": on_the_tables,
    "detail": on_the_detail,
}


async def reset(app: DashboardApp, pilot: AppPilot) -> None:
    """Back to a plain main screen: no modal, no filter."""
    while app.screen is not app.screen_stack[0]:
        app.pop_screen()
        await pilot.pause()
    app.query_one("#filter", Input).value = ""
    app.action_clear_filter()
    if app.test_filter.failures_only:
        app.action_failures_only()
    await pilot.pause()


async def test_every_key_in_every_place_after_a_run(tmp_path: Path) -> None:
    async with dashboard(tmp_path, "outcomes") as (app, pilot):
        await finished(app, pilot)
        for place in PLACES.values():
            for key in KEYS:
                await reset(app, pilot)
                await place(app, pilot)
                await pilot.press(key)
                await pilot.pause()
                reachable(app)
                await settle(app, pilot)
            await answers(app, pilot)


async def settle(app: DashboardApp, pilot: AppPilot) -> None:
    """A key that started a run (f, a): let it end before the next key."""
    if app.running:
        await finished(app, pilot, runs=app.runs_finished + 1)


async def test_every_key_in_every_place_during_a_run(tmp_path: Path) -> None:
    async with gated(tmp_path) as (app, pilot, gate):
        for place in PLACES.values():
            for key in KEYS:
                await at_the_gate(app, pilot, f"before {key} in {place.__name__}")
                await reset(app, pilot)
                await place(app, pilot)
                await pilot.press(key)
                await pilot.pause()
                reachable(app)
            await answers(app, pilot)
        await at_the_gate(app, pilot, "at the end")
        gate.touch()
        await finished(app, pilot, runs=app.runs_finished + 1)
        await answers(app, pilot)


async def at_the_gate(app: DashboardApp, pilot: AppPilot, why: str = "") -> None:
    """A run waiting at the gate: the one in progress, or a new one if a key ended it."""

    def waiting() -> bool:
        return waiting_at_the_gate(app.state)

    # A key may have cancelled the run (x), or be replacing it (f, a): let that settle.
    await until(lambda: waiting() or not app.running, f"the run to settle {why}", pilot=pilot)
    if not app.running:
        app.action_rerun_all()
    await until(lambda: waiting() and app.running, f"a run at the gate {why}", pilot=pilot)


async def test_every_key_on_a_folded_group(tmp_path: Path) -> None:
    project = many_modules(tmp_path / "project")
    async with dashboard(tmp_path, cwd=project, size=(80, 24)) as (app, pilot):
        await finished(app, pilot)
        everything = len(app.state.tests)
        for key in KEYS:
            await reset(app, pilot)
            if len(app.state.tests) < everything:  # f reran the failures only: all again
                app.action_rerun_all()
                await finished(app, pilot, runs=app.runs_finished + 1)
            await on_a_folded_group(app, pilot)
            await pilot.press(key)
            await pilot.pause()
            reachable(app)
            await settle(app, pilot)
        await answers(app, pilot)


async def test_enter_on_a_folded_group_opens_it(tmp_path: Path) -> None:
    project = many_modules(tmp_path / "project")
    async with dashboard(tmp_path, cwd=project, size=(80, 24)) as (app, pilot):
        await finished(app, pilot)
        first = grid(app).layout_now.folded[0]
        await on_a_folded_group(app, pilot)
        assert isinstance(app.focused, GroupLine)
        await pilot.press("enter")
        app.draw()
        await until(lambda: first in grid(app).layout_now.open, "the group to open", pilot=pilot)
        assert isinstance(pane(app, first).tests, TestList)


async def test_the_keys_scroll_a_long_traceback_and_the_help_at_80x24(tmp_path: Path) -> None:
    """Found under tmux at 80x24: pagedown and end did nothing on the detail screen or the
    help, so a traceback past the first screen, and the help's last sections (the tables'
    keys, tab), could be read only with a mouse: nothing on those screens had the focus."""
    longrepr = "\n".join(f"E   line {i} of a long assertion diff" for i in range(200))
    failing = phases("test_long", "failed", longrepr=longrepr)
    events: list[Event] = [start(), collected(("test_long", "g")), *failing, finish(1)]
    async with dashboard(tmp_path, autostart=False, size=(80, 24)) as (app, pilot):
        app.state = reduce_all(events)
        app.draw()
        await pilot.pause()
        app.open_test(next(iter(app.state.order)))
        await until(lambda: app.screen.query("#detail"), "the detail", pilot=pilot)
        assert isinstance(app.screen, TestDetailScreen)
        body = app.screen.query_one("#detail", VerticalScroll)
        await until(lambda: body.max_scroll_y > 0, "the traceback to overflow", pilot=pilot)
        assert app.screen.focused is body
        await pilot.press("end")
        await until(lambda: body.scroll_y == body.max_scroll_y, "the end", pilot=pilot)
        await pilot.press("home")
        await until(lambda: body.scroll_y == 0, "the top", pilot=pilot)
        await pilot.press("escape", "question_mark")
        await until(lambda: app.screen.query("#help"), "the help", pilot=pilot)
        assert isinstance(app.screen, HelpScreen)
        keys = app.screen.query_one("#help", VerticalScroll)
        await until(lambda: keys.max_scroll_y > 0, "the help to overflow 24 lines", pilot=pilot)
        assert app.screen.focused is keys
        await pilot.press("end")
        await until(lambda: keys.scroll_y == keys.max_scroll_y, "the help's end", pilot=pilot)


async def test_slash_as_a_run_starts_keeps_the_focus_in_the_filter(tmp_path: Path) -> None:
    """Seen once in the every-key test under load: `/` pressed as a new run's panes
    appeared left the focus on a pane. With nothing focused, each frame planned to focus a
    test after the refresh; `/` focused the filter in between, and the plan then took the
    focus back, so the letters typed next went to the pane."""
    async with dashboard(tmp_path, autostart=False) as (app, pilot):
        app.state = four_groups("g1", "g2")
        app.draw()
        await until(lambda: isinstance(app.focused, TestList), "a test's focus", pilot=pilot)
        app.screen.set_focus(None)  # as when a new run's panes replace the old ones
        app.draw()  # plans a test's focus for after the refresh
        await pilot.press("slash")  # before that refresh
        await pilot.pause()
        assert isinstance(app.focused, Input)
        await pilot.press(*"g2")
        assert app.query_one("#filter", Input).value == "g2"


async def test_the_footer_offers_enter_and_escape_while_the_filter_is_typed(
    tmp_path: Path,
) -> None:
    """Found under tmux: typing in the filter, the footer was empty (every key it lists is
    a letter, and letters are text there), so nothing said how to get out."""
    async with dashboard(tmp_path, autostart=False, size=(80, 24)) as (app, pilot):
        app.state = four_groups("g1", "g2")
        app.draw()
        await until(lambda: isinstance(app.focused, TestList), "a test's focus", pilot=pilot)
        await until(lambda: "q Quit" in screen_lines(app)[-1], "the footer", pilot=pilot)
        footer = screen_lines(app)[-1]
        await pilot.press("slash", "g")
        await until(lambda: screen_lines(app)[-1] != footer, "the footer to change", pilot=pilot)
        assert screen_lines(app)[-1].split() == ["⏎", "Keep", "filter", "esc", "All", "tests"]
        await pilot.press("enter")
        await until(lambda: screen_lines(app)[-1] == footer, "the app's keys again", pilot=pilot)
        assert app.test_filter.text == "g"
