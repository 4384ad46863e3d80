"""Typed errors: callers branch on the class, people read the message.

Messages never contain an API key or a key hash.
"""

from __future__ import annotations


class MCPServiceError(Exception):
    """Base of every error the service raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str, *, execution_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Set when the failed call was recorded as a tool execution row.
        self.execution_id = execution_id


class ValidationError(MCPServiceError):
    code = "invalid_input"


class UnknownTierError(ValidationError):
    code = "unknown_tier"


class UnknownPermissionError(ValidationError):
    code = "unknown_permission"


class NotFoundError(MCPServiceError):
    code = "not_found"


class AuthenticationError(MCPServiceError):
    code = "unauthenticated"


class PermissionDeniedError(MCPServiceError):
    code = "permission_denied"


class SessionClosedError(MCPServiceError):
    code = "session_closed"


class SessionExpiredError(SessionClosedError):
    """The session's liveness key (Redis) expired: idle past its timeout."""


class ToolExecutionError(MCPServiceError):
    code = "tool_error"


class ToolTimeoutError(MCPServiceError):
    code = "timeout"


class ServiceNotInitializedError(MCPServiceError):
    code = "not_initialized"


class RateLimitedError(MCPServiceError):
    """Over one of the caller's limits (calls per second, calls in flight, open sessions)."""

    code = "rate_limited"

    def __init__(
        self, message: str, *, retry_after: float, execution_id: str | None = None
    ) -> None:
        super().__init__(message, execution_id=execution_id)
        # Seconds until the limit would admit the same request again (HTTP Retry-After).
        self.retry_after = retry_after


class DatabaseUnavailableError(MCPServiceError):
    """The database failed or cannot be reached; the message says so without its internals."""

    code = "database_unavailable"


class RedisUnavailableError(MCPServiceError):
    """MCP_REDIS_URL's Redis does not answer. At start the service stops; later a call is
    refused rather than let through unlimited (one client could starve the others), and a
    session is not opened that nothing could keep alive."""

    code = "redis_unavailable"
