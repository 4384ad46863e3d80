"""`mcp-dashboard --monitor`: watch a running service's tables live, without running tests.

A developer starts `mcp-service serve`, opens this beside it, and sees clients
connect, sessions open and close, and tool calls land as they happen, on a
SQLite file or a PostgreSQL database alike.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from mcp_dashboard.db_views.factory import open_view
from mcp_dashboard.widgets.live_tables import LiveTables


class MonitorApp(App[int]):
    CSS_PATH = Path(__file__).with_name("dashboard.tcss")  # package data
    TITLE = "mcp-dashboard --monitor"
    AUTO_FOCUS = "DataTable"

    BINDINGS = [
        Binding("r", "refresh_now", "Refresh now"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, database: str | Path) -> None:
        """`database`: the service's URL, or a SQLite file's path."""
        super().__init__()
        self.database = database
        self.source = describe(database)

    def compose(self) -> ComposeResult:
        yield Static(f"[b]Monitoring[/b] {escape(self.source)}", id="monitor-title")
        yield LiveTables(id="live-tables")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(LiveTables).follow(self.database)

    def action_refresh_now(self) -> None:
        self.query_one(LiveTables).poll(force=True)


def describe(database: str | Path) -> str:
    """What to call the database on screen: its file, or its URL without the password.

    Raises `UnsupportedDatabase` (a ValueError) for a URL the live tables cannot
    read: in-memory SQLite, engines other than SQLite and PostgreSQL.
    """
    return open_view(database).source
