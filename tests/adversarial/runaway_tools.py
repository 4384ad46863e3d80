"""Tools that never finish on their own, served by test servers with MCP_TOOL_MODULES.

Each touches a marker file (MARK_FILE, or MCP_TEST_MARKER in a server's
environment) just before its statement starts, so a test knows the work is in
flight without sleeping.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import text

from mcp_service.permissions import Permission
from mcp_service.tools import Tool, ToolContext

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
# Hours of work for either engine, unless something stops it.
SQLITE_FOREVER = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000000) "
    "SELECT count(*) FROM c"
)
POSTGRES_FOREVER = "SELECT pg_sleep(3600)"
MARKER = "runaway-statement"  # in the statement's text: pg_stat_activity shows it


# In-process tests set this; servers started by tests get MCP_TEST_MARKER.
MARK_FILE: Path | None = None


def _mark() -> None:
    marker = MARK_FILE or os.environ.get("MCP_TEST_MARKER")
    if marker:
        Path(marker).touch()


async def runaway(ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
    sql = POSTGRES_FOREVER if ctx.services.database.dialect == "postgresql" else SQLITE_FOREVER
    _mark()
    value = (await ctx.db.execute(text(f"{sql} -- {MARKER}"))).scalar()
    return {"value": value}


RUNAWAY_READ = Tool(
    name="runaway_read",
    description="A read that would run for hours.",
    input_schema=NO_ARGUMENTS,
    permission=Permission.READ,
    handler=runaway,
)
RUNAWAY_WRITE = Tool(
    name="runaway_write",
    description="The same inside a write transaction (SQLite: it holds the write lock).",
    input_schema=NO_ARGUMENTS,
    permission=Permission.WRITE,
    handler=runaway,
    writes=True,
)
TOOLS = (RUNAWAY_READ, RUNAWAY_WRITE)
