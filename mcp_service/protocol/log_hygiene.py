"""Logs that stay readable and small under attack.

With a low descriptor limit the first HTTP server wrote 252 MB of identical
`Too many open files` tracebacks in 40 s, and every client that left mid-body
cost a 46-line traceback. Here:

- `RateLimitedLog` (rate_limited_log.py): a message key logs at most once per
  window, then says how many were suppressed;
- `NoiseFilter`: on every handler, the failures that are normal for a server
  facing the internet (a client gone, descriptors exhausted) lose their
  traceback, and any one message repeats at most a few times per window;
- `configure_logging` installs both with `failures.SafeFormatter`, so no log
  line carries SQL, statement parameters or an API key;
- `quiet_loop_errors`: the event loop's own errors (a failed `accept()`) go
  through the same rules.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
import time
from typing import Any

from mcp_service.failures import SafeFormatter, describe_failure, is_database_error
from mcp_service.rate_limited_log import WINDOW, RateLimitedLog

__all__ = ["RateLimitedLog", "configure_logging", "quiet_loop_errors"]
REPEATS_PER_WINDOW = 5
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
# Failures that mean "a client went away" or "the machine is saturated", not a bug.
_NORMAL_NAMES = {"ClientDisconnect", "ClosedResourceError", "BrokenResourceError", "EndOfStream"}


def _is_normal(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    if isinstance(exc, OSError) and exc.errno in _OUT_OF_DESCRIPTORS:
        return True
    return type(exc).__name__ in _NORMAL_NAMES


class NoiseFilter(logging.Filter):
    """Drop tracebacks of normal failures; let one message repeat a few times per window."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if _is_normal(exc):
            assert exc is not None
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}".splitlines()[0]
            record.args = None
            record.exc_info = None
            record.exc_text = None
        key = (record.name, record.getMessage())
        now = time.monotonic()
        start, count = self._seen.get(key, (now, 0))
        if now - start >= WINDOW:
            start, count = now, 0
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[key] = (start, count + 1)
        if count == REPEATS_PER_WINDOW:
            record.msg = f"{record.getMessage()} (repeating: further ones hidden for {WINDOW:g} s)"
            record.args = None
        return count <= REPEATS_PER_WINDOW


def configure_logging(level: str) -> None:
    """stderr logging for `mcp-service serve`: safe, concise, bounded."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(NoiseFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


_loop_log = RateLimitedLog(logging.getLogger("mcp_service.loop"))


def quiet_loop_errors(loop: asyncio.AbstractEventLoop) -> None:
    """The loop's own error reports (a failed accept(), a callback's error), made concise."""
    default = loop.default_exception_handler

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _OUT_OF_DESCRIPTORS:
            _loop_log.warning(
                "descriptors",
                "out of file descriptors (%s): new connections wait until some close",
                exc.strerror,
            )
            return
        if _is_normal(exc):
            return
        if exc is not None and is_database_error(exc):
            # The default report shows the failed task's repr, with the error's text in it.
            _loop_log.warning("loop-db", "%s: %s", context.get("message"), describe_failure(exc))
            return
        default(context)

    loop.set_exception_handler(handle)
