"""What each test left in the service database: read when it fails, and once it finished.

A test is queued when a phase of it fails, and again when it finishes, if it has a trace
id; a thread worker reads the rows of the queued traces (`DatabaseView.trace_rows`, a few
dozen at a time) and posts `Read`. At the failure, its rows are kept as they were then
(`captured`, never replaced), so its detail shows that moment, not whatever later tests
did to the same session. Once it finished: the sessions its trace left open
(`SessionsLeft`, which the app folds into the state so its pane marks the leak). A test
without a trace (no plugin span), or a run without a service database, reads as no rows.

Invisible: a widget only so it can run its worker and send its message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from textual import work
from textual.message import Message
from textual.widget import Widget

from mcp_dashboard.db_views.base import DatabaseView
from mcp_dashboard.db_views.traces import MAX_TRACES, TraceRows
from mcp_dashboard.state import SessionsLeft, TestState

RETRY_SECONDS = 1.0  # a busy or unreachable database: try the queued tests again


@dataclass(frozen=True, slots=True)
class Due:
    """A test whose rows are to be read: at its failure (`finished_at` None), or once it
    has finished."""

    nodeid: str
    trace_id: str
    finished_at: float | None
    failed: bool

    @property
    def key(self) -> tuple[str, str, bool]:
        return self.nodeid, self.trace_id, self.finished_at is None


class TestRows(Widget):
    __test__ = False  # not a pytest test class
    DEFAULT_CSS = "TestRows { display: none; }"

    @dataclass
    class Read(Message):
        """The rows of some finished tests were read: the sessions each left open (none
        for most), and any failure's rows are in `captured` now."""

        left: tuple[SessionsLeft, ...]

    def __init__(self, view: Callable[[], DatabaseView | None], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._view = view  # the database the tables watch (None: none yet)
        self._queued: dict[tuple[str, str, bool], Due] = {}
        self.done: set[tuple[str, str]] = set()  # (node id, trace id) of the finished tests read
        self._reading = False
        self.captured: dict[str, TraceRows] = {}  # failed tests: their rows at the failure
        self.left: dict[str, SessionsLeft] = {}  # tests that left sessions open
        self.reads = 0  # batches read so far (tests wait on it, not on the clock)

    def on_mount(self) -> None:
        self.set_interval(RETRY_SECONDS, self._next)

    def reset(self) -> None:
        """A new run: forget the last one's tests."""
        self._queued.clear()
        self.done.clear()
        self.captured.clear()
        self.left.clear()

    def seen(self, test: TestState) -> None:
        """A test changed: read its rows if it just failed or just finished, in a trace."""
        if not test.trace_id:
            return
        if test.nodeid not in self.captured and any(p.outcome == "failed" for p in test.phases):
            self._queue(Due(test.nodeid, test.trace_id, None, True))
        if test.finished and (test.nodeid, test.trace_id) not in self.done:
            self._queue(Due(test.nodeid, test.trace_id, test.finished_at or 0.0, test.failed))

    def _queue(self, due: Due) -> None:
        if due.key not in self._queued:
            self._queued[due.key] = due
            self._next()

    def facts(self) -> Iterable[SessionsLeft]:
        """The leaks read so far (to fold into a state made without them)."""
        return self.left.values()

    def _next(self) -> None:
        if self._reading or not self._queued:
            return  # before asking for the view: a query of the app's DOM, per test queued
        view = self._view()
        if view is None:
            return
        self._reading = True
        batch: list[Due] = []
        traces: set[str] = set()
        for due in self._queued.values():  # the oldest, up to MAX_TRACES traces
            if due.trace_id not in traces:
                if len(traces) == MAX_TRACES:
                    break
                traces.add(due.trace_id)
            batch.append(due)
        self._read(view, batch)

    @work(thread=True, group="test-rows", exit_on_error=False)
    def _read(self, view: DatabaseView, batch: list[Due]) -> None:
        try:
            rows = view.trace_rows(list(dict.fromkeys(d.trace_id for d in batch)))
        except Exception as exc:  # a bug, not a fault of the database: try again later
            rows = TraceRows(error=f"{type(exc).__name__}: {exc}")
        self.app.call_from_thread(self._apply, batch, rows, rows.by_trace())

    def _apply(self, batch: list[Due], rows: TraceRows, by_trace: dict[str, TraceRows]) -> None:
        self._reading = False
        self.reads += 1
        if rows.error is not None and not rows.absent:
            return  # queued still: the timer tries again
        left = []
        none = TraceRows(truncated=rows.truncated, absent=rows.absent)
        for test in batch:
            if self._queued.pop(test.key, None) is None:
                continue  # a new run began meanwhile
            mine = by_trace.get(test.trace_id, none)
            if test.failed:
                self.captured.setdefault(test.nodeid, mine)  # the first read after the failure
            if test.finished_at is None:
                continue
            self.done.add((test.nodeid, test.trace_id))
            open_ids = tuple(s.session_id for s in mine.left_open(test.finished_at))
            if open_ids:
                fact = SessionsLeft(nodeid=test.nodeid, trace_id=test.trace_id, sessions=open_ids)
                self.left[test.nodeid] = fact
                left.append(fact)
        self.post_message(self.Read(tuple(left)))
        self._next()
