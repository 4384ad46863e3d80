"""Live Clients / Sessions / Executions tables read from the run's database file.

A thread worker polls at most twice a second; the poll costs one pragma when
nothing changed. Rows are diffed by key (update_cell / add_row / remove_row), so
the cursor stays on its row while new rows arrive above it.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from mcp_dashboard.db_view import DatabaseView, Snapshot, Table

POLL_SECONDS = 0.5
TABLES = ("clients", "sessions", "executions")


class LiveTables(Vertical):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._view: DatabaseView | None = None
        self._cells: dict[str, dict[str, tuple[str, ...]]] = {name: {} for name in TABLES}
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
        self.set_interval(POLL_SECONDS, self.poll)

    def watch_file(self, path: Path | None) -> None:
        """Follow a (new) database file; None when the run's database is not a SQLite file."""
        if self._view is not None and path == self._view.path:
            return
        if self._view is not None:
            self._view.close()
        self._view = DatabaseView(path) if path is not None else None
        for name in TABLES:
            self._cells[name] = {}
            self.query_one(f"#table-{name}", DataTable).clear(columns=True)
        self.poll()

    def poll(self) -> None:
        if self._view is not None:
            self._poll(self._view)

    @work(thread=True, exclusive=True, group="tables", exit_on_error=False)
    def _poll(self, view: DatabaseView) -> None:
        snapshot = view.poll()
        if snapshot is not None:
            self.app.call_from_thread(self.apply, view, snapshot)

    def apply(self, view: DatabaseView, snapshot: Snapshot) -> None:
        if view is not self._view:
            return  # a poll of the previous run's file finished late
        self.last_snapshot = snapshot
        status = self.query_one("#tables-status", Static)
        if snapshot.error is not None:
            status.update(f"[b red]{snapshot.error}[/]")
            status.add_class("error")
            return
        status.remove_class("error")
        parts = []
        for name in TABLES:
            table = getattr(snapshot, name)
            assert isinstance(table, Table)
            self._apply_table(self.query_one(f"#table-{name}", DataTable), table)
            parts.append(f"{len(table.rows):,} of {table.total:,} {name}")
        status.update(" · ".join(parts) + f"  [dim]{view.path}[/]")

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
