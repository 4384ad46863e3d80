"""The database a test run uses: a fresh SQLite file, or a PostgreSQL database of its own.

`pytest --database=postgresql` creates one database per run (per xdist worker)
on the server of MCP_TEST_POSTGRES_URL, migrates it, and drops it at the end,
so runs on one server never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from mcp_dashboard.db_views.postgres import sync_url
from mcp_service.config import Settings
from mcp_service.db import Database

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")


def postgres_server_url() -> URL:
    """Any database on the server; new databases are created from a connection to it."""
    return make_url(os.environ.get("MCP_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)


def admin(sql: str) -> None:
    """CREATE or DROP DATABASE on the test server: autocommit, through the sync driver."""
    engine = create_engine(sync_url(postgres_server_url()), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@contextmanager
def postgres_database(prefix: str = "mcp_test", *, migrate: bool = True) -> Iterator[str]:
    """A new PostgreSQL database (its async URL), migrated unless asked not to; dropped after."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        url = postgres_server_url().set(database=name).render_as_string(hide_password=False)
        if migrate:
            asyncio.run(upgrade(url))
        yield url
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def upgrade(url: str, target: str = "head") -> None:
    """`mcp-service db upgrade` on `url`, in-process."""
    db = Database(Settings(database_url=url))
    try:
        await db.migrate(target)
    finally:
        await db.dispose()


_HOLD_WRITE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


@contextmanager
def write_locked_elsewhere(path: Path, seconds: float) -> Iterator[None]:
    """Another process holds the SQLite write lock on `path` for `seconds` from entry."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITE_LOCK, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    try:
        yield
    finally:
        assert holder.wait(timeout=30) == 0
