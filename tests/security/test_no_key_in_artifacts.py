"""No plaintext API key in anything a run leaves behind.

Why: keys are shown once, at registration, and stored only as a salted hash;
one careless log line, step message, report field or table cell would undo that.
So real runs write everything they write (the database and its WAL, the run
history, the event stream, JSON and JUnit reports, the `--ci` output, a server's
debug log, dashboard screenshots), and every byte is searched for every key the
run generated (recorded by tests/security/key_capture.py) and for key-shaped text.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.launch import Launcher
from mcp_dashboard.options import parse
from mcp_dashboard.screens.test_detail import TestDetailScreen
from mcp_dashboard.widgets.live_tables import LiveTables
from mcp_dashboard.widgets.test_list import TestList
from tests.dashboard.helpers import ROOT, child_env, run_cli
from tests.faults.processes import cli, mcp_client, new_database, register, start_server
from tests.security.key_capture import CAPTURE_ENV, WAL_ENV
from tests.security.sweep import KeySweep, captured_keys
from tests.toolkit import until

REALISTIC = ROOT / "tests" / "integration" / "test_mcp_service_realistic.py"


def capturing_env(capture: Path, wal_snapshots: Path) -> dict[str, str]:
    """A dashboard child's environment that records every key its tests generate,
    and copies the database's WAL after each test (key_capture.py)."""
    return child_env(
        PYTEST_ADDOPTS="-p tests.security.key_capture",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **{CAPTURE_ENV: str(capture), WAL_ENV: str(wal_snapshots)},
    )


def assert_nothing_found(sweep: KeySweep, *paths: Path, expect: set[str]) -> None:
    files, findings = sweep.sweep(paths)
    names = {f.name for f in files}
    assert expect <= names, f"artifacts missing from the sweep: {expect - names}"
    assert findings == [], "\n".join(map(str, findings))


def test_ci_run_of_the_realistic_suite_leaves_no_key(tmp_path: Path) -> None:
    work, capture = tmp_path / "work", tmp_path / "keys.txt"  # the capture file is not swept
    work.mkdir()
    result = run_cli(
        "--ci",
        "--steps",
        str(REALISTIC),
        "--json-report",
        "report.json",
        "--junit-xml",
        "junit.xml",
        "--history",
        str(work / "history.sqlite3"),
        cwd=work,
        env=capturing_env(capture, work / "wal"),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (work / "dashboard-output.txt").write_text(result.stdout + result.stderr)
    keys = captured_keys(capture)
    assert len(keys) >= 100  # registration alone makes 100 clients
    assert "✓ " in result.stdout  # --steps printed the step lines too
    assert json.loads((work / "report.json").read_text())["summary"]["passed"] >= 10
    [run_dir] = (work / ".mcp-dashboard" / "runs").iterdir()
    wal_copies = {p.name for p in (work / "wal").iterdir()}
    assert len(wal_copies) >= 5  # the WAL as each test's service left it (most tests have one)
    assert_nothing_found(
        KeySweep(keys),
        work,
        expect={
            "service.db",
            *wal_copies,
            "events.jsonl",
            "history.sqlite3",
            "report.json",
            "junit.xml",
            "dashboard-output.txt",
        },
    )
    # The keys are really in play: the database holds their salted hashes, one per key.
    assert run_dir.joinpath("service.db").stat().st_size > 0


async def test_dashboard_screenshots_show_no_key(tmp_path: Path) -> None:
    work, capture = tmp_path / "work", tmp_path / "keys.txt"
    work.mkdir()
    argv = [str(REALISTIC), "-k", "registration or permissions", "--history", str(work / "h.db3")]
    options = parse(argv)
    env = capturing_env(capture, work / "wal")
    with Launcher(options, cwd=work, state_dir=work / "state", env=env) as chosen:
        app = DashboardApp(chosen)
        async with app.run_test(size=(160, 48)) as pilot:
            await until(lambda: app.runs_finished == 1 and not app.running, "the run", pilot=pilot)
            tables = app.query_one(LiveTables)
            await until(
                lambda: bool(tables.last_snapshot and tables.last_snapshot.ok),
                "the tables",
                pilot=pilot,
            )
            app.draw()
            await pilot.pause()
            app.save_screenshot(str(work / "dashboard.svg"))
            test = next(t for t in app.state.tests_in_order() if t.critical_path == "registration")
            assert test.status == "passed" and test.steps
            app.post_message(TestList.Chosen(test.nodeid))
            await until(lambda: isinstance(app.screen, TestDetailScreen), "the detail", pilot=pilot)
            await pilot.pause()
            app.save_screenshot(str(work / "detail.svg"))
    keys = captured_keys(capture)
    assert len(keys) >= 100
    assert "registration" in (work / "detail.svg").read_text()
    assert_nothing_found(KeySweep(keys), work, expect={"dashboard.svg", "detail.svg"})


async def test_serve_at_debug_level_logs_no_key(tmp_path: Path) -> None:
    url = new_database(tmp_path / "service.db")
    good = register(url, "debug sweep", "admin")
    victim = register(url, "debug sweep victim", "basic")
    wrong = good.api_key[:-4] + ("AAAA" if not good.api_key.endswith("AAAA") else "BBBB")
    server = start_server(url, tmp_path / "server.log", "--log-level", "debug")
    try:
        async with mcp_client(server.url, good.api_key) as client:
            assert not (await client.call_tool("echo", {"message": "hello"})).is_error
            added = await client.call_tool("corpus_add", {"title": "t", "body": "b"})
            assert not added.is_error
            revoked = await client.call_tool("revoke_client", {"client_id": victim.client_id})
            assert revoked.structured_content["revoked"] is True
        for refused in (wrong, victim.api_key):  # a forged key, then a revoked one: 401
            with pytest.raises(BaseException):  # noqa: B017 - the SDK raises a group
                async with mcp_client(server.url, refused) as client:
                    await client.list_tools()
        # The WAL as the live server has it (SQLite deletes it when the server closes).
        shutil.copyfile(tmp_path / "service.db-wal", tmp_path / "live.db-wal")
    finally:
        assert server.stop() == 0
    listing = cli(url, "clients", "--json")
    (tmp_path / "clients.json").write_text(listing.stdout + listing.stderr)
    log = server.log_text()
    assert "DEBUG sse_starlette.sse: chunk:" in log  # debug level: whole responses logged
    assert log.count('"POST /mcp HTTP/1.1" 401 Unauthorized') == 2
    assert_nothing_found(
        KeySweep([good.api_key, victim.api_key, wrong]),
        tmp_path / "server.log",
        tmp_path / "service.db",
        tmp_path / "live.db-wal",
        tmp_path / "clients.json",
        expect={"server.log", "service.db", "live.db-wal", "clients.json"},
    )


def test_committed_screenshots_hold_no_key_shaped_text() -> None:
    shots = sorted((ROOT / "screenshots").glob("*.svg"))
    assert shots, "scripts/screenshots.py output is missing"
    assert_nothing_found(KeySweep([]), *shots, expect={p.name for p in shots})
