"""The header line at 80 columns: pytest's own words are the last thing it shortens."""

from __future__ import annotations

from mcp_dashboard.events import Event
from mcp_dashboard.state import RunState, reduce_all
from mcp_dashboard.widgets.run_header import header_line
from tests.dashboard.builders import began, collected, finish, phases, start

REASON = "pkg/core.py changed: 3 test files import it; 2 tests failed last time"


def run_of_three(*, finished: bool = True) -> RunState:
    tests = (("a", "p"), ("b", "p"), ("c", "p"))
    events: list[Event] = [start(1.0), collected(*tests), began("a"), *phases("a", "failed")]
    events += [began("b"), *phases("b")]
    if finished:
        events += [began("c"), *phases("c"), finish(1, t=1.41)]
    return reduce_all(events)


def test_a_watch_batch_shortens_its_reason_not_pytests_counts_at_80_columns() -> None:
    line = header_line(run_of_three(), REASON, 2.0, 80, "watching").plain
    assert len(line) == 80
    assert line == (
        " FAILED  watching   pkg/core.py changed: 3 tes…: 1 failed, 2 passed in 0.41s 3/3"
    )


def test_a_long_watch_status_shortens_before_the_counts() -> None:
    watch = f"watching · queued: {REASON}"
    line = header_line(run_of_three(), REASON, 2.0, 80, watch).plain
    assert len(line) == 80
    assert line == (
        " FAILED  watching · queued…   pkg/core.py chan…: 1 failed, 2 passed in 0.41s 3/3"
    )


def test_while_running_the_counts_stay_whole_too() -> None:
    line = header_line(run_of_three(finished=False), REASON, 2.0, 80, "watching").plain
    assert line == (
        " RUNNING  watching   pkg/core.py changed: 3…  ✗ 1 failed  ✓ 1 passed 2/3   1.00s"
    )


def test_a_short_scope_is_not_touched() -> None:
    line = header_line(run_of_three(), "rerun of 1 failed test", 2.0, 80).plain
    assert " ".join(line.split()) == (
        "FAILED rerun of 1 failed test: 1 failed, 2 passed in 0.41s 3/3"
    )
