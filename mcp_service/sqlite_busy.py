"""Switching a SQLite file to WAL when several processes open it at once."""

from __future__ import annotations

import sqlite3
import time
from typing import Any


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
            code = getattr(exc, "sqlite_errorcode", 0)
            if code & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
