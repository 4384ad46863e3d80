"""The tool calls a run's tests made: the `tool_executions` rows stamped with their trace ids.

Read once, after the run, from the database the run used (a SQLite file read-only,
or PostgreSQL in a read-only session). Bounded: the trace ids go in chunks of
`CHUNK` per IN list and the rows stop at `MAX_ROWS` in all. A database with no
service tables (a suite that never started the service) is no calls, not a fault;
any other fault is a message that never holds the URL's password.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp_dashboard.db_views.engines import SQLiteFile, UnsupportedDatabase, database_engine
from mcp_dashboard.tool_metrics import CallRow

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.engine import URL

CHUNK = 500  # trace ids per IN list (SQLite allows 32,766 parameters; PostgreSQL 65,535)
MAX_ROWS = 200_000
SESSION_OPTIONS = "-c default_transaction_read_only=on -c lock_timeout=2s -c statement_timeout=30s"

Fetch = Callable[[str, Mapping[str, object]], Sequence[Sequence[Any]]]


@dataclass(frozen=True, slots=True)
class RunCalls:
    rows: tuple[CallRow, ...] = ()
    truncated: bool = False  # MAX_ROWS reached: more rows may exist
    error: str | None = None


def calls_sql(count: int) -> str:
    marks = ", ".join(f":t{i}" for i in range(count))
    return (
        "SELECT trace_id, tool_name, status, duration_ms FROM tool_executions "  # noqa: S608
        f"WHERE trace_id IS NOT NULL AND trace_id IN ({marks}) LIMIT :limit"
    )


def read_calls(fetch: Fetch, trace_ids: Sequence[str], max_rows: int = MAX_ROWS) -> RunCalls:
    """The rows of `trace_ids` through `fetch`, chunk by chunk, at most `max_rows`."""
    rows: list[CallRow] = []
    for start in range(0, len(trace_ids), CHUNK):
        chunk = trace_ids[start : start + CHUNK]
        params: dict[str, object] = {f"t{i}": trace for i, trace in enumerate(chunk)}
        params["limit"] = max_rows - len(rows) + 1  # one more than room: tells a cut
        for trace, tool, status, duration in fetch(calls_sql(len(chunk)), params):
            rows.append((str(trace), str(tool), str(status), float(duration)))
        if len(rows) > max_rows:
            return RunCalls(tuple(rows[:max_rows]), truncated=True)
    return RunCalls(tuple(rows))


def read_run_calls(database_url: str, trace_ids: Sequence[str]) -> RunCalls:
    """The run's calls from the service database at `database_url`."""
    if not trace_ids:
        return RunCalls()
    try:
        engine = database_engine(database_url)
    except UnsupportedDatabase as exc:
        return RunCalls(error=f"tool calls not read: {exc}")
    if isinstance(engine, SQLiteFile):
        return _read_sqlite(str(engine.path), trace_ids)
    return _read_postgres(engine.url, trace_ids)


def _read_sqlite(path: str, trace_ids: Sequence[str]) -> RunCalls:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.OperationalError:
        return RunCalls()  # no file: the run never started the service
    try:
        with conn:
            return read_calls(lambda sql, p: conn.execute(sql, dict(p)).fetchall(), trace_ids)
    except sqlite3.Error as exc:
        if "no such table" in str(exc):
            return RunCalls()
        return RunCalls(error=f"cannot read {path}: {exc}")
    finally:
        conn.close()


def _read_postgres(database_url: str, trace_ids: Sequence[str]) -> RunCalls:
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError, SQLAlchemyError

    from mcp_dashboard.db_views.postgres import sync_url
    from mcp_service.schema import describe

    try:
        with _postgres(sync_url(database_url)) as conn:

            def fetch(sql: str, params: Mapping[str, object]) -> Sequence[Sequence[Any]]:
                return conn.execute(text(sql), dict(params)).all()

            return read_calls(fetch, trace_ids)
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) == "42P01":  # undefined table
            return RunCalls()
        return RunCalls(error=f"cannot read {describe(database_url)}: {type(exc.orig).__name__}")
    except SQLAlchemyError as exc:
        # The driver's text may echo connection details: name the fault's kind only.
        kind = type(getattr(exc, "orig", None) or exc).__name__
        return RunCalls(error=f"cannot read {describe(database_url)}: {kind}")


@contextmanager
def _postgres(url: URL) -> Iterator[Connection]:
    """One read-only connection; the URL's own `options` kept before ours."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    given = url.query.get("options") or ()  # one value, or a tuple of them
    options = " ".join([*([given] if isinstance(given, str) else given), SESSION_OPTIONS])
    engine = create_engine(
        url,
        poolclass=NullPool,
        connect_args={
            "connect_timeout": 5,
            "application_name": "mcp-dashboard",
            "options": options,
        },
    )
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()
