"""The live tables of a SQLite file, through one read-only connection.

The connection stays open so `PRAGMA data_version` can tell whether any other
connection committed since the last look: an unchanged file costs one pragma.
The file is reopened when it is replaced (a new inode). A missing, locked or
corrupt file becomes a message, and the next poll tries again.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from mcp_dashboard.db_views.base import DEFAULT_ROW_LIMIT, DatabaseView
from mcp_dashboard.db_views.queries import Row
from mcp_service.sqlite_busy import is_busy


class SQLiteView(DatabaseView):
    """Polls one SQLite file; call `poll()` from a worker thread, never the UI thread."""

    tie = "rowid"  # insertion order among equal timestamps

    def __init__(self, path: str | Path, *, limit: int = DEFAULT_ROW_LIMIT) -> None:
        super().__init__(limit=limit)
        self.path = Path(path)
        self.source = str(self.path)
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None

    def _connection(self) -> sqlite3.Connection:
        stat = os.stat(self.path)  # FileNotFoundError when missing
        identity = (stat.st_dev, stat.st_ino)
        if self._conn is None or identity != self._identity:
            self._disconnect()
            # Used from different worker threads, one at a time (the poll lock).
            conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, timeout=0.2, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout=200")
            self._conn, self._identity = conn, identity
        return self._conn

    def _begin(self) -> int:
        # A commit between this pragma and the read is read now and seen again next
        # time (the stored version is older): one extra refresh, never a missed one.
        return int(self._connection().execute("PRAGMA data_version").fetchone()[0])

    def _start_read(self) -> None:
        # One read transaction: the tables and totals come from the same moment.
        assert self._conn is not None
        self._conn.execute("BEGIN")

    def _fetch(self, sql: str, params: Mapping[str, object]) -> Sequence[Row]:
        assert self._conn is not None
        rows: list[Row] = self._conn.execute(sql, dict(params)).fetchall()
        return rows

    def _since_param(self, moment: datetime) -> object:
        # SQLAlchemy stores SQLite datetimes as UTC text in this form: compared as text.
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")

    def _end(self) -> None:
        if self._conn is not None and self._conn.in_transaction:
            try:
                self._conn.rollback()
            except sqlite3.Error:
                self._release()

    def _release(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = self._identity = None

    def _absent(self, exc: Exception) -> bool:
        return isinstance(exc, FileNotFoundError) or "no such table" in str(exc)

    def _explain(self, exc: Exception) -> str | None:
        if not isinstance(exc, sqlite3.Error | OSError):
            return None
        text = str(exc)
        if isinstance(exc, FileNotFoundError):
            return f"Database file not found: {self.path} (waiting for it to appear)"
        if isinstance(exc, sqlite3.Error) and is_busy(exc):
            return f"Database is locked by another process: {self.path} (retrying)"
        if "not a database" in text or "malformed" in text:
            return f"Database file is corrupt or not SQLite: {self.path} (retrying)"
        if "no such table" in text:
            return f"Database has no service tables yet: {self.path} (waiting)"
        return f"Cannot read {self.path}: {text}"
