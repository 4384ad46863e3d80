"""Hypothesis profiles and a real service the property tests drive from synchronous code.

Profiles: `ci` (when CI is set) is derandomized, so a run explores the same
examples every time and cannot turn red by chance; `dev` explores new ones
(HYPOTHESIS_PROFILE picks one). Neither replays from an example database nor has a
deadline (this 2-core machine is shared: timings say nothing about correctness here).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

from mcp_service import MCPService
from mcp_service.config import Settings
from mcp_service.limits import Limits

T = TypeVar("T")

_COMMON = settings(
    database=None, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", _COMMON, derandomize=True)
settings.register_profile("dev", _COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
settings.load_profile(PROFILE)


class Harness:
    """A real MCPService on its own SQLite file, one event loop for all examples of a module.

    Hypothesis runs examples synchronously; `run` drives each coroutine on the same
    loop, so the service (its writer thread, its loop-thread connection) lives
    across examples. `db` is a plain sqlite3 connection for exact counts.
    """

    def __init__(self, db_file: Path) -> None:
        self.db_file = db_file
        self._runner = asyncio.Runner()
        self.service = MCPService(
            Settings(
                database_url=f"sqlite+aiosqlite:///{db_file}",
                session_idle_timeout=3600.0,
                expiry_interval=3600.0,
                tool_timeout=10.0,
                # Examples run back to back, faster than any client's calls per second:
                # the properties are about rows and errors, the limits have their own tests.
                limits=Limits.off(),
            )
        )
        self.run(self.service.initialize())
        self.db = sqlite3.connect(db_file, isolation_level=None)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coroutine)

    def value(self, sql: str, *params: object) -> Any:
        return self.db.execute(sql, params).fetchone()[0]

    def rows(self, sql: str, *params: object) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, params)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        try:
            self.run(self.service.shutdown())
        finally:
            self._runner.close()
            self.db.close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    h = Harness(tmp_path_factory.mktemp("property") / "service.db")
    yield h
    h.close()
