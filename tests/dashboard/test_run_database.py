"""Run mode on a chosen database: the URL reaches the suite child, and its tables are shown.

`test_run_mode_shows_the_tables_of_the_chosen_database` takes `database_url`,
so in the PostgreSQL pass the child's service writes to PostgreSQL and the
dashboard reads it back from there.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.engine import make_url
from textual.widgets import DataTable, Static

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.widgets.live_tables import LiveTables
from mcp_service.db import sqlite_file
from tests.dashboard.helpers import child_env, fixture, run_cli
from tests.dashboard.live_db import plus, status_counts, tables_line, totals
from tests.dashboard.pilot import launcher
from tests.toolkit import until


async def test_run_mode_shows_the_tables_of_the_chosen_database(
    database_url: str, tmp_path: Path
) -> None:
    chosen = launcher(tmp_path, "service", "--database-url", database_url)
    path = sqlite_file(database_url)
    before = totals(database_url) if path is None or path.exists() else (0, 0, 0)
    after = plus(before, (2, 2, 6))  # the fixture suite writes 2 clients, 2 sessions, 6 calls
    shown = str(path) if path else make_url(database_url).render_as_string(hide_password=True)
    with chosen:
        app = DashboardApp(chosen)
        async with app.run_test(size=(160, 48)) as pilot:
            status = app.query_one("#tables-status", Static)
            app.query_one(LiveTables).toggle_this_test()  # every row, not the selected test's
            await until(lambda: app.runs_finished == 1, "the run", pilot=pilot)
            await until(
                lambda: (
                    tables_line(status_counts(*after), shown, database_url) in str(status.render())
                ),
                "the status line to say so",
                pilot=pilot,
            )
            clients = app.query_one("#table-clients", DataTable)
            assert sorted(clients.get_row_at(i)[1] for i in range(2)) == [
                "fixture client 0",
                "fixture client 1",
            ]
            assert totals(database_url) == after


def test_mcp_database_url_from_the_environment_reaches_the_suite(workdir: Path) -> None:
    from_env = f"sqlite+aiosqlite:///{workdir / 'from-env.db'}"
    from_flag = f"sqlite+aiosqlite:///{workdir / 'from-flag.db'}"
    for extra, expected in (([], from_env), (["--database-url", from_flag], from_flag)):
        result = run_cli(
            "--ci",
            fixture("outcomes"),
            "-k",
            "test_pass",
            "--json-report",
            "r.json",
            *extra,
            cwd=workdir,
            env=child_env(MCP_DATABASE_URL=from_env),
        )
        assert result.returncode == 0, result.stdout
        [test] = json.loads((workdir / "r.json").read_text())["tests"]
        assert test["call"]["stdout"] == f"database: {expected}\n"
