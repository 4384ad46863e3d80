"""The SQL both engines run, and how its rows look on screen.

Tables are read newest first, a page at a time (`:limit`, `:offset`), with their total;
a summary of calls per tool over the last minute; and, for monitor mode's detail
screen, one row with what hangs off it (an execution's arguments and result, a
session's calls, a client's sessions). Every query takes named parameters, which
sqlite3 and SQLAlchemy both accept. Key hashes are shown only as scheme and salt prefix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mcp_service.security import hash_preview

Row = Sequence[Any]
Fetch = Callable[[str, Mapping[str, object]], Sequence[Row]]

CLIENT_COLUMNS = ("client", "name", "tier", "type", "key hash", "created", "last active", "state")
SESSION_COLUMNS = ("session", "client", "status", "requests", "created", "last activity")
EXECUTION_COLUMNS = ("id", "started", "tool", "status", "ms", "client", "session", "error")
TABLES = ("clients", "sessions", "executions")
TABLE_OF = {"clients": "clients", "sessions": "sessions", "executions": "tool_executions"}
ERROR_KEPT = 400  # characters of an error kept for the table (the screen fits it to the width)
DETAIL_TEXT_KEPT = 64 * 1024  # of arguments, results and errors on the detail screen
TOOL_WINDOW_S = 60  # the per-tool summary counts the calls of the last minute

# Newest first. Equal timestamps are ordered by `{tie}`: SQLite's rowid (insertion
# order) or, on engines without one, the primary key (stable, if arbitrary). `{where}`:
# nothing, or one test's rows (`:trace`, its W3C trace id). Each row ends with its trace id
# (NULL: untraced), kept beside the cells (`Table.traces`).
_SQL = {
    "clients": "SELECT id, name, tier, client_type, api_key_hash, created_at, last_active_at, "
    "revoked_at, trace_id FROM clients {where}ORDER BY created_at DESC, {tie} DESC "
    "LIMIT :limit OFFSET :offset",
    "sessions": "SELECT s.id, c.name, s.status, s.request_count, s.created_at, "
    "s.last_activity_at, s.trace_id FROM sessions s JOIN clients c ON c.id = s.client_id "
    "{where}ORDER BY s.created_at DESC, s.{tie} DESC LIMIT :limit OFFSET :offset",
    "executions": "SELECT e.id, e.started_at, e.tool_name, e.status, e.duration_ms, c.name, "
    "e.session_id, e.error_message, e.trace_id FROM tool_executions e "
    "JOIN clients c ON c.id = e.client_id "
    "{where}ORDER BY e.started_at DESC, e.{tie} DESC LIMIT :limit OFFSET :offset",
}
_TRACE_COLUMN = {"clients": "trace_id", "sessions": "s.trace_id", "executions": "e.trace_id"}
# Whether any row carries a trace id: three lookups in the partial trace indexes.
TRACED_SQL = (
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM tool_executions WHERE trace_id IS NOT NULL "
    "LIMIT 1) e) + (SELECT count(*) FROM (SELECT 1 FROM sessions WHERE trace_id IS NOT NULL "
    "LIMIT 1) s) + (SELECT count(*) FROM (SELECT 1 FROM clients WHERE trace_id IS NOT NULL "
    "LIMIT 1) c)"
)
TOOL_SQL = (
    "SELECT tool_name, count(*), sum(CASE WHEN status = 'success' THEN 0 ELSE 1 END) "
    "FROM tool_executions WHERE started_at >= :since GROUP BY tool_name "
    "ORDER BY count(*) DESC, tool_name LIMIT 20"
)


def table_queries(tie: str, *, traced: bool = False) -> dict[str, str]:
    """The three SELECTs (named parameters `:limit`, `:offset`), tie-broken by `tie`;
    `traced`: only the rows of one trace (`:trace`)."""
    return {
        name: sql.format(tie=tie, where=f"WHERE {_TRACE_COLUMN[name]} = :trace " if traced else "")
        for name, sql in _SQL.items()
    }


def count_query(name: str, *, traced: bool = False) -> str:
    where = " WHERE trace_id = :trace" if traced else ""
    return f"SELECT count(*) FROM {TABLE_OF[name]}{where}"  # noqa: S608 - fixed table names


# -- cells -------------------------------------------------------------------------


def short_id(value: str | None) -> str:
    return value[:8] if value else "-"


def clock(value: str | datetime | None) -> str:
    """UTC time of day (the date when it is not today); SQLite stores text, PostgreSQL datetimes."""
    if not value:
        return "-"
    moment = utc_moment(value)
    if moment is None:
        return str(value)[:19]
    if moment.date() == datetime.now(UTC).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def utc_moment(value: str | datetime) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return None


def truncate(value: str | None, width: int) -> str:
    if not value:
        return ""
    flat = " ".join(value.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _client_cells(row: Row) -> tuple[str, tuple[str, ...]]:
    cid, name, tier, ctype, key_hash, created, active, revoked = row
    return cid, (
        short_id(cid),
        truncate(name, 32),
        tier,
        truncate(ctype, 12),
        hash_preview(key_hash or ""),
        clock(created),
        clock(active),
        "revoked" if revoked else "active",
    )


def _session_cells(row: Row) -> tuple[str, tuple[str, ...]]:
    sid, name, status, requests, created, active = row
    cells = (short_id(sid), truncate(name, 24), status, str(requests), clock(created))
    return sid, (*cells, clock(active))


def _execution_cells(row: Row) -> tuple[str, tuple[str, ...]]:
    eid, started, tool, status, ms, name, sid, error = row
    return eid, (
        short_id(eid),
        clock(started),
        truncate(tool, 20),
        status,
        f"{ms:.1f}",
        truncate(name, 20),
        short_id(sid),
        truncate(error, ERROR_KEPT),
    )


CELLS = {
    "clients": (CLIENT_COLUMNS, _client_cells),
    "sessions": (SESSION_COLUMNS, _session_cells),
    "executions": (EXECUTION_COLUMNS, _execution_cells),
}


# -- what a snapshot holds --------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """Rows ready to draw: (key, cells) newest first, from row `offset`, of `total` rows."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    total: int
    offset: int = 0
    traces: tuple[str | None, ...] = ()  # each row's trace id, when the rows have them


