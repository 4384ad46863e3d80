"""A damaged event stream: garbage, two 10 MB lines, and a truncated last line from a killed pytest.

Why: the stream is a file any test can write to, and a dying process leaves
half a line. The runner must keep going, count what it skipped, never hold a
10 MB line in memory, and say in `--ci` that lines were skipped.
"""

from __future__ import annotations

import tracemalloc
from collections import Counter
from pathlib import Path

from mcp_dashboard.events import MAX_LINE_BYTES, Event, RunFinish, Step
from mcp_dashboard.runner import READ_SIZE, Run, RunConfig
from mcp_dashboard.state import Counts, reduce_all
from tests.dashboard.helpers import run_cli
from tests.faults.suites import DAMAGING, write_suite

FILE = "test_damaging.py::"
SKIPPED = Counter(malformed=2, oversized=2, truncated=1)


async def test_runner_skips_garbage_and_10_mb_lines_without_buffering_them(
    tmp_path: Path,
) -> None:
    suite = write_suite(tmp_path / "suite", "damaging", DAMAGING)
    events: list[Event] = []
    tracemalloc.start()
    try:
        async with Run(RunConfig(pytest_args=[str(suite)], cwd=suite)) as run:
            async for event in run:
                events.append(event)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 20 MB streamed past; the runner holds at most one line's limit plus one read.
    assert peak < 2 * (MAX_LINE_BYTES + READ_SIZE), f"peak {peak} bytes while reading the stream"
    assert run.ignored == SKIPPED
    assert [e.message for e in events if isinstance(e, Step)] == [
        "✓ after the damage",
        "✓ still streaming",
    ]
    finish = events[-1]
    assert isinstance(finish, RunFinish)
    assert (finish.source, finish.aborted, finish.ignored_lines) == ("runner", True, 5)
    state = reduce_all(events)
    assert state.counts == Counts(passed=2, interrupted=1)
    assert state.ignored_lines == 5


def test_ci_says_how_many_lines_it_skipped(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "suite", "damaging", DAMAGING)
    result = run_cli("--ci", str(suite), cwd=suite)
    assert result.returncode == 3, result.stdout + result.stderr
    out = result.stdout
    assert out.splitlines()[0] == "..!".ljust(73) + "[100%]"
    assert (
        "event stream: 5 lines skipped (not valid events: garbage, truncated or over 1 MiB)" in out
    )
    assert "run aborted: pytest was killed by SIGKILL" in out
