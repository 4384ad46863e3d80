"""Built-in tools. Each family lives in its own module; this builds the default registry."""

from __future__ import annotations

from mcp_service.tools.admin import LIST_EXECUTIONS, REVOKE_CLIENT
from mcp_service.tools.basic import ANALYZE_WORKLOAD, ECHO
from mcp_service.tools.batch import ANALYZE_WORKLOAD_BATCHES
from mcp_service.tools.corpus import CORPUS_ADD, CORPUS_SEARCH
from mcp_service.tools.registry import Tool, ToolContext, ToolRegistry

BUILTIN_TOOLS: tuple[Tool, ...] = (
    ECHO,
    ANALYZE_WORKLOAD,
    ANALYZE_WORKLOAD_BATCHES,
    CORPUS_ADD,
    CORPUS_SEARCH,
    LIST_EXECUTIONS,
    REVOKE_CLIENT,
)


def default_registry() -> ToolRegistry:
    return ToolRegistry(BUILTIN_TOOLS)


__all__ = [
    "BUILTIN_TOOLS",
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "default_registry",
]
