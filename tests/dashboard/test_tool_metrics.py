"""Tool-call metrics from the rows a run's tests stamped: the figures, and what they flag.

The end-to-end tests run the fixture suite tests/fixtures/tool_calls (real service,
in-process, on a real database of the run's engine) through `mcp-dashboard --ci`
with a history file, and check the history, the printed section and the GitHub
step summary against the rows in the service's database.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mcp_dashboard.db_views.postgres import sync_url
from mcp_dashboard.db_views.run_metrics import CHUNK, RunCalls, read_calls, read_run_calls
from mcp_dashboard.history import History
from mcp_dashboard.tool_metrics import (
    CallChange,
    CallReport,
    ToolStats,
    assess_tool,
    call_changes,
    nearest_rank,
    text_lines,
    tool_stats,
)
from mcp_service.db import sqlite_file
from tests.dashboard.helpers import child_env, fixture, run_cli
from tests.databases import postgres_database

SUITE = "tool_calls/test_tool_calls.py::"
HEADER = ["tool", "calls", "errors", "p50", "ms", "p95", "ms"]


# -- the figures -----------------------------------------------------------------------


def test_nearest_rank_is_the_smallest_value_with_p_percent_at_or_below_it() -> None:
    twenty = [float(v) for v in range(1, 21)]
    assert nearest_rank(twenty, 50) == 10.0
    assert nearest_rank(twenty, 95) == 19.0
    assert nearest_rank(twenty, 100) == 20.0
    assert nearest_rank([7.0], 50) == nearest_rank([7.0], 95) == 7.0
    eight = [float(v) for v in range(1, 9)]
    assert (nearest_rank(eight, 50), nearest_rank(eight, 95)) == (4.0, 8.0)


def test_tool_stats_count_every_status_but_success_as_an_error() -> None:
    rows = [
        ("t1", "echo", "success", 3.0),
        ("t1", "echo", "error", 1.0),
        ("t2", "echo", "denied", 2.0),
        ("t2", "echo", "success", 4.0),
        ("t2", "search", "timeout", 9.0),
    ]
    assert tool_stats(rows) == [
        ToolStats("echo", 4, 2, 2.0, 4.0),
        ToolStats("search", 1, 1, 9.0, 9.0),
    ]


def test_a_p95_over_twice_the_median_of_recent_runs_is_a_regression() -> None:
    def verdict(p95: float, earlier: list[float]) -> tuple[bool, float | None, int]:
        v = assess_tool(ToolStats("echo", 10, 0, 1.0, p95), earlier)
        return v.regressed, v.median_p95, v.runs

    assert verdict(20.0, [10.0, 1.0, 10.0, 50.0]) == (False, 10.0, 4)  # exactly 2x: not over
    assert verdict(20.001, [10.0, 1.0, 10.0, 50.0]) == (True, 10.0, 4)
    assert verdict(100.0, [1.0, 1.0]) == (False, None, 2)  # two runs are too few for a median
    # Only the last 10 earlier runs count (newest first): the old slow ones are forgotten.
    assert verdict(3.0, [1.0] * 10 + [100.0] * 5) == (True, 1.0, 10)


def test_a_call_count_change_names_only_the_test_that_changed() -> None:
    now = {"a": 4, "b": 5, "c": 0, "new": 3}
    before: dict[str, int | None] = {"a": 5, "b": 5, "c": 1, "new": None}
    assert call_changes(now, before) == [CallChange("a", 5, 4), CallChange("c", 1, 0)]


def test_the_text_table_flags_a_regressed_tool_and_a_changed_test() -> None:
    slow = assess_tool(ToolStats("echo", 9, 2, 0.5, 2.3), [1.0, 1.0, 0.9, 2.0, 1.1])
    steady = assess_tool(ToolStats("analyze_workload", 1, 0, 1.0, 1.0), [1.0, 1.0, 1.0])
    report = CallReport(tools=(steady, slow), changes=(CallChange("t.py::test_x", 4, 5),))
    assert text_lines(report) == [
        "tool              calls  errors  p50 ms  p95 ms",
        "analyze_workload      1    0.0%    1.00    1.00",
        "echo                  9   22.2%    0.50    2.30  p95 2.3x its median of the last 5 runs",
        "call count changed since the previous run of the test:",
        "  CALLS t.py::test_x 4 → 5",
    ]


def test_a_long_report_lists_regressed_tools_then_the_busiest_and_counts_the_rest() -> None:
    steady = [
        assess_tool(ToolStats(f"tool_{n:02d}", 100 + n, 0, 1.0, 1.0), [1.0] * 3) for n in range(45)
    ]
    slow = assess_tool(ToolStats("zz_slow", 1, 0, 9.0, 9.0), [1.0] * 3)
    changes = tuple(CallChange(f"t.py::test_{n:02d}", 1, 2) for n in range(45))
    lines = text_lines(CallReport(tools=(*steady, slow), changes=changes))
    names = [line.split()[0] for line in lines[1:41]]
    assert names == [f"tool_{n:02d}" for n in range(6, 45)] + ["zz_slow"]
    assert lines[41] == "… and 6 more tools (fewer calls)"
    assert lines[42] == "call count changed since the previous run of the test:"
    assert lines[43:83] == [f"  CALLS t.py::test_{n:02d} 1 → 2" for n in range(40)]
    assert lines[83:] == ["  … and 5 more tests"]


# -- the bounded read ------------------------------------------------------------------


def test_the_read_goes_in_chunks_and_stops_at_its_bound(tmp_path: Path) -> None:
    """A real SQLite file with the columns the read uses: every trace id's rows come back
    across IN lists of CHUNK ids, and a bound below the rows cuts the read and says so."""
    db = sqlite3.connect(tmp_path / "calls.db")
    db.execute(
        "CREATE TABLE tool_executions (trace_id TEXT, tool_name TEXT, status TEXT, "
        "duration_ms REAL)"
    )
    traces = [f"{n:032x}" for n in range(2 * CHUNK + 3)]
    db.executemany(
        "INSERT INTO tool_executions VALUES (?, 'echo', 'success', 1.0)",
        [(t,) for t in traces] + [(None,), ("f" * 32,)],  # untraced, and another run's
    )
    db.commit()

    def fetch(sql: str, params: object) -> list[tuple[object, ...]]:
        assert isinstance(params, dict)
        return db.execute(sql, params).fetchall()

    whole = read_calls(fetch, traces)
    assert sorted(row[0] for row in whole.rows) == traces
    assert not whole.truncated
    cut = read_calls(fetch, traces, max_rows=CHUNK + 1)
    assert (len(cut.rows), cut.truncated) == (CHUNK + 1, True)
    db.close()


# -- end to end ------------------------------------------------------------------------


@pytest.fixture
def service_url(database_backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of the run's engine for the fixture suite's service, its own."""
    if database_backend == "postgresql":
        with postgres_database("mcp_tool_metrics") as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"


