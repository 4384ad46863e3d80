"""The rows a traced test made: its tool calls, sessions and clients, by W3C trace id.

The service stamps each row with the trace it was made in (migration 0004), and the
dashboard's plugin runs each test in a trace of its own, so a test's rows are those
carrying its trace id. Read a few traces at a time (`MAX_TRACES`), each table with a
bound, through the partial trace indexes. Times are UNIX seconds (UTC) so a caller can
set them against a test's start and end, which the event stream gives in that form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mcp_dashboard.db_views.queries import Fetch, Row, utc_moment

MAX_TRACES = 50  # trace ids per statement
CALLS_KEPT = 2000  # per read: a test making more shows the first ones and says so
SESSIONS_KEPT = 500
CLIENTS_KEPT = 500
OPEN = "open"  # mcp_service.models.SessionStatus.OPEN (the dashboard does not load the models)

# `{ids}`: one named parameter per trace id (`:t0, :t1, …`), which sqlite3 and SQLAlchemy
# both accept; oldest first, so a test's rows read in the order it made them.
_CALLS_SQL = (
    "SELECT trace_id, id, tool_name, status, started_at, duration_ms, session_id, span_id, "
    "error_message FROM tool_executions WHERE trace_id IN ({ids}) "
    "ORDER BY started_at, id LIMIT :limit"
)
_SESSIONS_SQL = (
    "SELECT s.trace_id, s.id, c.name, s.status, s.request_count, s.created_at, "
    "s.last_activity_at, s.closed_at FROM sessions s JOIN clients c ON c.id = s.client_id "
    "WHERE s.trace_id IN ({ids}) ORDER BY s.created_at, s.id LIMIT :limit"
)
_CLIENTS_SQL = (
    "SELECT trace_id, id, name, tier, created_at, revoked_at FROM clients "
    "WHERE trace_id IN ({ids}) ORDER BY created_at, id LIMIT :limit"
)


@dataclass(frozen=True, slots=True)
class TraceCall:
    """One tool call made in a trace: what a timeline draws."""

    trace_id: str
    execution_id: str
    tool: str
    status: str
    started: float  # UNIX seconds
    duration_ms: float
    session_id: str | None = None
    span_id: str | None = None  # the caller's span (a test's phase)
    error: str = ""


@dataclass(frozen=True, slots=True)
class TraceSession:
    trace_id: str
    session_id: str
    client: str  # the client's name
    status: str
    requests: int
    created: float
    last_activity: float
    closed: float | None

    def open_after(self, moment: float) -> bool:
        """Still open at `moment` (UNIX seconds): open now, or closed only later."""
        return self.status == OPEN or (self.closed is not None and self.closed > moment)


@dataclass(frozen=True, slots=True)
class TraceClient:
    trace_id: str
    client_id: str
    name: str
    tier: str
    created: float
    revoked: bool


@dataclass(frozen=True, slots=True)
class TraceRows:
    """The rows of some traces as read at `read_at`; `truncated`: a table had more."""

    calls: tuple[TraceCall, ...] = ()
    sessions: tuple[TraceSession, ...] = ()
    clients: tuple[TraceClient, ...] = ()
    truncated: bool = False
    error: str | None = None
    absent: bool = False  # no service database (yet): nothing can carry the trace

    @property
    def empty(self) -> bool:
        return not (self.calls or self.sessions or self.clients)

    def of(self, trace_id: str) -> TraceRows:
        """The rows of one of the traces read."""
        none = TraceRows(truncated=self.truncated, error=self.error, absent=self.absent)
        return self.by_trace().get(trace_id, none)

    def by_trace(self) -> dict[str, TraceRows]:
        """`of` every trace that has rows, in one pass over them."""
        calls: dict[str, list[TraceCall]] = {}
        sessions: dict[str, list[TraceSession]] = {}
        clients: dict[str, list[TraceClient]] = {}
        for call in self.calls:
            calls.setdefault(call.trace_id, []).append(call)
        for session in self.sessions:
            sessions.setdefault(session.trace_id, []).append(session)
        for client in self.clients:
            clients.setdefault(client.trace_id, []).append(client)
        return {
            trace: TraceRows(
                tuple(calls.get(trace, ())),
                tuple(sessions.get(trace, ())),
                tuple(clients.get(trace, ())),
                self.truncated,
                self.error,
                self.absent,
            )
            for trace in {*calls, *sessions, *clients}
        }

    def left_open(self, finished: float) -> tuple[TraceSession, ...]:
        """The sessions still open when the test finished (UNIX seconds): leaks."""
        return tuple(s for s in self.sessions if s.open_after(finished))


def _seconds(value: object) -> float:
    """A stored timestamp (SQLite: text; PostgreSQL: a datetime) as UNIX seconds."""
    moment = utc_moment(value) if isinstance(value, str | datetime) else None
    return moment.timestamp() if moment is not None else 0.0


def _maybe_seconds(value: object) -> float | None:
    return None if value is None else _seconds(value)


def _call(row: Row) -> TraceCall:
    trace, eid, tool, status, started, ms, sid, span, error = row
    return TraceCall(
        str(trace), str(eid), str(tool), str(status), _seconds(started), float(ms), sid, span,
        error or "",
    )  # fmt: skip


def _session(row: Row) -> TraceSession:
    trace, sid, client, status, requests, created, active, closed = row
    return TraceSession(
        str(trace), str(sid), str(client), str(status), int(requests), _seconds(created),
        _seconds(active), _maybe_seconds(closed),
    )  # fmt: skip


def _client(row: Row) -> TraceClient:
    trace, cid, name, tier, created, revoked = row
    return TraceClient(str(trace), str(cid), str(name), str(tier), _seconds(created), bool(revoked))


def _in_list(trace_ids: Sequence[str]) -> tuple[str, dict[str, object]]:
    if len(trace_ids) > MAX_TRACES:
        raise ValueError(f"at most {MAX_TRACES} trace ids per read, not {len(trace_ids)}")
    params: dict[str, object] = {f"t{i}": trace for i, trace in enumerate(trace_ids)}
    return ", ".join(f":{name}" for name in params), params


def _bounded(fetch: Fetch, sql: str, trace_ids: Sequence[str], kept: int) -> tuple[list[Row], bool]:
    ids, params = _in_list(trace_ids)
    rows = list(fetch(sql.format(ids=ids), {**params, "limit": kept + 1}))
    return rows[:kept], len(rows) > kept


def read_trace_rows(fetch: Fetch, trace_ids: Sequence[str]) -> TraceRows:
    """The calls, sessions and clients carrying one of `trace_ids`, oldest first."""
    if not trace_ids:
        return TraceRows()
    calls, more_calls = _bounded(fetch, _CALLS_SQL, trace_ids, CALLS_KEPT)
    sessions, more_sessions = _bounded(fetch, _SESSIONS_SQL, trace_ids, SESSIONS_KEPT)
    clients, more_clients = _bounded(fetch, _CLIENTS_SQL, trace_ids, CLIENTS_KEPT)
    return TraceRows(
        tuple(_call(r) for r in calls),
        tuple(_session(r) for r in sessions),
        tuple(_client(r) for r in clients),
        truncated=more_calls or more_sessions or more_clients,
    )


def read_trace_calls(fetch: Fetch, trace_ids: Sequence[str]) -> dict[str, tuple[TraceCall, ...]]:
    """The tool calls of each of `trace_ids` (at most `MAX_TRACES`), oldest first; a trace
    with no calls maps to (). For a run timeline: `DatabaseView.trace_calls` reads any
    number of traces, `MAX_TRACES` at a time, in one transaction."""
    found: dict[str, list[TraceCall]] = {trace: [] for trace in trace_ids}
    if trace_ids:
        rows, _ = _bounded(fetch, _CALLS_SQL, trace_ids, CALLS_KEPT)
        for row in rows:
            call = _call(row)
            found.setdefault(call.trace_id, []).append(call)
    return {trace: tuple(calls) for trace, calls in found.items()}
