"""Settings read from the environment, so the same code runs in tests, CI and production."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mcp_service.errors import ValidationError

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
        )
