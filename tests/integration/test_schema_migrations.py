"""Alembic owns the schema, on SQLite and on PostgreSQL.

The migrations must build exactly what the models describe; a service must
refuse, with the command to run, a database that is empty (PostgreSQL), was
never migrated, or is newer than it knows; `mcp-service db upgrade` must bring
any of the ones it can to head, once, however many processes run it together.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from mcp_service import MCPService, schema
from mcp_service.models import Base
from tests.databases import upgrade
from tests.integration.conftest import make_settings
from tests.toolkit import Step

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("lifecycle")]

UPGRADE = "`mcp-service db upgrade`"


def mcp_service_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcp_service.cli", *args],
        env={**os.environ, "MCP_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def run_on(url: str, fn: Callable[[Connection], Any]) -> Any:
    """`fn(connection)` in one committed transaction on `url`."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def alembic_config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(schema.MIGRATIONS))
    config.attributes["connection"] = conn
    return config


async def test_the_migrations_build_exactly_the_models(
    service: MCPService, database_url: str, step: Step
) -> None:
    # `service` has started on the run's database: migrated on first use, or by the fixture.
    def differences(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn, opts={"include_name": schema.include_name, "compare_type": True}
        )
        found: list[Any] = compare_metadata(context, Base.metadata)
        return found

    assert await run_on(database_url, differences) == []
    assert await run_on(database_url, lambda c: schema.read_state(c).revision) == schema.HEAD
    step(f"The database is at {schema.HEAD} and autogenerate finds nothing to migrate")


async def test_an_empty_database_is_migrated_on_sqlite_and_refused_on_postgres(
    new_database_url: str, database_backend: str, step: Step
) -> None:
    service = MCPService(make_settings(new_database_url))
    if database_backend == "sqlite":
        await service.initialize()
        await service.shutdown()
        step("A new SQLite file was migrated on first use")
    else:
        with pytest.raises(schema.SchemaError, match=f"has no schema: run {UPGRADE}"):
            await service.initialize()
        assert not service.is_initialized
        refused = mcp_service_cli(new_database_url, "clients")
        assert refused.returncode == 2
        assert f"has no schema: run {UPGRADE}" in refused.stderr
        step("An empty PostgreSQL database was refused, naming db upgrade")
        upgraded = mcp_service_cli(new_database_url, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        assert f"migrated from an empty database to revision {schema.HEAD}" in upgraded.stdout
        await service.initialize()
        await service.shutdown()
        step("After db upgrade the service started")
    state = await run_on(new_database_url, schema.read_state)
    assert state.revision == schema.HEAD
    search = "documents_fts" if database_backend == "sqlite" else "documents"
    assert await run_on(new_database_url, lambda c: c.dialect.has_table(c, search))


async def test_a_database_that_predates_migrations_is_refused_then_adopted(
    new_database_url: str, step: Step
) -> None:
    # What the first release left behind: its tables (revision 0001 is exactly them), no
    # version row.
    await upgrade(new_database_url, "0001")
    await run_on(new_database_url, lambda c: c.execute(text("DROP TABLE alembic_version")))
    await run_on(
        new_database_url,
        lambda c: c.execute(
            text(
                "INSERT INTO clients (id, name, client_type, tier, permissions, api_key_id, "
                "api_key_hash, metadata, created_at) VALUES ('old-client', 'old', 'generic', "
                "'basic', '[]', 'k0', 'h0', '{}', CURRENT_TIMESTAMP)"
            )
        ),
    )
    service = MCPService(make_settings(new_database_url))
    with pytest.raises(schema.SchemaError, match=f"never migrated .* run {UPGRADE} to adopt it"):
        await service.initialize()
    step("A database from before migrations was refused, naming db upgrade")

    upgraded = mcp_service_cli(new_database_url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"to revision {schema.HEAD}" in upgraded.stdout
    await service.initialize()
    try:
        assert (await service.clients.get("old-client")).name == "old"
    finally:
        await service.shutdown()
    step("db upgrade adopted it: the service started and the old rows are there")


async def test_a_database_behind_is_refused_until_db_upgrade_moves_it_to_head(
    new_database_url: str, step: Step
) -> None:
    await upgrade(new_database_url, "0001")
    service = MCPService(make_settings(new_database_url))
    with pytest.raises(
        schema.SchemaError,
        match=f"at revision 0001, this mcp-service needs {schema.HEAD}: run {UPGRADE}",
    ):
        await service.initialize()
    step("A database one revision behind was refused, naming db upgrade")

    upgraded = mcp_service_cli(new_database_url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"migrated from 0001 to revision {schema.HEAD}" in upgraded.stdout
    await service.initialize()
    await service.shutdown()
    step(f"db upgrade moved it from 0001 to {schema.HEAD}; the service started")


async def test_a_database_newer_than_the_service_is_refused_and_left_alone(
    new_database_url: str, step: Step
) -> None:
    await upgrade(new_database_url)
    await run_on(
        new_database_url, lambda c: c.execute(text("UPDATE alembic_version SET version_num='9999'"))
    )
    newer = "at revision 9999, newer than this mcp-service knows"
    service = MCPService(make_settings(new_database_url))
    with pytest.raises(schema.SchemaError, match=newer):
        await service.initialize()
    for args in (("clients",), ("db", "upgrade")):
        refused = mcp_service_cli(new_database_url, *args)
        assert refused.returncode == 2
        assert newer in refused.stderr
        assert "Traceback" not in refused.stderr
    current = mcp_service_cli(new_database_url, "db", "current")
    assert current.returncode == 1
    assert "revision: 9999" in current.stdout
    assert await run_on(new_database_url, lambda c: schema.read_state(c).revision) == "9999"
    step("A newer database was refused by serve and by db upgrade, and left at its revision")


async def test_downgrade_to_nothing_and_back_to_head(new_database_url: str, step: Step) -> None:
    await upgrade(new_database_url)
    await run_on(new_database_url, lambda c: command.downgrade(alembic_config(c), "base"))
    state = await run_on(new_database_url, schema.read_state)
    assert (state.revision, state.has_tables) == (None, False)
    search_gone = await run_on(new_database_url, lambda c: c.dialect.has_table(c, "documents_fts"))
    assert search_gone is False
    step("Downgrade to base removed every table")
    await upgrade(new_database_url)
    assert await run_on(new_database_url, lambda c: schema.read_state(c).revision) == schema.HEAD
    step("Upgrade brought it back to head")


async def test_processes_upgrading_together_migrate_exactly_once(
    new_database_url: str, step: Step
) -> None:
    env = {**os.environ, "MCP_DATABASE_URL": new_database_url}
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "mcp_service.cli", "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [r.communicate(timeout=120) for r in racers]
    assert [r.returncode for r in racers] == [0, 0, 0], [err for _, err in outputs]
    said = sorted("migrated from" in out for out, _ in outputs)
    assert said == [False, False, True], outputs
    step("3 processes ran db upgrade at once: one migrated, two found it at head")

    versions = await run_on(
        new_database_url, lambda c: c.execute(text("SELECT version_num FROM alembic_version")).all()
    )
    assert [tuple(v) for v in versions] == [(schema.HEAD,)]
