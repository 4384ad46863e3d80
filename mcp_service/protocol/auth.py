"""Who is calling: the bearer key of an HTTP request, or the MCP_API_KEY of a stdio process.

Both go through `ClientRegistry.authenticate`, so a key is checked the same way
everywhere (warm HMAC cache, row read on every check, revocation effective at
once). A key is never logged, never echoed in an error, and never kept in the
request scope: the `AccessToken` the SDK stores carries the client id only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from mcp.server.auth.provider import AccessToken, TokenVerifier

from mcp_service.errors import AuthenticationError, MCPServiceError
from mcp_service.protocol.http_guard import tier_key
from mcp_service.service import MCPService
from mcp_service.snapshots import ClientInfo

API_KEY_ENV = "MCP_API_KEY"
REDACTED = "(redacted)"


class StartupError(MCPServiceError):
    """`mcp-service serve` cannot start; the message says why and never holds a key."""

    code = "startup"


class ServiceTokenVerifier(TokenVerifier):
    """The SDK's bearer-token hook, answered by the service's own key check.

    `None` makes the SDK answer 401 with a `WWW-Authenticate` header pointing at
    the protected-resource metadata: a missing, malformed, wrong or revoked key
    looks the same from outside.
    """

    def __init__(self, service: MCPService) -> None:
        self._service = service
        # The tier of each client seen, by client id and by key (a hash of it), for the
        # per-client limits of protocol/http_guard.py.
        self.tiers: dict[str, str] = {}
        self._key_tiers: dict[str, str] = {}

    def tier_of(self, client_id: str) -> str | None:
        return self.tiers.get(client_id)

    def tier_of_key(self, token: str) -> str | None:
        """The tier of a key this verifier has accepted before, else None."""
        return self._key_tiers.get(tier_key(token))

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            client = await self._service.clients.authenticate(token)
        except AuthenticationError:
            return None
        self.tiers[client.client_id] = client.tier
        if len(self._key_tiers) > 10_000:
            self._key_tiers.clear()
        self._key_tiers[tier_key(token)] = client.tier
        return AccessToken(
            token=REDACTED, client_id=client.client_id, scopes=list(client.permissions)
        )


async def authenticate_stdio(
    service: MCPService, env: Mapping[str, str] | None = None
) -> ClientInfo:
    """The client owning MCP_API_KEY, or StartupError with a message fit for stderr."""
    key = (os.environ if env is None else env).get(API_KEY_ENV, "").strip()
    if not key:
        raise StartupError(
            f"{API_KEY_ENV} is not set: a stdio server acts for one client; register one with "
            "`mcp-service register-client` and pass its key in the MCP client's env"
        )
    try:
        return await service.validate_client_access(key)
    except AuthenticationError as exc:
        raise StartupError(f"{API_KEY_ENV} was refused: {exc.message}") from None
