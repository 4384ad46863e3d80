"""Tools about the service itself: list_executions (read) and revoke_client (admin)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mcp_service.errors import ValidationError
from mcp_service.models import ExecutionStatus, ToolExecution
from mcp_service.permissions import Permission
from mcp_service.tools.registry import Tool, ToolContext


async def list_executions(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    query = select(ToolExecution).where(ToolExecution.client_id == ctx.client_id)
    if "tool" in args:
        query = query.where(ToolExecution.tool_name == args["tool"])
    if "status" in args:
        query = query.where(ToolExecution.status == args["status"])
    query = query.order_by(ToolExecution.started_at.desc(), ToolExecution.id).limit(
        args.get("limit", 20)
    )
    rows = await ctx.db.scalars(query)
    return {
        "executions": [
            {
                "execution_id": r.id,
                "session_id": r.session_id,
                "tool": r.tool_name,
                "status": r.status,
                "duration_ms": r.duration_ms,
                "started_at": r.started_at.isoformat(),
            }
            for r in rows
        ]
    }


async def revoke_client(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    target = args["client_id"]
    if target == ctx.client_id:
        raise ValidationError("a client cannot revoke itself")
    newly = await ctx.services.clients.revoke(target, db=ctx.db)
    return {"client_id": target, "revoked": True, "already_revoked": not newly}


LIST_EXECUTIONS = Tool(
    name="list_executions",
    description="The caller's most recent tool executions, newest first.",
    input_schema={
        "type": "object",
        "properties": {
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            "tool": {"type": "string", "minLength": 1, "maxLength": 100},
            "status": {"enum": [s.value for s in ExecutionStatus]},
        },
        "additionalProperties": False,
    },
    permission=Permission.READ,
    handler=list_executions,
)

REVOKE_CLIENT = Tool(
    name="revoke_client",
    description="Revoke another client's API key and close its open sessions (admin only).",
    input_schema={
        "type": "object",
        "properties": {"client_id": {"type": "string", "minLength": 1, "maxLength": 64}},
        "required": ["client_id"],
        "additionalProperties": False,
    },
    permission=Permission.ADMIN,
    handler=revoke_client,
    writes=True,
)
