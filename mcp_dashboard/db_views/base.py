"""What every engine's view shares: the snapshot, one poll at a time, faults as messages.

A view answers `poll()` from a worker thread: a new `Snapshot` when someone
committed since the last one, else None, so an unchanged database costs one
cheap check, not the queries. Both engines (`sqlite`, `postgres`) run the same
SQL and format its rows the same way (queries.py), and both turn every fault
into a message in the snapshot, never an exception.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from mcp_dashboard.db_views.queries import (
    TABLES,
    Detail,
    Fetch,
    Row,
    Table,
    ToolRate,
    read_detail,
    read_tables,
    read_traced,
    table_queries,
    window_start,
)
from mcp_dashboard.db_views.traces import (
    MAX_TRACES,
    TraceCall,
    TraceRows,
    read_trace_calls,
    read_trace_rows,
)

DEFAULT_ROW_LIMIT = 200
DETAIL_WAIT_S = 5.0  # a detail waits this long for a poll in progress to end
_R = TypeVar("_R")


@dataclass(frozen=True)
class Snapshot:
    clients: Table | None = None
    sessions: Table | None = None
    executions: Table | None = None
    # Calls per tool in the last minute, busiest first; None when this poll did not read them.
    tools: tuple[ToolRate, ...] | None = None
    error: str | None = None
    # The error is that there is no service database (yet): no file, or no service tables.
    # Not a fault when the run never made one; the run's tables stay one quiet line.
    absent: bool = False
    # Some rows carry a trace id (traced tests made them): the tables can show one test's.
    traced: bool = False
    # The trace these tables were filtered to (None: every row).
    trace: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def table(self, name: str) -> Table | None:
        found = getattr(self, name)
        return found if isinstance(found, Table) else None


@dataclass(frozen=True)
class TraceCalls:
    """Tool calls by trace id (oldest first; () for a trace without any), or why not."""

    by_trace: Mapping[str, tuple[TraceCall, ...]]
    error: str | None = None


class DatabaseView(ABC):
    """What every engine's view shares: one poll at a time, faults as messages, `close()`.

    Thread workers cannot be interrupted, so a poll that waits (a lock, a
    connect timing out) may still run when the next timer tick starts another
    worker: that one returns None at once instead of sharing the connection.
    """

    source: str  # what the status line shows; never a password

    tie = "id"  # the column that orders rows with equal timestamps

    def __init__(self, *, limit: int = DEFAULT_ROW_LIMIT) -> None:
        self.limit = limit
        self.offsets: dict[str, int] = dict.fromkeys(TABLES, 0)  # the page each table shows
        self._queries = table_queries(self.tie)
        self._traced_queries = table_queries(self.tie, traced=True)
        self.trace: str | None = None  # only this trace's rows, at the next polls
        self._read_trace: str | None = None  # the filter of the last snapshot
        self._lock = threading.Lock()
        self._closed = threading.Event()  # set by the UI thread, read by the polling one
        self._marker: object = None  # the change signal at the last snapshot

    def poll(self, *, force: bool = False, rates: bool = False) -> Snapshot | None:
        """A new snapshot, or None when nothing changed (or another poll is still running)."""
        if self._closed.is_set() or not self._lock.acquire(blocking=False):
            return None
        try:
            if self._closed.is_set():  # closed while this poll waited for its turn
                return None
            try:
                marker = self._begin()
                try:
                    unchanged = (
                        not force
                        and self._marker is not None
                        and marker == self._marker
                        and self._read_trace == self.trace  # the filter did not change
                    )
                    snapshot = None if unchanged else self._snapshot(rates)
                finally:
                    self._end()
                self._marker = marker
                return snapshot
            except Exception as exc:
                message = self._explain(exc)
                if message is None:
                    raise
                self._disconnect()
                return Snapshot(error=message, absent=self._absent(exc))
        finally:
            self._lock.release()
            if self._closed.is_set():
                self._close_if_idle()

    def _snapshot(self, rates: bool) -> Snapshot:
        """The tables; with `rates`, the per-tool summary too (it reads every call of the last
        minute, so it is asked for every few seconds, not at every change)."""
        self._start_read()
        since = self._since_param(window_start()) if rates else None
        trace = self._read_trace = self.trace
        queries = self._queries if trace is None else self._traced_queries
        tables, tools = read_tables(self._fetch, queries, self.limit, self.offsets, since, trace)
        return Snapshot(
            clients=tables["clients"],
            sessions=tables["sessions"],
            executions=tables["executions"],
            tools=tools,
            traced=read_traced(self._fetch),
            trace=trace,
        )

    def only_trace(self, trace: str | None) -> None:
        """Show only the rows of `trace` (None: all rows) from the next poll (call it with
        force), each table from its first page."""
        if trace != self.trace:
            self.trace = trace
            self.offsets = dict.fromkeys(TABLES, 0)

    def page(self, table: str, offset: int) -> None:
        """Show rows from `offset` of `table` at the next poll (call it with force)."""
        self.offsets[table] = max(0, offset)

    def detail(self, table: str, key: str) -> Detail:
        """One row and what hangs off it, read in a transaction of its own (worker thread)."""
        return self._read_alone(
            lambda fetch: read_detail(fetch, table, key),
            lambda message, _absent: Detail(title=key, error=message),
        )

    def trace_rows(self, trace_ids: Sequence[str]) -> TraceRows:
        """The calls, sessions and clients of these traces (at most `traces.MAX_TRACES`),
        read in a transaction of their own (worker thread); a fault is the result's `error`."""
        return self._read_alone(
            lambda fetch: read_trace_rows(fetch, trace_ids),
            lambda message, absent: TraceRows(error=message, absent=absent),
        )

    def trace_calls(self, trace_ids: Sequence[str]) -> TraceCalls:
        """The tool calls of each trace (any number, `MAX_TRACES` per statement), read in
        one transaction (worker thread): what a run timeline draws."""

        def read(fetch: Fetch) -> TraceCalls:
            found: dict[str, tuple[TraceCall, ...]] = {}
            for start in range(0, len(trace_ids), MAX_TRACES):
                found.update(read_trace_calls(fetch, trace_ids[start : start + MAX_TRACES]))
            return TraceCalls(found)

        return self._read_alone(read, lambda message, _absent: TraceCalls({}, message))

    def _read_alone(self, read: Callable[[Fetch], _R], failed: Callable[[str, bool], _R]) -> _R:
        """`read` in one read transaction, waiting a while for a poll in progress; a fault
        becomes `failed(message, absent)`."""
        if self._closed.is_set() or not self._lock.acquire(timeout=DETAIL_WAIT_S):
            return failed("The database is busy: try again in a moment.", False)
        try:
            self._begin()
            try:
                self._start_read()
                return read(self._fetch)
            finally:
                self._end()
        except Exception as exc:
            message = self._explain(exc)
            if message is None:
                raise
            self._disconnect()
            return failed(message, self._absent(exc))
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop polling and release the connection: now, or when the poll in progress ends.

        Called from the UI thread, which must not wait for a poll stuck on a lock or a
        connect: whichever of the two gets the lock after this disconnects.
        """
        self._closed.set()
        self._close_if_idle()

    def _close_if_idle(self) -> None:
        if self._lock.acquire(blocking=False):
            try:
                self._disconnect()
            finally:
                self._lock.release()

    def _disconnect(self) -> None:
        self._marker = None
        self._release()

    @abstractmethod
    def _begin(self) -> object:
        """Connect if needed and start a read; return the current change signal."""

    def _start_read(self) -> None:  # noqa: B027 - most engines need nothing here
        """Make the statements that follow `_begin` read one moment (SQLite: BEGIN)."""

    @abstractmethod
    def _fetch(self, sql: str, params: Mapping[str, object]) -> Sequence[Row]:
        """Rows of one statement, in the read `_begin` started."""

    @abstractmethod
    def _since_param(self, moment: datetime) -> object:
        """A UTC moment as this engine compares it with its stored timestamps."""

    @abstractmethod
    def _end(self) -> None:
        """End the read started by `_begin` (roll back: nothing was written); never raises."""

    @abstractmethod
    def _release(self) -> None:
        """Close the connection; the next poll reconnects."""

    @abstractmethod
    def _explain(self, exc: Exception) -> str | None:
        """A one-line message for a fault of this engine, or None for a bug (re-raised)."""

    def _absent(self, exc: Exception) -> bool:
        """Whether this fault means "no service database here (yet)" rather than a failure."""
        return False
