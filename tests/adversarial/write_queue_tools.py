"""Tools that show who waits for shared work (served with MCP_TOOL_MODULES).

`gated_write` holds the process's write lock (it is a writing tool) until the
file MCP_TEST_GATE exists. Meanwhile, from inside the server, it writes to
MCP_TEST_QUEUE how many transactions and rows wait for that lock (`queued`) and
how many writing calls of its own client hold or wait for that client's turn
(`turn`, limits.ClientTurns). `gated_read` does the same as a database read: it
reports how many of its client's reading calls hold or await a turn (`turn`)
and how many run (`running`). The tools poll; the test only reads and creates files.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from mcp_service.permissions import Permission
from mcp_service.tools import Tool, ToolContext

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
POLL = 0.01


RUNNING = 0  # gated_read calls running in this server process


def _queue(ctx: ToolContext) -> dict[str, int]:
    waiters = ctx.services.database._write_lock._waiters
    turns = getattr(ctx.services.pipeline, "write_turns", None)  # None: not kept
    return {
        "queued": len(waiters or ()),
        "turn": 0 if turns is None else turns._waiting.get(ctx.client_id, 0),
    }


def _read_queue(ctx: ToolContext) -> dict[str, int]:
    turns = getattr(ctx.services.pipeline, "read_turns", None)  # None: not kept
    return {
        "running": RUNNING,
        "turn": 0 if turns is None else turns._waiting.get(ctx.client_id, 0),
    }


async def _hold(ctx: ToolContext, state: Callable[[ToolContext], dict[str, int]]) -> None:
    """Report `state` every POLL seconds until the gate file exists."""
    report = Path(os.environ["MCP_TEST_QUEUE"])
    gate = Path(os.environ["MCP_TEST_GATE"])
    while not gate.exists():
        draft = report.with_suffix(f".{id(ctx)}.tmp")
        draft.write_text(json.dumps(state(ctx)))
        draft.replace(report)  # whole reports only
        await asyncio.sleep(POLL)


async def gated_write(ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
    # A statement first: the transaction then holds a connection (and SQLite's lock).
    await ctx.db.execute(text("SELECT 1"))
    await _hold(ctx, _queue)
    return {"held": True}


async def gated_read(ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
    global RUNNING
    await ctx.db.execute(text("SELECT 1"))
    RUNNING += 1
    try:
        await _hold(ctx, _read_queue)
    finally:
        RUNNING -= 1
    return {"held": True}


GATED_WRITE = Tool(
    name="gated_write",
    description="Hold the write lock until the test's gate file exists.",
    input_schema=NO_ARGUMENTS,
    permission=Permission.WRITE,
    handler=gated_write,
    writes=True,
)
GATED_READ = Tool(
    name="gated_read",
    description="Read, then wait until the test's gate file exists.",
    input_schema=NO_ARGUMENTS,
    permission=Permission.READ,
    handler=gated_read,
)
TOOLS = (GATED_WRITE, GATED_READ)
