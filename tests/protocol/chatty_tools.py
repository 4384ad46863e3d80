"""A tool logging a line at four levels: `MCP_TOOL_MODULES=tests.protocol.chatty_tools`."""

from __future__ import annotations

from typing import Any

from mcp_service.permissions import Permission
from mcp_service.tools import Tool, ToolContext

LEVELS = ("debug", "info", "warning", "error")


async def log_each_level(ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
    for level in LEVELS:
        await ctx.reporter.log(level, f"{level} line")
    return {"logged": len(LEVELS)}


CHATTY = Tool(
    name="log_each_level",
    description="Logs one line at debug, info, warning and error, in that order.",
    input_schema={"type": "object", "properties": {}, "additionalProperties": False},
    permission=Permission.READ,
    handler=log_each_level,
    uses_database=False,
)

TOOLS = [CHATTY]
