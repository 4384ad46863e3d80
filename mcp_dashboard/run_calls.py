"""After a run: read its tests' tool calls, keep their metrics in the history, compare.

Shared by `--ci` and the dashboard (blocking: call it off the event loop). A run whose
tests left no stamped rows (a suite without the service) gets no report and leaves
nothing in the history, so it never hides the counts of the run before it.
"""

from __future__ import annotations

from mcp_dashboard.db_views.run_metrics import MAX_ROWS, read_run_calls
from mcp_dashboard.history import History
from mcp_dashboard.state import RunState
from mcp_dashboard.status import TestStatus
from mcp_dashboard.tool_metrics import (
    CallReport,
    ToolVerdict,
    assess_tool,
    call_changes,
    calls_per_trace,
    tool_stats,
)

# Tests whose body ran: a skipped test, or one the run died in, made no comparable calls.
RAN = frozenset({TestStatus.PASSED, TestStatus.FAILED, TestStatus.XFAILED, TestStatus.XPASSED})


def measure_calls(
    history: History,
    run_id: int,
    state: RunState,
    database_url: str | None,
    *,
    compare: bool = True,
) -> CallReport | None:
    """The run's call report (None: no stamped rows), recorded in `history` as run `run_id`.

    `compare=False`, for a run of a few tests (watch mode's reruns): the run's own figures
    only, neither recorded nor compared, since beside the runs of every test they would
    look like regressions and change the medians later runs are measured against."""
    traced = {t.trace_id: t for t in state.tests_in_order() if t.trace_id}
    if not traced or database_url is None:
        return None
    calls = read_run_calls(database_url, list(traced))
    if calls.error is not None:
        return CallReport(error=calls.error)
    if not calls.rows:
        return None
    stats = tool_stats(calls.rows)
    truncated = MAX_ROWS if calls.truncated else None
    if not compare:
        return CallReport(tools=tuple(ToolVerdict(s) for s in stats), truncated=truncated)
    counted = calls_per_trace(calls.rows)
    # A partial read would show made-up changes: counts are kept only from a whole one.
    tests = (
        {}
        if calls.truncated
        else {t.nodeid: counted.get(trace, 0) for trace, t in traced.items() if t.status in RAN}
    )
    history.record_calls(run_id, stats, tests)
    verdicts = tuple(assess_tool(s, history.earlier_p95(run_id, s.tool)) for s in stats)
    changes = call_changes(tests, history.previous_calls(run_id)) if tests else []
    return CallReport(
        tools=verdicts,
        changes=tuple(changes),
        truncated=truncated,
    )
