"""The MCP protocol front: the service as a real MCP server over stdio and streamable HTTP."""

from mcp_service.protocol.auth import API_KEY_ENV, ServiceTokenVerifier, StartupError
from mcp_service.protocol.server import ServiceMCPServer, build_server
from mcp_service.protocol.session_router import SessionRouter
from mcp_service.protocol.transports import serve_http, serve_stdio

__all__ = [
    "API_KEY_ENV",
    "ServiceMCPServer",
    "ServiceTokenVerifier",
    "SessionRouter",
    "StartupError",
    "build_server",
    "serve_http",
    "serve_stdio",
]