@dataclass(frozen=True)
class ToolRate:
    """One tool's calls in the last `TOOL_WINDOW_S` seconds."""

    tool: str
    calls: int
    errors: int

    @property
    def per_second(self) -> float:
        return self.calls / TOOL_WINDOW_S

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


def read_tables(
    fetch: Fetch,
    queries: Mapping[str, str],
    limit: int,
    offsets: Mapping[str, int],
    since: object,
    trace: str | None = None,
) -> tuple[dict[str, Table], tuple[ToolRate, ...] | None]:
    """The three tables (`trace`: only its rows, with `queries` made `traced`), and the
    per-tool summary from `since` (None: not read)."""
    tables = {}
    traced = trace is not None
    for name in TABLES:
        columns, cells = CELLS[name]
        offset = offsets.get(name, 0)
        params: dict[str, object] = {"limit": limit, "offset": offset}
        if traced:
            params["trace"] = trace
        rows = fetch(queries[name], params)
        total = int(
            fetch(count_query(name, traced=traced), {"trace": trace} if traced else {})[0][0]
        )
        shown = tuple(cells(r[:-1]) for r in rows)
        tables[name] = Table(name, columns, shown, total, offset, tuple(r[-1] for r in rows))
    if since is None:
        return tables, None
    rates = tuple(
        ToolRate(str(tool), int(calls), int(errors or 0))
        for tool, calls, errors in fetch(TOOL_SQL, {"since": since})
    )
    return tables, rates


def read_traced(fetch: Fetch) -> bool:
    """Whether any client, session or execution carries a trace id (a traced test made it)."""
    return bool(fetch(TRACED_SQL, {})[0][0])


def window_start(now: datetime | None = None) -> datetime:
    """The start of the per-tool summary's window (UTC)."""
    moment = now or datetime.now(UTC)
    return datetime.fromtimestamp(moment.timestamp() - TOOL_WINDOW_S, UTC)


# -- the detail of one row ----------------------------------------------------------------


@dataclass(frozen=True)
class Detail:
    """What monitor mode shows for one row: a title, facts, and sections of text."""

    title: str
    facts: tuple[tuple[str, str], ...] = ()
    sections: tuple[tuple[str, str], ...] = ()
    error: str | None = None


