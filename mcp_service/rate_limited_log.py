"""A log line per kind of trouble per window, not one per event.

A server facing many clients meets the same failure thousands of times a second
(descriptors exhausted, a Redis that stopped answering): `RateLimitedLog` logs a
message key at most once per WINDOW, then says how many it held back.
"""

from __future__ import annotations

import logging
import time
from typing import Any

WINDOW = 10.0  # seconds


class RateLimitedLog:
    """Log a message key at most once per WINDOW, counting the ones held back."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._last: dict[str, tuple[float, int]] = {}

    def _emit(self, level: int, key: str, message: str, args: tuple[Any, ...]) -> None:
        now = time.monotonic()
        last, held = self._last.get(key, (-WINDOW, 0))
        if now - last < WINDOW:
            self._last[key] = (last, held + 1)
            return
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[key] = (now, 0)
        if held:
            message += f" ({held} more in the last {WINDOW:g} s)"
        self._logger.log(level, message, *args)

    def info(self, key: str, message: str, *args: Any) -> None:
        self._emit(logging.INFO, key, message, args)

    def warning(self, key: str, message: str, *args: Any) -> None:
        self._emit(logging.WARNING, key, message, args)
