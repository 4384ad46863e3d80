"""Read-only views of the service database for the dashboard's live tables.

One read-only SQLite connection is kept open so `PRAGMA data_version` can tell
whether anyone committed since the last look: an unchanged file costs one
pragma, not three queries. A missing, locked or corrupt file becomes a message
in the snapshot, never an exception, and the next poll tries again.
Hashes are shown only as scheme and salt prefix, never whole.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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

    @property
    def ok(self) -> bool:
        return self.error is None


CLIENT_COLUMNS = ("client", "name", "tier", "type", "key hash", "created", "last active", "state")
SESSION_COLUMNS = ("session", "client", "status", "requests", "created", "last activity")
EXECUTION_COLUMNS = ("id", "started", "tool", "status", "ms", "client", "session", "error")


def short_id(value: str | None) -> str:
    return value[:8] if value else "-"


def clock(value: str | None) -> str:
    """SQLite stores UTC as text; show the time of day (the date when it is not today)."""
    if not value:
        return "-"
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


class DatabaseView:
    """Polls one SQLite file; call `poll()` from a worker thread, never the UI thread."""

    def __init__(self, path: str | Path, *, limit: int = DEFAULT_ROW_LIMIT) -> None:
        self.path = Path(path)
        self.limit = limit
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._version: int | None = None

    def poll(self, *, force: bool = False) -> Snapshot | None:
        """A new snapshot, or None when nothing changed since the last one."""
        try:
            conn = self._connection()
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if not force and version == self._version:
                return None
            snapshot = self._read(conn)
            self._version = version
            return snapshot
        except (sqlite3.Error, OSError) as exc:
            self.close()
            return Snapshot(error=self._explain(exc))

    def _connection(self) -> sqlite3.Connection:
        stat = os.stat(self.path)  # FileNotFoundError when missing
        identity = (stat.st_dev, stat.st_ino)
        if self._conn is None or identity != self._identity:
            self.close()
            # The connection may be used from different worker threads, one at a time.
            conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, timeout=0.2, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout=200")
            self._conn, self._identity = conn, identity
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = self._identity = self._version = None

    def _explain(self, exc: BaseException) -> str:
        text = str(exc)
        if isinstance(exc, FileNotFoundError):
            return f"Database file not found: {self.path} (waiting for it to appear)"
        if "locked" in text or "busy" in text:
            return f"Database is locked by another process: {self.path} (retrying)"
        if "not a database" in text or "malformed" in text:
            return f"Database file is corrupt or not SQLite: {self.path} (retrying)"
        if "no such table" in text:
            return f"Database has no service tables yet: {self.path} (waiting)"
        return f"Cannot read {self.path}: {text}"

    def _read(self, conn: sqlite3.Connection) -> Snapshot:
        # One read transaction: the three tables and totals come from the same moment.
        conn.execute("BEGIN")
        try:
            return Snapshot(
                clients=self._clients(conn),
                sessions=self._sessions(conn),
                executions=self._executions(conn),
            )
        finally:
            conn.rollback()

    def _count(self, conn: sqlite3.Connection, table: str) -> int:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608

    def _clients(self, conn: sqlite3.Connection) -> Table:
        rows = conn.execute(
            "SELECT id, name, tier, client_type, api_key_hash, created_at, last_active_at, "
            "revoked_at FROM clients ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (self.limit,),
        ).fetchall()
        return Table(
            "clients",
            CLIENT_COLUMNS,
            tuple(
                (
                    cid,
                    (
                        short_id(cid),
                        truncate(name, 32),
                        tier,
                        truncate(ctype, 12),
                        hash_preview(key_hash or ""),
                        clock(created),
                        clock(active),
                        "revoked" if revoked else "active",
                    ),
                )
                for cid, name, tier, ctype, key_hash, created, active, revoked in rows
            ),
            self._count(conn, "clients"),
        )

    def _sessions(self, conn: sqlite3.Connection) -> Table:
        rows = conn.execute(
            "SELECT s.id, c.name, s.status, s.request_count, s.created_at, s.last_activity_at "
            "FROM sessions s JOIN clients c ON c.id = s.client_id "
            "ORDER BY s.created_at DESC, s.rowid DESC LIMIT ?",
            (self.limit,),
        ).fetchall()
        return Table(
            "sessions",
            SESSION_COLUMNS,
            tuple(
                (
                    sid,
                    (short_id(sid), truncate(name, 24), status, str(n), clock(created), clock(act)),
                )
                for sid, name, status, n, created, act in rows
            ),
            self._count(conn, "sessions"),
        )

    def _executions(self, conn: sqlite3.Connection) -> Table:
        rows = conn.execute(
            "SELECT e.id, e.started_at, e.tool_name, e.status, e.duration_ms, c.name, "
            "e.session_id, e.error_message FROM tool_executions e "
            "JOIN clients c ON c.id = e.client_id "
            "ORDER BY e.started_at DESC, e.rowid DESC LIMIT ?",
            (self.limit,),
        ).fetchall()
        return Table(
            "executions",
            EXECUTION_COLUMNS,
            tuple(
                (
                    eid,
                    (
                        short_id(eid),
                        clock(started),
                        truncate(tool, 20),
                        status,
                        f"{ms:.1f}",
                        truncate(name, 20),
                        short_id(sid),
                        truncate(err, 60),
                    ),
                )
                for eid, started, tool, status, ms, name, sid, err in rows
            ),
            self._count(conn, "tool_executions"),
        )
