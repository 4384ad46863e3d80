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
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from mcp_dashboard.db_views.base import DatabaseView, Snapshot, Table
from mcp_dashboard.db_views.factory import UnsupportedDatabase, open_view

POLL_SECONDS = 0.5
TABLES = ("clients", "sessions", "executions")


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

    def __init__(self, *, id: str | None = None, quiet_when_absent: bool = False) -> None:
        super().__init__(id=id)
        self.quiet_when_absent = quiet_when_absent
        self.polls = 0  # polls answered so far (tests wait on it instead of on the clock)
        self._status_markup = ""
        self._view: DatabaseView | None = None
        self._followed: str | Path | None = None
        self._cells: dict[str, dict[str, tuple[str, ...]]] = {name: {} for name in TABLES}
        self._shown = False  # the tables showed this database since it was followed
        self._fault_notified = False
        self.last_snapshot: Snapshot | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent(id="tables-tabs", initial="tab-executions"):
            for name in TABLES:
                with TabPane(name.capitalize(), id=f"tab-{name}"):
                    table: DataTable[str] = DataTable(id=f"table-{name}", zebra_stripes=True)
                    table.cursor_type = "row"
                    yield table
        yield Static("No database yet", id="tables-status")

    def on_mount(self) -> None:
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
        self._shown = self._fault_notified = False
        self.last_snapshot = None
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
            self._view = open_view(database)
        except UnsupportedDatabase as exc:
            self._status(f"[b]The live tables cannot show this database:[/b] {escape(str(exc))}")
            status.add_class("error")
            return
        self.poll()

    def poll(self, *, force: bool = False) -> None:
        if self._view is not None:
            self._poll(self._view, force)

    @work(thread=True, exclusive=True, group="tables", exit_on_error=False)
    def _poll(self, view: DatabaseView, force: bool) -> None:
        try:
            snapshot = view.poll(force=force)
        except Exception as exc:  # a bug, not a fault of the database: say so, keep going
            snapshot = Snapshot(error=f"Cannot read {view.source}: {type(exc).__name__}: {exc}")
        self.app.call_from_thread(self.apply, view, snapshot)

    def _status(self, markup: str) -> None:
        """Update the status line only when its words change: each update is a layout."""
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
        parts = []
        for name in TABLES:
            table = getattr(snapshot, name)
            assert isinstance(table, Table)
            self._apply_table(self.query_one(f"#table-{name}", DataTable), table)
            parts.append(f"{len(table.rows):,} of {table.total:,} {name}")
        self._status(" · ".join(parts) + f"  [dim]{escape(view.source)}[/]")

    def _apply_table(self, widget: DataTable[str], table: Table) -> None:
        known = self._cells[table.name]
        if not widget.columns:
            for column in table.columns:
                widget.add_column(column, key=column)
        cursor_key = self._cursor_key(widget)
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

    @staticmethod
    def _cursor_key(widget: DataTable[str]) -> str | None:
        if not widget.row_count:
            return None
        try:
            return widget.coordinate_to_cell_key(widget.cursor_coordinate).row_key.value
        except Exception:  # no cursor row yet
            return None
