"""The line under the panes while a run goes: the tests running now, longest first, with
their elapsed time (as cargo-nextest shows them), and "+N more" when they do not fit."""

from __future__ import annotations

from pathlib import Path

from mcp_dashboard.events import Event
from mcp_dashboard.state import RunState, reduce_all
from mcp_dashboard.widgets.status_line import running_line
from tests.dashboard.builders import began, collected, phases, start
from tests.dashboard.pilot import finished, gated, screen_lines
from tests.toolkit import until

NAMES = ("test_quick", "test_slow_database_migration", "test_medium", "test_a_long_named_one")


def running(*started: tuple[str, float]) -> RunState:
    events: list[Event] = [start(1.0), collected(*((n, "p") for n in (*NAMES, "test_done")))]
    events += [began("test_done", 1.0), *phases("test_done")]
    events += [began(name, t) for name, t in started]
    return reduce_all(events)


def test_running_tests_longest_first_with_their_elapsed_time() -> None:
    state = running(("test_quick", 9.5), ("test_medium", 4.0))
    assert (
        running_line(state, 10.0, 80).plain == "◌ 2 running: test_medium 6.00s · test_quick 500ms"
    )


def test_what_does_not_fit_in_80_columns_is_counted() -> None:
    started = (("test_quick", 9.9), ("test_slow_database_migration", 2.0))
    state = running(*started, ("test_medium", 5.0), ("test_a_long_named_one", 7.5))
    line = running_line(state, 10.0, 80).plain
    assert line == ("◌ 4 running: test_slow_database_migration 8.00s · test_medium 5.00s · +2 more")
    assert len(line) <= 80


def test_before_the_first_test_starts() -> None:
    assert running_line(reduce_all([start(1.0)]), 2.0, 80).plain == "◌ collecting…"
    assert running_line(running(), 2.0, 80).plain == "◌ starting…"


async def test_during_a_run_the_line_names_the_test_in_flight(tmp_path: Path) -> None:
    async with gated(tmp_path) as (app, pilot, gate):
        app.draw()
        await until(
            lambda: any(
                line.strip().startswith("◌ 1 running: test_waits_at_the_gate ")
                for line in screen_lines(app)
            ),
            "the running line",
            pilot=pilot,
        )
        gate.touch()
        await finished(app, pilot)
