"""SQLite's "database is locked": recognising it, and waiting where SQLite will not."""

from __future__ import annotations

import sqlite3
import time
from typing import Any


def is_busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED, extended codes included."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def enter_wal(cursor: Any, busy_timeout_ms: int) -> None:
    """Switch the file to WAL, waiting while another process holds a lock on it.

    Only a new file is not in WAL yet. Changing its journal mode needs an
    exclusive lock, and SQLite answers "database is locked" at once, without
    the busy handler, while processes starting together on it hold locks, so
    the wait is here (bounded by busy_timeout, and only ever on a new file).
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:  # aiosqlite raises the stdlib class too
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
