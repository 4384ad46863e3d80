"""The test toolkit: how a test waits, reports a step, and reads an MCP answer.

Tests never sleep to wait and never assert on wall time. They wait with `until`
(in async tests, Pilot or not) or `until_sync` (in plain tests), which poll a
condition and fail with a message naming what never happened. The timeout is
one number for the whole suite, `UNTIL_TIMEOUT`: generous, because CI is a
shared 2-core machine running two engines' suites, and a passing test never
waits for it (it returns as soon as the condition holds).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, Protocol

from mcp.types import CallToolResult, TextContent

from mcp_service.snapshots import ExecutionRecord

# Seconds before a wait is a failure. Only a broken test ever reaches it.
UNTIL_TIMEOUT = 60.0
_POLL = 0.02


class Pauser(Protocol):
    """Textual's Pilot, or anything that lets an app run for a moment."""

    async def pause(self, delay: float | None = None) -> None: ...


async def until(
    condition: Callable[[], object],
    what: str = "the condition",
    *,
    pilot: Pauser | None = None,
    timeout: float = UNTIL_TIMEOUT,
) -> None:
    """Return as soon as `condition()` is truthy; fail naming `what` after `timeout`.

    `condition` may be async (a probe that asks a server). With a `pilot`, the
    app runs between polls (Pilot has no event for a child process's output or a
    database change).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await _holds(condition):
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        if pilot is not None:
            await pilot.pause(_POLL)
        else:
            await asyncio.sleep(_POLL)


async def _holds(condition: Callable[[], object]) -> object:
    result = condition()
    return await result if inspect.isawaitable(result) else result


def until_sync(
    condition: Callable[[], object],
    what: str = "the condition",
    *,
    timeout: float = UNTIL_TIMEOUT,
) -> None:
    """`until` for code without an event loop (subprocesses, threads, files)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(_POLL)


class Step(Protocol):
    """The `step` fixture (tests/conftest.py): one "✓ …" line of progress, never a secret."""

    def __call__(self, message: str) -> None: ...


def text_of(result: CallToolResult) -> str:
    """The text of a tool result's first (text) content: how a refusal reads to a client."""
    first = result.content[0]
    assert isinstance(first, TextContent), first
    return first.text


def result_of(record: ExecutionRecord) -> dict[str, Any]:
    """A successful execution's result (a refused one has none)."""
    assert record.result is not None, record
    return record.result