def durations_by_tool(url: str) -> dict[str, list[float]]:
    """Every execution's duration in the service's database, sorted, per tool."""
    engine = create_engine(
        sync_url(url) if url.startswith("postgresql") else url.replace("+aiosqlite", "")
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT tool_name, duration_ms FROM tool_executions LIMIT 1000")
            ).all()
    finally:
        engine.dispose()
    found: dict[str, list[float]] = defaultdict(list)
    for tool, duration in rows:
        assert isinstance(duration, float)
        found[str(tool)].append(duration)
    return {tool: sorted(values) for tool, values in found.items()}


def section(stdout: str, title: str) -> list[str]:
    """The lines under `=== title ===` up to the next title or pytest's closing line."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip("= ") == title) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("=")), len(lines) - 1)
    return lines[start:end]


def seed_runs(history: Path, like_run: int, p95: dict[str, float], count: int) -> None:
    """`count` earlier runs of the same PATHS, each with these p95s, straight into the file."""
    db = sqlite3.connect(history)
    paths, args = db.execute("SELECT paths, args FROM runs WHERE id = ?", (like_run,)).fetchone()
    for _ in range(count):
        run = db.execute(
            "INSERT INTO runs (paths, args, started, ended, exit_status, status) "
            "VALUES (?, ?, 0, 1, 0, 'passed')",
            (paths, args),
        ).lastrowid
        db.executemany(
            "INSERT INTO tool_metrics VALUES (?, ?, 1, 0, ?, ?)",
            [(run, tool, value, value) for tool, value in p95.items()],
        )
    db.commit()
    db.close()


@pytest.mark.database
def test_two_runs_record_the_figures_and_flag_a_regression_and_the_changed_test(
    workdir: Path, service_url: str
) -> None:
    history_file = workdir / "history.sqlite3"
    args = ("--ci", fixture("tool_calls"), "--history", str(history_file))
    first = run_cli(*args, "--database-url", service_url, cwd=workdir)
    assert first.returncode == 0, first.stdout

    # The history holds exactly what the rows say: counts, errors, nearest-rank p50/p95.
    durations = durations_by_tool(service_url)
    assert {tool: len(values) for tool, values in durations.items()} == {
        "analyze_workload": 1,
        "echo": 8,
    }
    with History(history_file) as history:
        stored = history.tool_metrics(1)
        assert history.test_calls(1) == {
            f"{SUITE}test_echoes": 4,
            f"{SUITE}test_errors_and_workloads": 5,
            f"{SUITE}test_no_calls": 0,
        }
    echo, workload = durations["echo"], durations["analyze_workload"]
    assert stored == {
        "analyze_workload": ToolStats("analyze_workload", 1, 0, workload[0], workload[0]),
        "echo": ToolStats("echo", 8, 2, echo[3], echo[7]),
    }
    table = [line.split() for line in section(first.stdout, "tool calls")]
    assert table == [
        HEADER,
        ["analyze_workload", "1", "0.0%", f"{workload[0]:.2f}", f"{workload[0]:.2f}"],
        ["echo", "8", "25.0%", f"{echo[3]:.2f}", f"{echo[7]:.2f}"],
    ]

    # Five earlier runs (test data in the history file): echo's p95 a thousandth of a
    # millisecond, so any real p95 is over twice it; analyze_workload's far above any.
    seed_runs(history_file, 1, {"echo": 0.001, "analyze_workload": 1e6}, count=5)
    summary_file = workdir / "summary.md"
    env = child_env(FIXTURE_EXTRA_CALL="1", GITHUB_STEP_SUMMARY=str(summary_file))
    second = run_cli(*args, "--database-url", service_url, cwd=workdir, env=env)
    assert second.returncode == 0, second.stdout

    with History(history_file) as history:
        run = 7  # run 1, five seeded, this one
        now = history.tool_metrics(run)
        assert history.test_calls(run)[f"{SUITE}test_echoes"] == 5
        earlier_echo = history.earlier_p95(run, "echo")
        earlier_workload = history.earlier_p95(run, "analyze_workload")
    assert earlier_echo == [0.001] * 5 + [stored["echo"].p95_ms]
    assert earlier_workload == [1e6] * 5 + [workload[0]]
    assert (now["echo"].calls, now["echo"].errors) == (9, 2)
    assert (now["analyze_workload"].calls, now["analyze_workload"].errors) == (1, 0)
    ratio = now["echo"].p95_ms / statistics.median(earlier_echo)
    flag = f"p95 {ratio:.1f}x its median of the last 6 runs"
    e, w = now["echo"], now["analyze_workload"]
    assert [line.split() for line in section(second.stdout, "tool calls")] == [
        HEADER,
        ["analyze_workload", "1", "0.0%", f"{w.p50_ms:.2f}", f"{w.p95_ms:.2f}"],
        ["echo", "9", "22.2%", f"{e.p50_ms:.2f}", f"{e.p95_ms:.2f}", *flag.split()],
        ["call", "count", "changed", "since", "the", "previous", "run", "of", "the", "test:"],
        ["CALLS", f"{SUITE}test_echoes", "4", "→", "5"],
    ]
    markdown = summary_file.read_text()
    tools = markdown[markdown.index("### Tool calls") :].splitlines()
    assert tools == [
        "### Tool calls",
        "",
        "| tool | calls | errors | p50 ms | p95 ms | regression |",
        "|---|---:|---:|---:|---:|---|",
        f"| `analyze_workload` | 1 | 0.0% | {w.p50_ms:.2f} | {w.p95_ms:.2f} |  |",
        f"| `echo` | 9 | 22.2% | {e.p50_ms:.2f} | {e.p95_ms:.2f} | ⚠️ {flag} |",
        "",
        "Call count changed since the previous run of the test:",
        "",
        f"- `{SUITE}test_echoes` 4 → 5",
    ]


def test_a_suite_without_the_service_prints_and_stores_no_tool_calls(workdir: Path) -> None:
    history_file = workdir / "history.sqlite3"
    result = run_cli("--ci", fixture("outcomes"), "--history", str(history_file), cwd=workdir)
    assert result.returncode == 1, result.stdout
    assert "tool calls" not in result.stdout
    db = sqlite3.connect(history_file)
    counts = [
        db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("tool_metrics", "test_calls")
    ]
    db.close()
    assert counts == [0, 0]


@pytest.mark.database
def test_a_database_without_the_service_tables_is_no_calls_not_a_fault(
    new_database_url: str,
) -> None:
    path = sqlite_file(new_database_url)
    if path is not None:
        sqlite3.connect(path).close()  # the file exists, the tables do not
    assert read_run_calls(new_database_url, ["a" * 32]) == RunCalls()


def test_a_database_that_cannot_be_read_is_a_message_without_the_password() -> None:
    url = "postgresql+asyncpg://tester:s3cret-word@127.0.0.1:1/nowhere"
    calls = read_run_calls(url, ["a" * 32])
    assert calls.rows == ()
    assert calls.error == (
        "cannot read postgresql+asyncpg://tester:***@127.0.0.1:1/nowhere: OperationalError"
    )


def test_a_url_no_reader_supports_is_a_message_like_the_live_tables_give() -> None:
    """The run's calls and the live tables refuse the same URLs with the same words."""
    assert read_run_calls("mysql+aiomysql://me:s3cret@localhost/svc", ["a" * 32]) == RunCalls(
        error="tool calls not read: the dashboard reads a SQLite file or PostgreSQL; "
        "mysql is not supported"
    )
    assert read_run_calls("sqlite+aiosqlite:///:memory:", ["a" * 32]) == RunCalls(
        error="tool calls not read: in-memory SQLite is not supported: "
        "other processes cannot see it"
    )
