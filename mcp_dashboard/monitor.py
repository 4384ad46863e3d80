"""`mcp-dashboard --monitor`: watch a running service's tables live, without running tests.

A developer starts `mcp-service serve`, opens this beside it, and sees clients
connect, sessions open and close, and tool calls land as they happen.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from mcp_dashboard.widgets.live_tables import LiveTables


class MonitorApp(App[int]):
    CSS_PATH = "dashboard.tcss"
    TITLE = "mcp-dashboard --monitor"
    AUTO_FOCUS = "DataTable"

    BINDINGS = [
        Binding("r", "refresh_now", "Refresh now"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, database: Path) -> None:
        super().__init__()
        self.database = database

    def compose(self) -> ComposeResult:
        yield Static(f"[b]Monitoring[/b] {self.database}", id="monitor-title")
        yield LiveTables(id="live-tables")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(LiveTables).watch_file(self.database)

    def action_refresh_now(self) -> None:
        self.query_one(LiveTables).poll()


def database_file(url: str) -> Path:
    """The SQLite file of a service URL; other engines are refused with a clear message."""
    from mcp_service.db import sqlite_file

    path = sqlite_file(url)
    if path is None:
        raise ValueError(
            f"monitor mode reads a SQLite database file; {url.split('://', 1)[0]} is not one yet"
        )
    return path
