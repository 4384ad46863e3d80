"""The async engine, its SQLite pragmas, and read/write transaction scopes.

SQLite allows one writer. Two connections that both read and then write under a
plain (deferred) BEGIN deadlock into "database is locked", so write scopes start
with BEGIN IMMEDIATE and take the write lock up front. Inside one process the
writers also queue on an asyncio lock, so they wait in order instead of in
SQLite's sleeping busy handler; busy_timeout covers writers in other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from mcp_service.config import Settings
from mcp_service.errors import ValidationError
from mcp_service.models import Base

_BEGIN_OPTION = "mcp_sqlite_begin"

FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5("
    "title, body, content='documents', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER IF NOT EXISTS documents_fts_ai AFTER INSERT ON documents BEGIN "
    "INSERT INTO documents_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER IF NOT EXISTS documents_fts_ad AFTER DELETE ON documents BEGIN "
    "INSERT INTO documents_fts(documents_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); END",
    "CREATE TRIGGER IF NOT EXISTS documents_fts_au AFTER UPDATE ON documents BEGIN "
    "INSERT INTO documents_fts(documents_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO documents_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
)


def sqlite_file(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other engines."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:" or url.database.startswith("file::memory"):
        raise ValidationError("in-memory SQLite is not supported: other processes cannot see it")
    return Path(url.database)


class Database:
    """One engine and its session factories; create it inside the running event loop."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.database_url
        self.file = sqlite_file(self.url)
        self.is_sqlite = self.file is not None
        options: dict[str, Any] = {"echo": settings.echo_sql, "pool_pre_ping": False}
        if self.is_sqlite:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": settings.sqlite_busy_timeout_ms / 1000}
        options["pool_size"] = settings.pool_size
        options["max_overflow"] = settings.pool_size
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.is_sqlite:
            _configure_sqlite(self.engine, settings.sqlite_busy_timeout_ms)
            writer = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        else:
            writer = self.engine
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(writer, expire_on_commit=False)
        self._write_lock = asyncio.Lock()
        self.has_fts = False

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            if self.is_sqlite:
                self.has_fts = await _create_fts(conn)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; it takes no write lock."""
        async with self._read() as session:
            yield session

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that holds the write lock from its start; commits on success."""
        lock = self._write_lock if self.is_sqlite else contextlib.nullcontext()
        async with lock, self._write() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


async def _create_fts(conn: Any) -> bool:
    """FTS5 is compiled into most SQLite builds; without it search falls back to LIKE."""
    try:
        async with conn.begin_nested():
            for statement in FTS_DDL:
                await conn.execute(text(statement))
    except Exception as exc:  # OperationalError: no such module: fts5
        if "fts5" not in str(exc):
            raise
        return False
    return True
