"""Alembic's entry point for mcp_service migrations.

`mcp_service.schema` runs migrations on a connection it has already opened (and
locked); it passes that connection in `config.attributes["connection"]`. Run
from the `alembic` command line (alembic.ini at the repository root), the URL
comes from MCP_DATABASE_URL like everything else.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from mcp_service.config import Settings
from mcp_service.models import Base, UTCDateTime
from mcp_service.schema import include_name


def _render_item(type_: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    """Revisions spell the stored type, not the models' Python-side decorator."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_name=include_name,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )


def _migrate(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _migrate_url(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_migrate)
            await conn.commit()
    finally:
        await engine.dispose()


def main() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        _migrate(given)
        return
    if context.config.config_file_name is not None:
        fileConfig(context.config.config_file_name)
    url = context.config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    if context.is_offline_mode():  # `alembic upgrade head --sql`: a script for a DBA
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_migrate_url(url))


main()
