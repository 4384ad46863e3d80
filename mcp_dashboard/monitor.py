"""`mcp-dashboard --monitor`: watch a running service's tables live, without running tests.

A developer starts `mcp-service serve`, opens this beside it, and sees clients
connect, sessions open and close, and tool calls land as they happen, on a
SQLite file or a PostgreSQL database alike: calls per second and error rate per
tool over the last minute, pages through tables larger than one read (PgUp/PgDn),
and Enter on a row for all of it (an execution's arguments and result, a
session's calls, a client's sessions). With the live feed (`--redis-url`, or a
PostgreSQL database's own notifications) a committed row shows at once, not at
the next poll (widgets/live_tables.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.markup import escape
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Static

from mcp_dashboard.db_views.base import DEFAULT_ROW_LIMIT
from mcp_dashboard.db_views.factory import open_view
from mcp_dashboard.widgets.live_tables import LiveTables


class MonitorApp(App[int]):
    CSS_PATH = Path(__file__).with_name("dashboard.tcss")  # package data
    TITLE = "mcp-dashboard --monitor"
    AUTO_FOCUS = "#table-executions"  # the tab shown first (the first table is on another)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_now", "Refresh now"),
        Binding("enter", "noop", "Detail", key_display="enter", tooltip="open the row"),
        Binding("pagedown", "noop", "Next page", key_display="PgDn", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        database: str | Path,
        *,
        row_limit: int = DEFAULT_ROW_LIMIT,
        redis_url: str | None = None,
    ) -> None:
        """`database`: the service's URL, or a SQLite file's path; `redis_url`: the live
        feed's Redis (None: PostgreSQL's notifications, or polling)."""
        super().__init__()
        self.database = database
        self.redis_url = redis_url
        self.row_limit = row_limit
        self.source = describe(database)

    def compose(self) -> ComposeResult:
        yield Static(f"[b]Monitoring[/b] {escape(self.source)}", id="monitor-title")
        yield LiveTables(
            id="live-tables",
            show_rates=True,
            row_limit=self.row_limit,
            redis_url=self.redis_url,
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(LiveTables).follow(self.database)

    def action_refresh_now(self) -> None:
        self.query_one(LiveTables).poll(force=True)

    def action_noop(self) -> None:
        """Listed in the footer; the focused table does the work."""


def describe(database: str | Path) -> str:
    """What to call the database on screen: its file, or its URL without the password.

    Raises `UnsupportedDatabase` (a ValueError) for a URL the live tables cannot
    read: in-memory SQLite, engines other than SQLite and PostgreSQL.
    """
    return open_view(database).source
