"""A traced test's rows, read back by trace id: its calls, sessions and clients, the sessions
it left open, and the live tables filtered to one trace.

These take `database_url`, so they run on SQLite and again on PostgreSQL. Rows are written
by the real service inside a span of a trace made for the test (as the plugin makes one per
test), so the counts are exact even on the run's shared database.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from mcp_dashboard.db_views.factory import open_view
from mcp_dashboard.db_views.traces import MAX_TRACES
from mcp_service import MCPService
from mcp_service.config import Settings
from tests.dashboard.live_db import totals


@contextmanager
def in_a_new_trace() -> Iterator[str]:
    """A fresh trace current for the block, as the plugin makes one for each test."""
    ids = random.Random()
    span = NonRecordingSpan(
        SpanContext(ids.getrandbits(128) or 1, ids.getrandbits(64) or 1, False, TraceFlags(1))
    )
    token = context.attach(trace.set_span_in_context(span))
    try:
        yield f"{span.get_span_context().trace_id:032x}"
    finally:
        context.detach(token)


@dataclass(frozen=True)
class Traced:
    closed_trace: str  # a client, a session closed at once, three echo calls
    leaking_trace: str  # a client, a session left open, two echo calls
    finished: float  # UNIX time after both traces' work
    session_closed: str
    session_left_open: str


async def echo_in_a_session(service: MCPService, name: str, calls: int) -> str:
    """A new client and session, and `calls` echo calls in it; the session's id."""
    client = await service.register_client(name, "basic")
    session = await service.create_session(client.client_id)
    for i in range(calls):
        await service.execute_tool(
            session.session_id, "echo", {"message": str(i)}, client_id=client.client_id
        )
    return session.session_id


async def write_traced(url: str) -> Traced:
    service = MCPService(Settings(database_url=url))
    await service.initialize()
    try:
        with in_a_new_trace() as closed_trace:
            closed = await echo_in_a_session(service, "closes", 3)
            await service.close_session(closed)
        with in_a_new_trace() as leaking_trace:
            left = await echo_in_a_session(service, "forgets", 2)
        finished = time.time()
        # The untraced work of the same service: carries no trace, so it is nobody's.
        await echo_in_a_session(service, "untraced", 1)
    finally:
        await service.shutdown()  # closes the session left open: after `finished`
    return Traced(closed_trace, leaking_trace, finished, closed, left)


def test_the_rows_of_each_trace_and_the_session_left_open(database_url: str) -> None:
    traced = asyncio.run(write_traced(database_url))
    view = open_view(database_url)
    try:
        rows = view.trace_rows([traced.closed_trace, traced.leaking_trace])
    finally:
        view.close()
    assert rows.error is None and not rows.truncated
    closed, leaking = rows.of(traced.closed_trace), rows.of(traced.leaking_trace)
    assert [(c.tool, c.status) for c in closed.calls] == [("echo", "success")] * 3
    assert [c.name for c in closed.clients] == ["closes"]
    assert [(s.session_id, s.requests) for s in closed.sessions] == [(traced.session_closed, 3)]
    assert len(leaking.calls) == 2 and [c.name for c in leaking.clients] == ["forgets"]
    assert [c.started for c in closed.calls] == sorted(c.started for c in closed.calls)
    assert all(c.session_id == traced.session_closed for c in closed.calls)
    # Closed before the traces ended: no leak. Left open, closed only by the shutdown: a leak.
    assert closed.left_open(traced.finished) == ()
    [left] = leaking.left_open(traced.finished)
    assert left.session_id == traced.session_left_open and left.status == "closed"
    assert left.closed is not None and left.closed > traced.finished


def test_trace_calls_reads_more_traces_than_one_statement_takes(database_url: str) -> None:
    traced = asyncio.run(write_traced(database_url))
    unknown = [f"{n:032x}" for n in range(1, MAX_TRACES + 5)]  # traces that made nothing
    view = open_view(database_url)
    try:
        found = view.trace_calls([*unknown, traced.closed_trace, traced.leaking_trace])
    finally:
        view.close()
    assert found.error is None
    assert len(found.by_trace) == len(unknown) + 2
    assert all(found.by_trace[u] == () for u in unknown)
    assert [c.tool for c in found.by_trace[traced.closed_trace]] == ["echo"] * 3
    assert len(found.by_trace[traced.leaking_trace]) == 2


def test_the_tables_filtered_to_one_trace(database_url: str) -> None:
    traced = asyncio.run(write_traced(database_url))
    view = open_view(database_url)
    try:
        view.only_trace(traced.leaking_trace)
        snapshot = view.poll(force=True)
        assert snapshot is not None and snapshot.ok and snapshot.traced
        assert snapshot.trace == traced.leaking_trace
        tables = [snapshot.table(name) for name in ("clients", "sessions", "executions")]
        assert [(t.total, len(t.rows)) for t in tables if t] == [(1, 1), (1, 1), (2, 2)]
        view.only_trace(None)
        everything = view.poll(force=True)
        assert everything is not None and everything.trace is None
        assert everything.executions is not None
        assert everything.executions.total == totals(database_url)[2]
    finally:
        view.close()