_DETAIL_SQL = {
    "executions": "SELECT e.id, e.tool_name, e.status, e.started_at, e.finished_at, "
    "e.duration_ms, e.client_id, c.name, e.session_id, e.error_message, e.arguments, e.result "
    "FROM tool_executions e JOIN clients c ON c.id = e.client_id WHERE e.id = :key",
    "sessions": "SELECT s.id, s.client_id, c.name, s.status, s.request_count, s.created_at, "
    "s.last_activity_at, s.metadata FROM sessions s JOIN clients c ON c.id = s.client_id "
    "WHERE s.id = :key",
    "clients": "SELECT id, name, tier, client_type, api_key_hash, created_at, last_active_at, "
    "revoked_at, metadata FROM clients WHERE id = :key",
}
_CALLS_SQL = (
    "SELECT started_at, tool_name, status, duration_ms, error_message FROM tool_executions "
    "WHERE session_id = :key ORDER BY started_at DESC LIMIT 200"
)
_SESSIONS_SQL = (
    "SELECT id, status, request_count, created_at, last_activity_at FROM sessions "
    "WHERE client_id = :key ORDER BY created_at DESC LIMIT 100"
)


def read_detail(fetch: Fetch, table: str, key: str) -> Detail:
    """One row of `table` and what hangs off it, or a Detail whose `error` says it is gone."""
    found = fetch(_DETAIL_SQL[table], {"key": key})
    if not found:
        return Detail(title=f"{table[:-1]} {short_id(key)}", error="This row is no longer there.")
    row = found[0]
    if table == "executions":
        return _execution_detail(row)
    if table == "sessions":
        return _session_detail(row, fetch(_CALLS_SQL, {"key": key}))
    return _client_detail(row, fetch(_SESSIONS_SQL, {"key": key}))


def _execution_detail(row: Row) -> Detail:
    eid, tool, status, started, finished, ms, cid, name, sid, error, arguments, result = row
    facts = (
        ("status", str(status)),
        ("started", clock(started)),
        ("finished", clock(finished)),
        ("duration", f"{ms:.1f} ms"),
        ("client", f"{name} ({cid})"),
        ("session", str(sid or "-")),
    )
    sections = (
        ("Error", _clip(error or "")),
        ("Arguments", pretty(arguments)),
        ("Result", pretty(result)),
    )
    return Detail(title=f"execution {eid} · {tool}", facts=facts, sections=sections)


def _session_detail(row: Row, calls: Sequence[Row]) -> Detail:
    sid, cid, name, status, requests, created, active, metadata = row
    facts = (
        ("status", str(status)),
        ("client", f"{name} ({cid})"),
        ("requests", str(requests)),
        ("created", clock(created)),
        ("last activity", clock(active)),
    )
    listed = "\n".join(
        f"{clock(at)}  {tool:<20} {state:<12} {ms:9.1f} ms  {truncate(err, 80)}".rstrip()
        for at, tool, state, ms, err in calls
    )
    heading = f"Calls (newest first, {len(calls)} shown)"
    return Detail(
        title=f"session {sid}",
        facts=facts,
        sections=((heading, listed), ("Metadata", pretty(metadata))),
    )


def _client_detail(row: Row, sessions: Sequence[Row]) -> Detail:
    cid, name, tier, ctype, key_hash, created, active, revoked, metadata = row
    facts = (
        ("name", str(name)),
        ("tier", str(tier)),
        ("type", str(ctype)),
        ("key hash", hash_preview(key_hash or "")),
        ("created", clock(created)),
        ("last active", clock(active)),
        ("state", f"revoked {clock(revoked)}" if revoked else "active"),
    )
    listed = "\n".join(
        f"{sid}  {state:<8} {requests:>6} requests  {clock(made)} → {clock(seen)}"
        for sid, state, requests, made, seen in sessions
    )
    heading = f"Sessions (newest first, {len(sessions)} shown)"
    return Detail(
        title=f"client {cid}",
        facts=facts,
        sections=((heading, listed), ("Metadata", pretty(metadata))),
    )


def pretty(value: object) -> str:
    """JSON as stored (SQLite: text; PostgreSQL: decoded), indented, clipped."""
    if value is None or value == "":
        return ""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return _clip(str(value))
    return _clip(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str))


def _clip(text: str) -> str:
    if len(text) <= DETAIL_TEXT_KEPT:
        return text
    return text[:DETAIL_TEXT_KEPT] + f"\n… {len(text) - DETAIL_TEXT_KEPT:,} characters more"
