"""The live tables of a PostgreSQL database, through one read-only synchronous connection.

Change signal: `pg_current_snapshot()`, read as the first statement of a
REPEATABLE READ transaction, so it is exactly the snapshot the tables are then
read from. A snapshot (xmin, xmax, in-progress xids) decides which transactions
are visible; if the text is the same at the next poll, no transaction
committed anywhere in between, so our tables cannot have changed. A commit
moves xmax or leaves the in-progress list, so a change is never missed, even
when a long transaction commits after a younger one (xmax alone would miss
that). Read-only transactions take no xid and do not move it, so our own polls
do not count. It is cluster-wide: a commit in another database of the server
also triggers a refresh: ~10 ms with 100k executions, at most twice a second.
An unchanged check is BEGIN, one SELECT and ROLLBACK: ~0.4 ms here
(benchmarks/table_refresh.py).

Measured and refused: `pg_stat_database` counters (`xact_commit`,
`tup_inserted`) are flushed by idle backends only every 10 s on PostgreSQL 15
(an insert showed up after 9.8 s), and our own reads bump `xact_commit`;
`max(xmin)` scans every row and misses deletes; commit timestamps need
`track_commit_timestamp`, off by default.

The session is read-only (`default_transaction_read_only`), waits at most 2 s
for a connection or a lock and 10 s for a statement, and is dropped after any
fault: the next poll reconnects, so a server that comes back or a database
that is recreated is picked up by itself. Messages never contain the URL's
password.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, TextClause, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from mcp_dashboard.db_views.base import DEFAULT_ROW_LIMIT, DatabaseView
from mcp_dashboard.db_views.queries import Row
from mcp_service.schema import describe

CHANGE_SIGNAL = text("SELECT pg_current_snapshot()::text")
CONNECT_TIMEOUT_S = 2
SESSION_OPTIONS = "-c default_transaction_read_only=on -c lock_timeout=2s -c statement_timeout=10s"
LOST = ("57P01", "57P02", "57P03")  # admin shutdown, crash shutdown, cannot connect now


@functools.cache
def _compiled(sql: str) -> TextClause:
    """The same few statements run at every poll: wrap each in `text()` once."""
    return text(sql)


def sync_url(url: str | URL) -> URL:
    """The same database through psycopg 3, the synchronous driver the service installs."""
    return make_url(url).set(drivername="postgresql+psycopg")


class PostgresView(DatabaseView):
    """Polls one PostgreSQL database; call `poll()` from a worker thread, never the UI thread."""

    def __init__(self, url: str | URL, *, limit: int = DEFAULT_ROW_LIMIT) -> None:
        super().__init__(limit=limit)
        self.url = sync_url(url)
        self.source = describe(url)
        self._engine: Engine | None = None
        self._conn: Connection | None = None

    def _connection(self) -> Connection:
        if self._conn is None:
            if self._engine is None:
                given = self.url.query.get("options") or ()  # one value, or a tuple of them
                ours = [given] if isinstance(given, str) else list(given)
                options = " ".join([*ours, SESSION_OPTIONS])
                self._engine = create_engine(
                    self.url,
                    pool_size=1,
                    max_overflow=0,
                    isolation_level="REPEATABLE READ",
                    connect_args={
                        "connect_timeout": CONNECT_TIMEOUT_S,
                        "application_name": "mcp-dashboard",
                        "options": options,
                    },
                )
            self._conn = self._engine.connect()
        return self._conn

    def _begin(self) -> str:
        # The first statement of the transaction: its snapshot is the one read below.
        return str(self._connection().execute(CHANGE_SIGNAL).scalar_one())

    def _fetch(self, sql: str, params: Mapping[str, object]) -> Sequence[Row]:
        assert self._conn is not None
        return self._conn.execute(_compiled(sql), dict(params)).all()

    def _since_param(self, moment: datetime) -> object:
        return moment

    def _end(self) -> None:
        if self._conn is not None:
            try:
                self._conn.rollback()
            except SQLAlchemyError:
                self._release()

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.invalidate()  # it may be broken: never hand it back to the pool
            conn.close()
        if self._engine is not None:
            self._engine.dispose()

    def _absent(self, exc: Exception) -> bool:
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        return getattr(orig, "sqlstate", None) == "42P01"  # the service's tables are not there

    def _explain(self, exc: Exception) -> str | None:
        if not isinstance(exc, SQLAlchemyError | OSError):
            return None
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        state = getattr(orig, "sqlstate", None)
        message = self._scrub(str(orig))
        first = message.splitlines()[0].strip() if message.strip() else type(orig).__name__
        where = f"{self.url.host or 'localhost'}:{self.url.port or 5432}"
        if state == "42P01":
            return f"Database has no service tables yet: {self.source} (waiting)"
        if state == "55P03":
            return f"Database tables are locked by another session: {self.source} (retrying)"
        if state == "57014":
            return f"Reading {self.source} took too long and was cancelled (retrying)"
        lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
        reason = first.rsplit("failed:", 1)[-1].strip()  # libpq: "connection to … failed: why"
        if state in LOST or lost or "server closed the connection" in message:
            return f"Lost the connection to {self.source}: {reason} (reconnecting)"
        if 'database "' in first and "does not exist" in first:
            return f"Database {self.url.database} does not exist on {where} (waiting for it)"
        if "password authentication failed" in first or 'role "' in first or "pg_hba" in first:
            reason = first.rsplit("FATAL:", 1)[-1].strip()
            return f"PostgreSQL at {where} refused the login: {reason}"
        if "connection failed" in first or "resolve host" in first or "timeout" in first:
            return f"Cannot reach the PostgreSQL server at {where}: {reason} (retrying)"
        return f"Cannot read {self.source}: {first}"

    def _scrub(self, message: str) -> str:
        """Drivers do not echo passwords, but a message is shown: make sure."""
        password = self.url.password
        return message.replace(str(password), "***") if password else message
