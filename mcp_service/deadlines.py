"""A tool call's deadline, which the database honours: a timeout stops the work, not just the await.

Cancelling an asyncio await does not stop a statement running in a driver's
thread: an FTS5 query once ran for 11 minutes after its call had "timed out", and
SIGTERM could not end the process. So the pipeline puts each call's `Deadline`
in a context variable while the tool runs, and the database reads it when a
transaction begins (db.py):

- SQLite: every connection of the service's engine has a progress handler that
  aborts the running statement ("interrupted") once the deadline of the
  transaction it serves has passed;
- PostgreSQL: the transaction gets `statement_timeout` set to the time left.

`expire()` moves a deadline to now, so a call cancelled by shutdown stops its
statement too.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar


class Deadline:
    """A point on the monotonic clock (`time.monotonic()`, which asyncio's loop also uses)."""

    __slots__ = ("at", "seconds")

    def __init__(self, at: float, seconds: float) -> None:
        self.at = at
        self.seconds = seconds  # the budget it was given, for messages

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expire(self) -> None:
        """Stop whatever still works under this deadline, at its next check."""
        self.at = -math.inf


# The deadline of the tool call the current task is running, if any.
CURRENT: ContextVar[Deadline | None] = ContextVar("mcp_service_deadline", default=None)


class DeadlineCell:
    """What a connection's progress handler reads: the deadline of the transaction it serves.

    Set when a transaction begins on the connection, so a connection returned to
    the pool never keeps an earlier caller's deadline.
    """

    __slots__ = ("deadline",)

    def __init__(self) -> None:
        self.deadline: Deadline | None = None

    def expired(self) -> bool:
        deadline = self.deadline
        return deadline is not None and time.monotonic() >= deadline.at


# SQLite calls the progress handler every this many virtual-machine steps (~tens of µs).
PROGRESS_STEPS = 1_000
