"""Which view reads a database: chosen from the service's URL (or a SQLite file's path).

The engine modules are imported only when chosen: the PostgreSQL one loads
SQLAlchemy's engine and psycopg, which a SQLite user never needs.
"""

from __future__ import annotations

from pathlib import Path

from mcp_dashboard.db_views.base import DEFAULT_ROW_LIMIT, DatabaseView
from mcp_dashboard.db_views.engines import SQLiteFile, UnsupportedDatabase, database_engine

__all__ = ["UnsupportedDatabase", "open_view"]


def open_view(database: str | Path, *, limit: int = DEFAULT_ROW_LIMIT) -> DatabaseView:
    """The view for a service URL (a SQLite file or PostgreSQL), or for a SQLite file's path.

    Connects lazily: a database that is not there yet is a message at the first poll.
    Raises `UnsupportedDatabase` for a URL no view reads.
    """
    engine = SQLiteFile(database) if isinstance(database, Path) else database_engine(database)
    if isinstance(engine, SQLiteFile):
        from mcp_dashboard.db_views.sqlite import SQLiteView

        return SQLiteView(engine.path, limit=limit)
    from mcp_dashboard.db_views.postgres import PostgresView

    return PostgresView(engine.url, limit=limit)
