"""Which engine a service database URL names: the one rule every reader of it follows.

The live tables (`factory.open_view`) and the run's tool calls (`run_metrics`) both
read a SQLite file or PostgreSQL, and both refuse the same URLs the same way: a
malformed URL (without echoing it: it may hold a password), in-memory SQLite (no
other process can see it), and any other engine.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path


class UnsupportedDatabase(ValueError):
    """The URL names a database the dashboard cannot read from another process."""


@dataclass(frozen=True, slots=True)
class SQLiteFile:
    path: Path


@dataclass(frozen=True, slots=True)
class PostgreSQL:
    url: str  # as given: each reader picks its own driver


def database_engine(database_url: str) -> SQLiteFile | PostgreSQL:
    """The SQLite file or the PostgreSQL database `database_url` names.

    Raises `UnsupportedDatabase` for anything else, with a message that never holds
    the URL's password.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from mcp_service.db import sqlite_file
    from mcp_service.errors import ValidationError

    try:
        backend = make_url(database_url).get_backend_name()
        path = sqlite_file(database_url)
    except ArgumentError:
        raise UnsupportedDatabase("not a database URL (e.g. sqlite+aiosqlite:///FILE)") from None
    except ValidationError as exc:
        raise UnsupportedDatabase(str(exc)) from None
    if path is not None:
        return SQLiteFile(path)
    if backend == "postgresql":
        return PostgreSQL(database_url)
    raise UnsupportedDatabase(
        f"the dashboard reads a SQLite file or PostgreSQL; {backend} is not supported"
    )


def load_in_background() -> None:
    """Import what `database_engine` needs (SQLAlchemy, the service's URL rule: ~0.3 s)
    in a thread while a run goes on: `--ci` reads the run's tool calls after pytest has
    ended, and would otherwise spend that time before its summary."""
    threading.Thread(target=_load, name="mcp-dashboard-engines", daemon=True).start()


def _load() -> None:
    database_engine("postgresql://preload")  # its imports, through the rule itself: no I/O
