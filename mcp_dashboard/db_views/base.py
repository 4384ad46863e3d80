"""What every engine's view shares: the snapshot, the SQL, the cell formats, one poll at a time.

A view answers `poll()` from a worker thread: a new `Snapshot` when someone
committed since the last one, else None, so an unchanged database costs one
cheap check, not three queries. Both engines (`sqlite`, `postgres`) read the
same rows in the same order through the SQL below and format them with the
same functions, and both turn every fault into a message in the snapshot,
never an exception. Hashes are shown only as scheme and salt prefix, never whole.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mcp_service.security import hash_preview

DEFAULT_ROW_LIMIT = 200


@dataclass(frozen=True)
class Table:
    """Rows ready to draw: (key, cells) newest first, plus the table's total row count."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    total: int


@dataclass(frozen=True)
class Snapshot:
    clients: Table | None = None
    sessions: Table | None = None
    executions: Table | None = None
    error: str | None = None
    # The error is that there is no service database (yet): no file, or no service tables.
    # Not a fault when the run never made one; the run's tables stay one quiet line.
    absent: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


CLIENT_COLUMNS = ("client", "name", "tier", "type", "key hash", "created", "last active", "state")
SESSION_COLUMNS = ("session", "client", "status", "requests", "created", "last activity")
EXECUTION_COLUMNS = ("id", "started", "tool", "status", "ms", "client", "session", "error")

# Newest first. Equal timestamps are ordered by `{tie}`: SQLite's rowid (insertion
# order) or, on engines without one, the primary key (stable, if arbitrary).
_SQL = {
    "clients": "SELECT id, name, tier, client_type, api_key_hash, created_at, last_active_at, "
    "revoked_at FROM clients ORDER BY created_at DESC, {tie} DESC LIMIT :limit",
    "sessions": "SELECT s.id, c.name, s.status, s.request_count, s.created_at, "
    "s.last_activity_at FROM sessions s JOIN clients c ON c.id = s.client_id "
    "ORDER BY s.created_at DESC, s.{tie} DESC LIMIT :limit",
    "executions": "SELECT e.id, e.started_at, e.tool_name, e.status, e.duration_ms, c.name, "
    "e.session_id, e.error_message FROM tool_executions e "
    "JOIN clients c ON c.id = e.client_id "
    "ORDER BY e.started_at DESC, e.{tie} DESC LIMIT :limit",
}
TABLE_OF = {"clients": "clients", "sessions": "sessions", "executions": "tool_executions"}


def table_queries(tie: str) -> dict[str, str]:
    """The three SELECTs (named parameter `:limit`), tie-broken by the column `tie`."""
    return {name: sql.format(tie=tie) for name, sql in _SQL.items()}


def count_query(name: str) -> str:
    return f"SELECT count(*) FROM {TABLE_OF[name]}"  # noqa: S608 - fixed table names


def short_id(value: str | None) -> str:
    return value[:8] if value else "-"


def clock(value: str | datetime | None) -> str:
    """UTC time of day (the date when it is not today); SQLite stores text, PostgreSQL datetimes."""
    if not value:
        return "-"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        try:
            moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
        except ValueError:
            return value[:19]
    if moment.date() == datetime.now(UTC).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def truncate(value: str | None, width: int) -> str:
    if not value:
        return ""
    flat = " ".join(value.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


Row = Sequence[Any]


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
        truncate(error, 60),
    )


_TABLES = (
    ("clients", CLIENT_COLUMNS, _client_cells),
    ("sessions", SESSION_COLUMNS, _session_cells),
    ("executions", EXECUTION_COLUMNS, _execution_cells),
)


def read_tables(rows: Callable[[str], Sequence[Row]], count: Callable[[str], int]) -> Snapshot:
    """A snapshot from an engine's `rows(name)` and `count(name)`, read in one transaction."""
    clients, sessions, executions = (
        Table(name, columns, tuple(cells(row) for row in rows(name)), count(name))
        for name, columns, cells in _TABLES
    )
    return Snapshot(clients=clients, sessions=sessions, executions=executions)


class DatabaseView(ABC):
    """What every engine's view shares: one poll at a time, faults as messages, `close()`.

    Thread workers cannot be interrupted, so a poll that waits (a lock, a
    connect timing out) may still run when the next timer tick starts another
    worker: that one returns None at once instead of sharing the connection.
    """

    source: str  # what the status line shows; never a password

    def __init__(self, *, limit: int = DEFAULT_ROW_LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._closed = threading.Event()  # set by the UI thread, read by the polling one
        self._marker: object = None  # the change signal at the last snapshot

    def poll(self, *, force: bool = False) -> Snapshot | None:
        """A new snapshot, or None when nothing changed (or another poll is still running)."""
        if self._closed.is_set() or not self._lock.acquire(blocking=False):
            return None
        try:
            if self._closed.is_set():  # closed while this poll waited for its turn
                return None
            try:
                marker = self._begin()
                try:
                    unchanged = not force and self._marker is not None and marker == self._marker
                    snapshot = None if unchanged else self._read()
                finally:
                    self._end()
                self._marker = marker
                return snapshot
            except Exception as exc:
                message = self._explain(exc)
                if message is None:
                    raise
                self._disconnect()
                return Snapshot(error=message, absent=self._absent(exc))
        finally:
            self._lock.release()
            if self._closed.is_set():
                self._close_if_idle()

    def close(self) -> None:
        """Stop polling and release the connection: now, or when the poll in progress ends.

        Called from the UI thread, which must not wait for a poll stuck on a lock or a
        connect: whichever of the two gets the lock after this disconnects.
        """
        self._closed.set()
        self._close_if_idle()

    def _close_if_idle(self) -> None:
        if self._lock.acquire(blocking=False):
            try:
                self._disconnect()
            finally:
                self._lock.release()

    def _disconnect(self) -> None:
        self._marker = None
        self._release()

    @abstractmethod
    def _begin(self) -> object:
        """Connect if needed and start a read; return the current change signal."""

    @abstractmethod
    def _read(self) -> Snapshot:
        """The tables, read in the transaction `_begin` started."""

    @abstractmethod
    def _end(self) -> None:
        """End the read started by `_begin` (roll back: nothing was written); never raises."""

    @abstractmethod
    def _release(self) -> None:
        """Close the connection; the next poll reconnects."""

    @abstractmethod
    def _explain(self, exc: Exception) -> str | None:
        """A one-line message for a fault of this engine, or None for a bug (re-raised)."""

    def _absent(self, exc: Exception) -> bool:
        """Whether this fault means "no service database here (yet)" rather than a failure."""
        return False
