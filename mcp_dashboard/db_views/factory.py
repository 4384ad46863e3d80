"""Which view reads a database: chosen from the service's URL (or a SQLite file's path).

The engine modules are imported only when chosen: the PostgreSQL one loads
SQLAlchemy's engine and psycopg, which a SQLite user never needs.
"""

from __future__ import annotations

from pathlib import Path

from mcp_dashboard.db_views.base import DEFAULT_ROW_LIMIT, DatabaseView


class UnsupportedDatabase(ValueError):
    """The URL names a database the live tables cannot read from another process."""


def open_view(database: str | Path, *, limit: int = DEFAULT_ROW_LIMIT) -> DatabaseView:
    """The view for a service URL (a SQLite file or PostgreSQL), or for a SQLite file's path.

    Connects lazily: a database that is not there yet is a message at the first poll.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from mcp_service.db import sqlite_file
    from mcp_service.errors import ValidationError

    if isinstance(database, Path):
        from mcp_dashboard.db_views.sqlite import SQLiteView

        return SQLiteView(database, limit=limit)
    try:
        backend = make_url(database).get_backend_name()
        path = sqlite_file(database)
    except ArgumentError:
        # Not echoed: a malformed URL may still hold a password.
        raise UnsupportedDatabase("not a database URL (e.g. sqlite+aiosqlite:///FILE)") from None
    except ValidationError as exc:
        raise UnsupportedDatabase(str(exc)) from None
    if path is not None:
        from mcp_dashboard.db_views.sqlite import SQLiteView

        return SQLiteView(path, limit=limit)
    if backend == "postgresql":
        from mcp_dashboard.db_views.postgres import PostgresView

        return PostgresView(database, limit=limit)
    raise UnsupportedDatabase(
        f"the live tables read a SQLite file or PostgreSQL; {backend} is not supported"
    )
