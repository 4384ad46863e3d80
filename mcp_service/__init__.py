"""A real MCP service: clients, permission tiers, persisted sessions and a tool pipeline."""

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
from mcp_service.service import (
    MCPService,
    execute_tool,
    get_mcp_service,
    get_server_info,
    shutdown_mcp_service,
)

__version__ = "0.1.0"

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
