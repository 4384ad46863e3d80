"""SVG snapshot of a failed test's "What this test did": its calls as a timeline, its
sessions (one left open: a leak) and clients, as captured at the failure. Fixed rows at
fixed times, so the picture is stable. Update with `make snapshots-update`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.db_views.traces import TraceCall, TraceClient, TraceRows, TraceSession
from mcp_dashboard.events import TestTrace
from mcp_dashboard.screens.test_detail import TestDetailScreen
from mcp_dashboard.state import SessionsLeft, reduce_all
from tests.dashboard.scenario import FAILING, events, nodeid
from tests.dashboard.test_snapshots import SIZE, SnapCompare, make_app

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SESSION, CLIENT = "5e55e55e-0000-4000-8000-000000000001", "c11e7700-0000-4000-8000-000000000002"


def rows(start: float) -> TraceRows:
    """Three calls over the test's time, the last denied; the session still open."""
    calls = (
        TraceCall(TRACE, "e1", "echo", "success", start + 0.010, 1.2, SESSION),
        TraceCall(TRACE, "e2", "corpus_search", "success", start + 0.060, 42.5, SESSION),
        TraceCall(
            TRACE, "e3", "revoke_client", "denied", start + 0.140, 0.8, SESSION,
            error="client lacks the admin permission",
        ),
    )  # fmt: skip
    session = TraceSession(
        TRACE, SESSION, "pipeline client", "open", 3, start + 0.005, start + 0.141, None
    )
    client = TraceClient(TRACE, CLIENT, "pipeline client", "basic", start + 0.001, False)
    return TraceRows(calls, (session,), (client,))


def test_what_a_failed_test_did(snap_compare: SnapCompare, tmp_path: Path) -> None:
    async def open_section(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        failing = nodeid(FAILING)
        traced = TestTrace(time=0.0, nodeid=failing, trace_id=TRACE, span_id="00f067aa0ba902b7")
        app.state = reduce_all(
            [
                *events(),
                traced,
                SessionsLeft(nodeid=failing, trace_id=TRACE, sessions=(SESSION,)),
            ]
        )
        test = app.state.tests[failing]
        assert test.started_at is not None
        app.push_screen(TestDetailScreen(test, tmp_path, [], captured=rows(test.started_at)))
        await pilot.pause()
        app.screen.query_one("#did").scroll_visible(top=True, animate=False)
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=open_section)
