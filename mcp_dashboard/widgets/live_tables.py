"""Live Clients / Sessions / Executions tables read from the run's database.

A thread worker polls at most twice a second; the poll costs one cheap check
when nothing changed (db_views/base.py). Rows are diffed by key (update_cell /
add_row / remove_row), so the cursor stays on its row while new rows arrive
above it. A database that cannot be read (missing, locked, corrupt, server
down) is a message in the status line, the rows keep their last values, dimmed,
and the next polls recover by themselves; a fault that interrupts tables that
were showing is also notified once, and so is the recovery.

In run mode (`quiet_when_absent`) a suite that has no service database is not
a fault: until one appears, the tables are one dim line, and they open when it
does (any pytest suite, not only this project's).

Each table reads a page of rows (PgUp/PgDn at its edges turn pages, paged_table.py);
the executions' error column takes the width the other columns leave; Enter on a
row opens its detail (screens/row_detail.py); with `show_rates`, a line
under the tables gives each tool's calls per second and error rate over the last
minute, re-read every few seconds even when nothing is written (rates decay).

When rows carry trace ids (traced tests made them), the tables follow the selected test:
only the rows made in its trace, and a line above them says so (`this_test`, toggled by
the app's key, shows every row again), and each table gains a "test" column: the test
whose trace made the row (`trace_names`; a trace of no known test shows its short id).
Rows without trace ids: no line, no filter, no column.

The live feed (change_feed.py): with a Redis URL, or on PostgreSQL, a notice of a
committed change makes the tables read again at once, not at the next poll; the
status line says which feed is followed (`live: redis`, `live: postgresql`) or that
it dropped and the tables are polling. Reads are coalesced: one in flight, at most
one more queued, however many notices arrive. Polling goes on under the feed, so
a change no feed announces (a service without `MCP_REDIS_URL` on SQLite) still shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from mcp_dashboard.change_feed import NO_FEED, FeedState, choose_feed, follow
from mcp_dashboard.db_views.base import DEFAULT_ROW_LIMIT, DatabaseView, Snapshot
from mcp_dashboard.db_views.factory import UnsupportedDatabase, open_view
from mcp_dashboard.db_views.queries import Detail, Table, ToolRate, short_id, truncate
from mcp_dashboard.screens.row_detail import RowDetailScreen
from mcp_dashboard.widgets.labels import fit_name
from mcp_dashboard.widgets.paged_table import PagedTable

POLL_SECONDS = 0.5
RATES_EVERY = 10  # polls: with show_rates, re-read this often even if nothing was written
TABLES = ("clients", "sessions", "executions")
ERROR_MIN_WIDTH = 20
TEST_COLUMN = "test"
TEST_WIDTH = 40


class LiveTables(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "right_square_bracket",
            "switch(1)",
            "Next table",
            key_display="]",
            tooltip="next/previous table: Clients, Sessions, Executions",
        ),
        Binding(
            "left_square_bracket",
            "switch(-1)",
            "Previous table",
            key_display="[",
            tooltip="next/previous table: Clients, Sessions, Executions",
        ),
    ]

    def __init__(
        self,
        *,
        id: str | None = None,
        quiet_when_absent: bool = False,
        show_rates: bool = False,
        row_limit: int = DEFAULT_ROW_LIMIT,
        redis_url: str | None = None,
    ) -> None:
        """`redis_url`: the live feed's Redis (None: PostgreSQL's own, else polling only)."""
        super().__init__(id=id)
        self.redis_url = redis_url
        self.feed = NO_FEED
        self.feed_notices = 0  # notices heard so far (tests and benchmarks wait on it)
        # Why the feed last dropped: the first failure of the latest run of them (the
        # attempts to reconnect that fail after it do not replace it).
        self.feed_drop: FeedState | None = None
        self._reading: Worker[None] | None = None  # the read in flight
        self._queued: tuple[bool, bool] | None = None  # the next read's (force, rates)
        self._status_tail = ""
        self.row_limit = row_limit
        self.quiet_when_absent = quiet_when_absent
        self.show_rates = show_rates
        self.polls = 0  # polls answered so far (tests wait on it instead of on the clock)
        self._status_markup = ""
        self._status_body = ""
        self._turning: dict[str, int] = {}  # the direction of a page being turned, by table
        self._view: DatabaseView | None = None
        self._followed: str | Path | None = None
        self._cells: dict[str, dict[str, tuple[str, ...]]] = {name: {} for name in TABLES}
        self._shown = False  # the tables showed this database since it was followed
        self.traced = False  # the database holds rows made in a trace
        self.this_test = True  # follow the selected test (else every row)
        self._test: tuple[str, str] | None = None  # the selected test: trace id, name
        self.trace_names: Mapping[str, str] = {}  # trace id -> the node id of its test
        self._fault_notified = False
        self.last_snapshot: Snapshot | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="tables-scope")
        with TabbedContent(id="tables-tabs", initial="tab-executions"):
            for name in TABLES:
                with TabPane(name.capitalize(), id=f"tab-{name}"):
                    yield PagedTable(name)
        yield Static(id="tables-rates")
        yield Static("No database yet", id="tables-status")

    def on_mount(self) -> None:
        self.query_one("#tables-rates", Static).display = False
        self.query_one("#tables-scope", Static).display = False
        self.set_class(self.quiet_when_absent, "-absent")
        self._status(self._absent_text(None))
        self.set_interval(POLL_SECONDS, self.poll)

    def on_unmount(self) -> None:
        if self._view is not None:
            self._view.close()

    def follow(self, database: str | Path | None) -> None:
        """Show a (new) database: a service URL, a SQLite file's path, or None for none."""
        if self._view is not None and database == self._followed:
            return
        if self._view is not None:
            self._view.close()
        self._view, self._followed = None, database
        self._follow_feed(None)
        self._shown = self._fault_notified = self.traced = False
        self.last_snapshot = None
        self._scope()
        self.remove_class("-fault")
        self.set_class(self.quiet_when_absent, "-absent")
        for name in TABLES:
            self._cells[name] = {}
            self.query_one(f"#table-{name}", DataTable).clear(columns=True)
        status = self.query_one("#tables-status", Static)
        status.remove_class("error")
        self._status(self._absent_text(database))
        if database is None:
            return
        try:
            self._view = open_view(database, limit=self.row_limit)
        except UnsupportedDatabase as exc:
            self._status(f"[b]The live tables cannot show this database:[/b] {escape(str(exc))}")
            status.add_class("error")
            return
        self._view.only_trace(self.trace_shown)
        self._follow_feed(database)
        self.poll()

    # -- one test's rows ---------------------------------------------------------

    def show_test(self, trace_id: str | None, name: str = "") -> None:
        """The selected test (None: none): with `this_test`, only its rows are shown."""
        test = (trace_id, name) if trace_id else None
        if test != self._test:
            self._test = test
            self._refilter()

    def toggle_this_test(self) -> None:
        """This test's rows / every row."""
        self.this_test = not self.this_test
        self._refilter()

    @property
    def trace_shown(self) -> str | None:
        """The trace the tables are filtered to, or None for every row."""
        if self._test is None or not self.this_test or not self.traced:
            return None
        return self._test[0]

    def _refilter(self) -> None:
        self._scope()
        view = self._view
        if view is not None and view.trace != self.trace_shown:
            view.only_trace(self.trace_shown)
            self.poll(force=True)

    def _scope(self) -> None:
        """The line above the tables: whose rows they show (only when rows carry traces)."""
        line = self.query_one("#tables-scope", Static)
        line.display = self.traced
        if not self.traced:
            return
        if self.trace_shown is not None and self._test is not None:
            line.update(f"[b]Rows of this test:[/b] {escape(self._test[1])}  [dim]c: all rows[/]")
        elif self._test is not None:
            line.update("[b]All rows[/b]  [dim]c: only the selected test's rows[/]")
        else:
            line.update("[b]All rows[/b]  [dim]select a test to see only its rows[/]")

    def poll(self, *, force: bool = False) -> None:
        """Read the tables: now, or right after the read in flight (requests fold into one)."""
        if self._view is None:
            return
        rates = self.show_rates and self.polls % RATES_EVERY == 0
        if self._reading:
            queued_force, queued_rates = self._queued or (False, False)
            self._queued = (queued_force or force or rates, queued_rates or rates)
            return
        self._reading = self._poll(self._view, force or rates, rates)

    @property
    def idle(self) -> bool:
        """No read in flight and none queued: no read will land until one is asked for."""
        return self._reading is None and self._queued is None

    def _read_ended(self, read: Worker[None]) -> None:
        if read is not self._reading:
            return  # already ended (it landed, then its worker stopped)
        self._reading = None
        queued, self._queued = self._queued, None
        if queued is not None and self._view is not None:
            self._reading = self._poll(self._view, *queued)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A read that died without landing (cancelled, or the app closing) frees the slot."""
        if event.worker.group == "tables" and event.state in (
            WorkerState.CANCELLED,
            WorkerState.ERROR,
        ):
            self._read_ended(event.worker)

    # -- the live feed -----------------------------------------------------------

    def _follow_feed(self, database: str | Path | None) -> None:
        """Follow the feed of `database`'s changes (None: stop following any)."""
        feed = None if database is None else choose_feed(database, self.redis_url)
        self._feed_state(NO_FEED)
        if feed is not None:
            self.run_worker(
                follow(feed, self._feed_notice, self._feed_state),
                group="feed",
                exclusive=True,  # the previous database's feed stops
                exit_on_error=False,
            )
        else:
            self.workers.cancel_group(self, "feed")

    def _feed_notice(self) -> None:
        self.feed_notices += 1
        self.poll()

    def _feed_state(self, state: FeedState) -> None:
        if state.phase == "dropped" and self.feed.phase != "dropped":
            self.feed_drop = state
        self.feed = state
        self._status(self._status_body, self._status_tail)

    @property
    def view(self) -> DatabaseView | None:
        return self._view

    @work(thread=True, exclusive=True, group="tables", exit_on_error=False)
    def _poll(self, view: DatabaseView, force: bool, rates: bool = False) -> None:
        try:
            snapshot = view.poll(force=force, rates=rates)
        except Exception as exc:  # a bug, not a fault of the database: say so, keep going
            snapshot = Snapshot(error=f"Cannot read {view.source}: {type(exc).__name__}: {exc}")
        self.app.call_from_thread(self._landed, get_current_worker(), view, snapshot)

    def _landed(self, read: Worker[None], view: DatabaseView, snapshot: Snapshot | None) -> None:
        try:
            self.apply(view, snapshot)
        finally:
            self._read_ended(read)

    def _status(self, body: str, tail: str = "") -> None:
        """Update the status line only when its words change: each update is a layout.

        The line is `body`, the feed's state, then `tail` (the database's name)."""
        self._status_body, self._status_tail = body, tail
        feed = self.feed.label
        if feed:
            style = "green" if self.feed.following else "yellow"
            feed = f"[{style}]{escape(feed)}[/]"
        markup = "  ".join(part for part in (body, feed, tail) if part)
        if markup != self._status_markup:
            self._status_markup = markup
            self.query_one("#tables-status", Static).update(markup)

    @staticmethod
    def _absent_text(database: str | Path | None) -> str:
        if database is None:
            return "[dim]No service database[/]"
        return "[dim]No service database in this run (the tables open when the tests create one)[/]"

    def action_switch(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        names = [f"tab-{name}" for name in TABLES]
        current = names.index(tabs.active) if tabs.active in names else 0
        tabs.active = names[(current + step) % len(names)]

    def apply(self, view: DatabaseView, snapshot: Snapshot | None) -> None:
        if view is not self._view:
            return  # a poll of the previous run's database finished late
        self.polls += 1
        if snapshot is None:
            return  # nothing changed
        self.last_snapshot = snapshot
        status = self.query_one("#tables-status", Static)
        if snapshot.absent and self.quiet_when_absent and not self._shown:
            self._status(self._absent_text(view.source))
            return
        if snapshot.error is not None:
            self._status(f"[b]{escape(snapshot.error)}[/]")
            status.add_class("error")
            self.set_class(self._shown, "-fault")
            if self._shown and not self._fault_notified:
                self._fault_notified = True
                self.notify(snapshot.error, title="Live tables", severity="warning", markup=False)
            return
        status.remove_class("error")
        self.remove_class("-fault")
        self.remove_class("-absent")
        if self._fault_notified:
            self._fault_notified = False
            self.notify(f"Reading {view.source} again.", title="Live tables", markup=False)
        self._shown = True
        if snapshot.traced != self.traced:
            self.traced = snapshot.traced
            for name in TABLES:  # the "test" column comes (or goes)
                self._cells[name] = {}
                self.query_one(f"#table-{name}", DataTable).clear(columns=True)
            self._refilter()
            self.app.refresh_bindings()  # the key that toggles the filter means something now
        parts = []
        for name in TABLES:
            table = snapshot.table(name)
            assert table is not None
            self._apply_table(self.query_one(f"#table-{name}", PagedTable), table)
            parts.append(_count(table))
        self._status(" · ".join(parts), f"[dim]{escape(view.source)}[/]")
        self._rates(snapshot.tools)

    def _rates(self, tools: tuple[ToolRate, ...] | None) -> None:
        if tools is None:
            return  # not read this time: the last figures stand
        line = self.query_one("#tables-rates", Static)
        line.display = self.show_rates and bool(tools)
        if line.display:
            line.update(rates_text(tools))

    def _apply_table(self, widget: PagedTable, table: Table) -> None:
        if self.traced:
            table = self._with_tests(table)
        known = self._cells[table.name]
        if not widget.columns:
            for column in table.columns:
                widget.add_column(column, key=column)
        turned = widget.first_row != table.offset
        widget.first_row, widget.more = table.offset, table.offset + len(table.rows) < table.total
        if table.name == "executions":  # the error takes the width the others leave
            width = self._error_width(widget)
            table = Table(
                table.name,
                table.columns,
                tuple((k, (*c[:-1], truncate(c[-1], width))) for k, c in table.rows),
                table.total,
                table.offset,
            )
        cursor_key = None if turned else self._cursor_key(widget)
        fresh = dict(table.rows)
        for key in [k for k in known if k not in fresh]:
            widget.remove_row(key)
            del known[key]
        for key, cells in table.rows:
            old = known.get(key)
            if old is None:
                widget.add_row(*cells, key=key)
            elif old != cells:
                for column, before, after in zip(table.columns, old, cells, strict=True):
                    if before != after:
                        widget.update_cell(key, column, after)
            known[key] = cells
        # Newest first: order rows as the snapshot does. Rows that look identical are
        # interchangeable on screen, so ranking by their cells is enough.
        rank = {cells: i for i, (_, cells) in reversed(list(enumerate(table.rows)))}
        widget.sort(key=lambda cells: rank.get(tuple(cells), len(rank)))
        if cursor_key is not None and cursor_key in known:
            widget.move_cursor(row=widget.get_row_index(cursor_key), scroll=False)
        elif turned:  # a new page: its first row going forward, its last going back
            back = self._turning.pop(table.name, 1) < 0
            widget.move_cursor(row=widget.row_count - 1 if back else 0)

    def _with_tests(self, table: Table) -> Table:
        """`table` with the "test" column (before an execution's error, which takes the
        width left): the test whose trace made each row."""
        names = self.trace_names
        at = len(table.columns) - 1 if table.name == "executions" else len(table.columns)

        def test(trace: str | None) -> str:
            """The test's name without its file (`Class::test[params]`), fitted."""
            if not trace:
                return "-"
            nodeid = names.get(trace)
            if nodeid is None:
                return short_id(trace)
            return fit_name(nodeid.partition("::")[2] or nodeid, TEST_WIDTH)

        rows = tuple(
            (key, (*cells[:at], test(trace), *cells[at:]))
            for (key, cells), trace in zip(table.rows, table.traces, strict=True)
        )
        columns = (*table.columns[:at], TEST_COLUMN, *table.columns[at:])
        return Table(table.name, columns, rows, table.total, table.offset, table.traces)

    def _error_width(self, widget: PagedTable) -> int:
        """The error column's width: what the table's width leaves after the others."""
        width = widget.scrollable_content_region.width or self.size.width
        used = sum(
            c.get_render_width(widget) for c in widget.columns.values() if str(c.label) != "error"
        )
        return max(ERROR_MIN_WIDTH, width - used - 2 * widget.cell_padding - 1)

    def on_resize(self) -> None:
        """A new width: fit the error column again (from the last rows read)."""
        snapshot = self.last_snapshot
        if snapshot is not None and snapshot.executions is not None:
            self._apply_table(self.query_one("#table-executions", PagedTable), snapshot.executions)

    @on(PagedTable.PageRequested)
    def _turn_page(self, event: PagedTable.PageRequested) -> None:
        event.stop()
        view = self._view
        if view is None:
            return
        name = event.table.table_name
        self._turning[name] = event.direction
        view.page(name, view.offsets[name] + event.direction * view.limit)
        self.poll(force=True)

    @on(DataTable.RowSelected)
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        """Enter on a row: read it in full (off the UI thread) and show it."""
        event.stop()
        table = event.data_table
        if isinstance(table, PagedTable) and event.row_key.value is not None:
            self._open_detail(table.table_name, event.row_key.value)

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def _open_detail(self, table: str, key: str) -> None:
        view = self._view
        if view is None:
            detail = Detail(title=key, error="No database is being watched.")
        else:
            detail = view.detail(table, key)
        self.app.call_from_thread(self.app.push_screen, RowDetailScreen(detail))

    @staticmethod
    def _cursor_key(widget: DataTable[str]) -> str | None:
        if not widget.row_count:
            return None
        try:
            return widget.coordinate_to_cell_key(widget.cursor_coordinate).row_key.value
        except Exception:  # no cursor row yet
            return None


def _count(table: Table) -> str:
    """`6 of 6 executions`, or the page: `201–400 of 100,000 executions`."""
    if table.offset:
        last = table.offset + len(table.rows)
        return f"{table.offset + 1:,}–{last:,} of {table.total:,} {table.name}"
    return f"{len(table.rows):,} of {table.total:,} {table.name}"


def rates_text(tools: tuple[ToolRate, ...]) -> str:
    """`last minute: echo 0.20/s · 0% errors   corpus_search 0.05/s · 33% errors`."""
    parts = [
        f"[b]{escape(t.tool)}[/] {t.per_second:.2f}/s · "
        + (f"[red]{t.error_rate:.0%} errors[/]" if t.errors else "0% errors")
        for t in tools
    ]
    return "[dim]last minute:[/] " + "   ".join(parts)
