"""A pytest plugin for the security sweep, loaded into the dashboard's pytest child.

It records every API key the suite generates (MCP_KEY_CAPTURE, a file the sweep
does not read), so the sweep can look for each key and parts of it; it wraps key
generation only to remember its output. And it copies the database's WAL after
each test's call phase (into MCP_WAL_SNAPSHOTS), while the test's service still
holds it open: SQLite deletes the WAL when the last connection closes, so after
the run there would be none left to search. It changes no behaviour.

Use: PYTEST_ADDOPTS="-p tests.security.key_capture".
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Generator
from pathlib import Path

import pytest

from mcp_service import clients, security
from mcp_service.db import sqlite_file

CAPTURE_ENV = "MCP_KEY_CAPTURE"
WAL_ENV = "MCP_WAL_SNAPSHOTS"


def pytest_configure() -> None:
    path = os.environ.get(CAPTURE_ENV)
    if not path:
        return
    generate = security.generate_api_key  # whatever the service calls, wrapped

    def generate_and_record() -> security.ParsedKey:
        key = generate()
        with open(path, "a", encoding="ascii") as sink:
            sink.write(key.key + "\n")
        return key

    # Patched where the service looks it up (clients imports it by name, without re-export).
    clients.generate_api_key = generate_and_record  # type: ignore[attr-defined]  # not re-exported


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        _snapshot_wal(item.nodeid)


def _snapshot_wal(nodeid: str) -> None:
    target, url = os.environ.get(WAL_ENV), os.environ.get("MCP_DATABASE_URL")
    if not target or not url:
        return
    database = sqlite_file(url)
    wal = Path(f"{database}-wal") if database is not None else None
    if wal is not None and wal.exists():
        Path(target).mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9]+", "_", nodeid)[-120:]
        shutil.copyfile(wal, Path(target) / f"{name}.db-wal")
