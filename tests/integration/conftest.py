"""Fixtures for the realistic suite: a real database file, the real service, no mocks.

The database is the run's (`database_url`, tests/conftest.py): a SQLite file, or
PostgreSQL with `--database=postgresql`. Tests may share it with other runs, so
every test creates its own clients and filters by their ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mcp_service import MCPService
from mcp_service.config import Settings
from mcp_service.db import sqlite_file
from mcp_service.limits import Limits


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "session_idle_timeout": 3600.0,
        "expiry_interval": 3600.0,
        "tool_timeout": 10.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[MCPService]:
    svc = MCPService(make_settings(database_url))
    await svc.initialize()
    yield svc
    await svc.shutdown()


@pytest.fixture
async def load_service(database_url: str) -> AsyncIterator[MCPService]:
    """The service without per-client limits, for tests that load one client on purpose.

    They prove the pipeline's concurrency (a thousand calls in flight, one group
    commit shared by twenty callers); the limits have tests of their own
    (tests/adversarial), with the production defaults the `service` fixture keeps.
    """
    svc = MCPService(make_settings(database_url, limits=Limits.off()))
    await svc.initialize()
    yield svc
    await svc.shutdown()


@pytest.fixture
async def raw_db(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A second, independent engine on the same database: what another process would see."""
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def tag() -> str:
    """A unique marker for the rows this test creates."""
    return f"t-{uuid.uuid4().hex[:12]}"


def stored_json(value: Any) -> Any:
    """A JSON column read with raw SQL: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str | bytes) else value


async def fetch_all(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def fetch_value(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


async def database_contains(engine: AsyncEngine, database_url: str, needle: str) -> bool:
    """Whether `needle` is stored anywhere: the SQLite file and its WAL, or every text column."""
    path = sqlite_file(database_url)
    if path is not None:
        raw = needle.encode()
        return any(
            p.exists() and raw in p.read_bytes()
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal"))
        )
    tables = ("clients", "sessions", "tool_executions", "documents")
    async with engine.connect() as conn:
        for table in tables:
            for row in await conn.execute(text(f"SELECT * FROM {table}")):
                if any(needle in str(value) for value in row):
                    return True
    return False
