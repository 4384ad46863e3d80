"""The schema's revision: migrate a database with Alembic, and check it before serving.

Alembic owns the schema. A service checks the database's revision when it
starts, without importing Alembic (~140 ms of imports on every cold start): the
revision is one row, compared with `HEAD`. Only a database that needs work
loads the migration scripts:

- a new SQLite file (no tables at all) is migrated on first use: zero set-up;
- anything else not at `HEAD` is refused with what to do: `mcp-service db
  upgrade` for a database that is behind or was never migrated, a newer
  mcp-service for one that is ahead.

Migrations run on a connection the caller holds in a write transaction (BEGIN
IMMEDIATE on SQLite, an advisory lock on PostgreSQL), so processes that start
together migrate once and the others wait, then find the database at head.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL, make_url

from mcp_service.errors import MCPServiceError

# The newest revision in migrations/versions; tests/unit/test_schema.py checks they agree.
HEAD = "0005"
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
# The tables of the first release, which created them without Alembic.
LEGACY_TABLES = ("clients", "sessions", "tool_executions", "documents")
# Search structures each engine keeps outside the models (see the initial revision).
SEARCH_OBJECTS = ("documents_fts", "ix_documents_search")
# Any 64-bit key, the same in every process: who holds it may migrate.
_PG_MIGRATION_LOCK = 0x6D63705F736368  # "mcp_sch"


class SchemaError(MCPServiceError):
    code = "schema"


@dataclass(frozen=True)
class SchemaState:
    revision: str | None  # None: no alembic_version row
    has_tables: bool  # any of the service's tables exists

    @property
    def is_current(self) -> bool:
        return self.revision == HEAD

    @property
    def is_empty(self) -> bool:
        return self.revision is None and not self.has_tables


def include_name(name: str | None, type_: str, _parent: Any) -> bool:
    """Autogenerate compares the models only; the search structures are the revisions' own."""
    return not (name and name.startswith(SEARCH_OBJECTS))


def read_state(conn: Connection) -> SchemaState:
    dialect = conn.dialect
    revision = None
    if dialect.has_table(conn, VERSION_TABLE):
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    has_tables = any(dialect.has_table(conn, name) for name in LEGACY_TABLES)
    return SchemaState(revision, has_tables)


def describe(url: str | URL) -> str:
    """The database named for people: no password, ever."""
    return make_url(url).render_as_string(hide_password=True)


def refusal(state: SchemaState, where: str) -> SchemaError:
    """Why a service will not start on this database, and what to run."""
    if state.revision is None and state.has_tables:
        return SchemaError(
            f"database {where} was never migrated (it predates migrations): "
            "run `mcp-service db upgrade` to adopt it"
        )
    if state.revision is None:
        return SchemaError(f"database {where} has no schema: run `mcp-service db upgrade`")
    if state.revision in known_revisions():
        return SchemaError(
            f"database {where} is at revision {state.revision}, this mcp-service needs {HEAD}: "
            "run `mcp-service db upgrade`"
        )
    return SchemaError(
        f"database {where} is at revision {state.revision}, newer than this mcp-service "
        f"knows (its newest is {HEAD}): upgrade mcp-service, or point it at another database"
    )


def lock_for_migration(conn: Connection) -> None:
    """Serialize migrations across processes, until `conn`'s transaction ends.

    SQLite's BEGIN IMMEDIATE already did; PostgreSQL takes a transaction-scoped
    advisory lock (DDL there is transactional, and the version row is read after it).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})


def upgrade(conn: Connection, target: str = "head") -> str | None:
    """Migrate inside `conn`'s transaction; a legacy database is adopted first. Returns the
    revision before.

    The caller holds the migration lock (`lock_for_migration`) and commits.
    """
    from alembic import command

    state = read_state(conn)
    if state.revision is None and state.has_tables:
        _adopt_legacy(conn)
    config = _config(conn)
    known = known_revisions()
    if state.revision is not None and state.revision not in known:
        raise refusal(state, describe(str(conn.engine.url)))
    command.upgrade(config, target)
    return state.revision


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}


def script_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _config(conn: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def _adopt_legacy(conn: Connection) -> None:
    """A database the first release made with create_all is exactly revision 0001: stamp it."""
    from alembic import command

    missing = [name for name in LEGACY_TABLES if not conn.dialect.has_table(conn, name)]
    if missing:
        raise SchemaError(
            f"database has some of the service's tables but not {', '.join(missing)}: "
            "it is not one this mcp-service made; migrate it by hand or use a new database"
        )
    command.stamp(_config(conn), "0001")
