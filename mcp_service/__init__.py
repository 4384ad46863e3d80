"""A real MCP service: clients, permission tiers, persisted sessions and a tool pipeline."""

from typing import TYPE_CHECKING, Any

from mcp_service._version import __version__
from mcp_service.errors import (
    AuthenticationError,
    MCPServiceError,
    NotFoundError,
    PermissionDeniedError,
    ServiceNotInitializedError,
    SessionClosedError,
    ToolExecutionError,
    ToolTimeoutError,
    UnknownPermissionError,
    UnknownTierError,
    ValidationError,
)

if TYPE_CHECKING:
    from mcp_service.service import (
        MCPService,
        execute_tool,
        get_mcp_service,
        get_server_info,
        shutdown_mcp_service,
    )

# The service (SQLAlchemy, the tools) loads on first use, so a light module such as
# mcp_service.sqlite_busy can be imported by the dashboard's `--ci` path for free.
_FROM_SERVICE = {
    "MCPService",
    "execute_tool",
    "get_mcp_service",
    "get_server_info",
    "shutdown_mcp_service",
}


def __getattr__(name: str) -> Any:
    if name in _FROM_SERVICE:
        from mcp_service import service

        return getattr(service, name)
    raise AttributeError(f"module 'mcp_service' has no attribute {name!r}")


__all__ = [
    "AuthenticationError",
    "MCPService",
    "MCPServiceError",
    "NotFoundError",
    "PermissionDeniedError",
    "ServiceNotInitializedError",
    "SessionClosedError",
    "ToolExecutionError",
    "ToolTimeoutError",
    "UnknownPermissionError",
    "UnknownTierError",
    "ValidationError",
    "__version__",
    "execute_tool",
    "get_mcp_service",
    "get_server_info",
    "shutdown_mcp_service",
]
