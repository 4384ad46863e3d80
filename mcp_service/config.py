"""Settings read from the environment, so the same code runs in tests, CI and production."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mcp_service.errors import ValidationError
from mcp_service.limits import Limits

DEFAULT_DATABASE_FILE = "mcp_service.db"


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{Path.cwd() / DEFAULT_DATABASE_FILE}"


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValidationError(f"{name} must be a finite number, got {raw!r}")
    if value < minimum:
        raise ValidationError(f"{name} must be >= {minimum}, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str
    session_idle_timeout: float = 1800.0
    expiry_interval: float = 60.0
    tool_timeout: float = 10.0
    sqlite_busy_timeout_ms: int = 30_000
    pool_size: int = 10
    echo_sql: bool = False
    # Per-client limits by tier (limits.py).
    limits: Limits = field(default_factory=Limits.default)
    # Streamable HTTP: bounds on every connection and request (protocol/http_guard.py).
    http_max_request_bytes: int = 1_048_576
    http_header_timeout: float = 10.0
    http_body_timeout: float = 30.0
    http_keep_alive_timeout: float = 5.0
    http_max_connections: int = 1_000
    http_max_sessions: int = 10_000
    # Wrong API keys answered per second per source address before it gets 429.
    auth_failures_per_second: float = 5.0
    # How often an HTTP server looks for clients revoked by another process.
    revocation_check_interval: float = 5.0
    # Redis for what crosses processes in real time (redis_link.py); None: this process only.
    redis_url: str | None = None
    # Modules whose TOOLS are served beside the built-in ones (tools/__init__.py).
    tool_modules: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=env.get("MCP_DATABASE_URL") or default_database_url(),
            session_idle_timeout=_number(env, "MCP_SESSION_IDLE_TIMEOUT", 1800.0, minimum=0.001),
            expiry_interval=_number(env, "MCP_EXPIRY_INTERVAL", 60.0, minimum=0.01),
            tool_timeout=_number(env, "MCP_TOOL_TIMEOUT", 10.0, minimum=0.001),
            sqlite_busy_timeout_ms=int(
                _number(env, "MCP_SQLITE_BUSY_TIMEOUT_MS", 30_000, minimum=0)
            ),
            pool_size=int(_number(env, "MCP_DB_POOL_SIZE", 10, minimum=1)),
            echo_sql=env.get("MCP_ECHO_SQL", "").lower() in {"1", "true", "yes"},
            limits=Limits.from_env(env),
            http_max_request_bytes=int(
                _number(env, "MCP_HTTP_MAX_REQUEST_BYTES", 1_048_576, minimum=1024)
            ),
            http_header_timeout=_number(env, "MCP_HTTP_HEADER_TIMEOUT", 10.0, minimum=0.01),
            http_body_timeout=_number(env, "MCP_HTTP_BODY_TIMEOUT", 30.0, minimum=0.01),
            http_keep_alive_timeout=_number(env, "MCP_HTTP_KEEP_ALIVE_TIMEOUT", 5.0, minimum=0.01),
            http_max_connections=int(_number(env, "MCP_HTTP_MAX_CONNECTIONS", 1_000, minimum=1)),
            http_max_sessions=int(_number(env, "MCP_HTTP_MAX_SESSIONS", 10_000, minimum=1)),
            auth_failures_per_second=_number(
                env, "MCP_AUTH_FAILURES_PER_SECOND", 5.0, minimum=0.01
            ),
            revocation_check_interval=_number(
                env, "MCP_REVOCATION_CHECK_INTERVAL", 5.0, minimum=0.01
            ),
            redis_url=env.get("MCP_REDIS_URL", "").strip() or None,
            tool_modules=tuple(
                m.strip() for m in env.get("MCP_TOOL_MODULES", "").split(",") if m.strip()
            ),
        )
