"""Retrying a write transaction, only where the engine documents that it is the fix.

PostgreSQL aborts a transaction with serialization_failure (40001) or
deadlock_detected (40P01) and its manual says the application should retry it
("Serialization Failure Handling"): the whole transaction, from the start. Nothing
else is retried. SQLite has no such error: its writers queue on BEGIN IMMEDIATE
and busy_timeout, and a "database is locked" that outlasts them is reported.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

T = TypeVar("T")

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
MAX_ATTEMPTS = 8
FIRST_BACKOFF = 0.005  # seconds; doubles per attempt, with jitter so retries spread out

log = logging.getLogger(__name__)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error wrapped by SQLAlchemy, if it has one."""
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and sqlstate(exc) in RETRYABLE_SQLSTATES


async def retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """`await attempt()`, run again after a retryable failure, up to MAX_ATTEMPTS times."""
    for n in range(1, MAX_ATTEMPTS + 1):
        try:
            return await attempt()
        except DBAPIError as exc:
            if n == MAX_ATTEMPTS or not is_retryable(exc):
                raise
            log.info("transaction retried after SQLSTATE %s (attempt %d)", sqlstate(exc), n)
            await asyncio.sleep(FIRST_BACKOFF * 2 ** (n - 1) * random.uniform(0.5, 1.5))  # noqa: S311
    raise AssertionError("unreachable")
