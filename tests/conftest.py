"""Shared test helpers: the run's database, and `step`.

The run's database: `MCP_DATABASE_URL` when set (the dashboard points it at a
database it watches), else a fresh SQLite file, or with `--database=postgresql`
a PostgreSQL database made for this run (tests/databases.py). Tests that take
the `database_url` fixture are marked `database`: `make test` runs the whole
suite on SQLite, then `-m database` again on PostgreSQL. Tests about one engine
are marked `sqlite_only` or `postgresql_only` and run only on it.

`step` is the one way tests report progress ("✓ …" lines). It logs to the
`mcp.steps` logger so a live reporter (the dashboard's pytest plugin) can
stream each line while the test is still running, and prints it so
`pytest -s` shows it too. Never pass it a key or a full hash.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.databases import BACKENDS, postgres_database
from tests.redis_server import run_redis_url
from tests.toolkit import Step

STEP_LOGGER = logging.getLogger("mcp.steps")
# A test taking one of these touches the run's engine: it runs again on PostgreSQL.
DATABASE_FIXTURES = {"database_url", "new_database_url"}
REDIS_FIXTURES = {"redis_url"}
STEP_LOGGER.setLevel(logging.INFO)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=BACKENDS,
        default="sqlite",
        help="the engine of the run's database (ignored when MCP_DATABASE_URL is set)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if DATABASE_FIXTURES & fixtures:
            item.add_marker(pytest.mark.database)
        if REDIS_FIXTURES & fixtures:
            item.add_marker(pytest.mark.redis)
    # Deselected, not skipped: a test about one engine proves nothing on the other, and
    # the other run of `make test` runs it.
    other = "postgresql_only" if run_backend(config) == "sqlite" else "sqlite_only"
    elsewhere = [item for item in items if item.get_closest_marker(other)]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if not item.get_closest_marker(other)]


def run_backend(config: pytest.Config) -> str:
    url = os.environ.get("MCP_DATABASE_URL")
    if url:
        return make_url(url).get_backend_name()
    return str(config.getoption("--database"))


@pytest.fixture(scope="session")
def database_backend(request: pytest.FixtureRequest) -> str:
    return run_backend(request.config)


@pytest.fixture(scope="session")
def database_url(database_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("MCP_DATABASE_URL")
    if url:
        yield url
    elif database_backend == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'mcp_service.db'}"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The run's private redis-server (tests/redis_server.py): never the machine's shared one."""
    with run_redis_url() as url:
        yield url


@pytest.fixture
def new_database_url(database_backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the run's engine, never migrated: for tests of the schema itself."""
    if database_backend == "postgresql":
        with postgres_database(migrate=False) as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"


@pytest.fixture
def step() -> Step:
    def report(message: str) -> None:
        line = f"✓ {message}"
        STEP_LOGGER.info(line)
        print(line)

    return report
