"""Built-in tools. Each family lives in its own module; this builds the default registry.

A deployment adds its own tools with `MCP_TOOL_MODULES=pkg.tools,other.tools`: each
module defines `TOOLS`, a sequence of `Tool`, registered after the built-in ones
(checked like them: a schema that does not bound its input is refused at start).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from mcp_service.errors import ValidationError
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


def default_registry(modules: Sequence[str] = ()) -> ToolRegistry:
    """The built-in tools, then the `TOOLS` of each module named (`MCP_TOOL_MODULES`)."""
    registry = ToolRegistry(BUILTIN_TOOLS)
    for name in modules:
        for tool in _module_tools(name):
            registry.register(tool)
    return registry


def _module_tools(name: str) -> list[Tool]:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise ValidationError(f"MCP_TOOL_MODULES: cannot import {name}: {exc}") from None
    tools = getattr(module, "TOOLS", None)
    if tools is None or not all(isinstance(t, Tool) for t in tools):
        raise ValidationError(f"MCP_TOOL_MODULES: {name} must define TOOLS, a sequence of Tool")
    return list(tools)


__all__ = [
    "BUILTIN_TOOLS",
    "Tool",
    "ToolContext",
    "ToolRegistry",
    "default_registry",
]
