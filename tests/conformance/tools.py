"""The tools the official conformance suite's server scenarios call, by the names it uses.

Served by a real `mcp-service serve` with `MCP_TOOL_MODULES=tests.conformance.tools`,
so each scenario goes through the whole pipeline (session, permission, schema, the
execution row) and the protocol front's relaying of log lines and progress. Each
does what its scenario's description in @modelcontextprotocol/conformance asks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mcp_service.errors import ToolExecutionError
from mcp_service.permissions import Permission
from mcp_service.tools import Tool, ToolContext

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
# The scenarios space their notifications ~50 ms apart (a client must take several in turn).
PAUSE = 0.05


async def simple_text(_ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
    return {"text": "This is a simple text response for testing."}


async def with_logging(ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
    await ctx.reporter.log("info", "Tool execution started")
    await asyncio.sleep(PAUSE)
    await ctx.reporter.log("info", "Tool processing data")
    await asyncio.sleep(PAUSE)
    await ctx.reporter.log("info", "Tool execution completed")
    return {"logged": 3}


async def error_handling(_ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
    raise ToolExecutionError("This tool intentionally returns an error for testing")


async def with_progress(ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
    for done in (0, 50, 100):
        if done:
            await asyncio.sleep(PAUSE)
        await ctx.reporter.progress(done, 100)
    return {"progress": 100}


async def json_schema_2020_12(_ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    return {"received": args}


def _tool(name: str, description: str, handler: Any, **schema: Any) -> Tool:
    return Tool(
        name=name,
        description=description,
        input_schema=schema or NO_ARGUMENTS,
        permission=Permission.READ,
        handler=handler,
        uses_database=False,
    )


_TEXT = {"type": "string", "maxLength": 200}
_ADDRESS = {
    "type": "object",
    "properties": {"street": _TEXT, "city": _TEXT},
    "additionalProperties": False,
}

TOOLS = [
    _tool("test_simple_text", "Returns a simple text.", simple_text),
    _tool("test_tool_with_logging", "Sends three info log lines ~50 ms apart.", with_logging),
    _tool("test_error_handling", "Always fails.", error_handling),
    _tool("test_tool_with_progress", "Reports progress 0, 50, 100 of 100.", with_progress),
    _tool(
        "json_schema_2020_12_tool",
        "Tool with JSON Schema 2020-12 features",
        json_schema_2020_12,
        **{
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"address": _ADDRESS},
            # The service's bounds walk (tools/arguments.py) does not follow $ref: the
            # referenced schema is spelled out beside it, as a bounded type at each level.
            "properties": {"name": _TEXT, "address": {"$ref": "#/$defs/address", **_ADDRESS}},
            "additionalProperties": False,
        },
    ),
]
