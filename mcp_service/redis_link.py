"""The service's optional Redis (`MCP_REDIS_URL`): what must cross processes in real time.

Without it everything works on one machine as before. With it, the per-client call
limits are shared by every server process (shared_limits.py). Connecting checks the
server answers, so a wrong URL fails at start with one line, not at the first call.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from mcp_service.errors import RedisUnavailableError

# A call must not hang on a Redis that stopped answering: its check fails instead.
SOCKET_TIMEOUT_S = 2.0
MAX_REFUSAL_CHARS = 200  # of what Redis said when it refused us


def shown_url(url: str) -> str:
    """The URL for people: scheme, host, port and database, never a user or password."""
    try:
        parts = urlsplit(url)
        where = f"{parts.hostname or ''}:{parts.port}" if parts.port else parts.hostname or ""
    except ValueError:
        return "(a malformed URL)"
    return f"{parts.scheme}://{where}{parts.path}"


async def connect(url: str) -> Redis:
    """A client for `url`, checked with a PING; RedisUnavailableError naming the URL (no
    password) when it is malformed or the server does not answer."""
    shown = shown_url(url)
    try:
        redis = Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            # A pooled connection that a restarted Redis closed fails its next command
            # once: that command is tried again, at once, on a new connection. (Had the
            # old server run it before closing, a call's token or ticket is taken twice:
            # the ticket lapses by itself.)
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
    except ValueError as exc:
        raise RedisUnavailableError(f"MCP_REDIS_URL is not a Redis URL ({exc})") from None
    try:
        await redis.ping()
    except ResponseError as exc:  # it answered, and said no (a database it lacks, a login)
        await redis.aclose()
        said = str(exc)[:MAX_REFUSAL_CHARS]  # Redis's words never hold the password
        raise RedisUnavailableError(f"Redis at {shown} refused: {said}") from None
    except (RedisError, OSError) as exc:
        await redis.aclose()
        raise RedisUnavailableError(
            f"Redis at {shown} does not answer ({type(exc).__name__})"
        ) from None
    return redis
