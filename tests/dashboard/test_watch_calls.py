"""`mcp-dashboard --watch --ci` prints each run's tool calls as `--ci` does, when its tests
made any: the fixture suite tests/fixtures/tool_calls calls the real service, a fresh
SQLite file per run, its rows stamped with each test's trace."""

from __future__ import annotations

import shutil
from pathlib import Path

from mcp_dashboard.history import History
from tests.dashboard.helpers import fixture
from tests.dashboard.test_tool_metrics import HEADER, section
from tests.dashboard.watch_child import WatchChild

PLAIN = "def test_plain():\n    assert True\n"


def per_run(output: str) -> list[str]:
    """The output of each run, from its `watch: run N:` line to the next."""
    return ["watch: run " + part for part in output.split("watch: run ")[1:]]


def table(run_output: str) -> list[list[str]]:
    """The run's tool-call table (its summary ends with pytest's closing line)."""
    summary = run_output.split("watch: waiting for changes")[0]
    return [line.split() for line in section(summary, "tool calls")]


def test_each_run_with_tool_calls_prints_them_and_only_a_whole_run_is_compared(
    tmp_path: Path,
) -> None:
    root = tmp_path / "project"
    (root / "suite").mkdir(parents=True)
    shutil.copy(fixture("pytest.ini"), root / "pytest.ini")
    source = Path(fixture("tool_calls", "test_tool_calls.py"))
    (root / "suite" / "test_tool_calls.py").write_text(source.read_text())
    (root / "suite" / "test_plain.py").write_text(PLAIN)
    with WatchChild(root, tmp_path) as watch:
        watch.after_run(1)
        [first] = per_run(watch.output())
        echo, workload = table(first)[2], table(first)[1]
        assert table(first) == [
            HEADER,
            ["analyze_workload", "1", "0.0%", *workload[3:]],
            ["echo", "8", "25.0%", *echo[3:]],
        ]
        # A rerun of the suite's file: its calls again, never flagged against the runs
        # of every test (none here yet, and none it would be measured against).
        watch.save("suite/test_tool_calls.py", source.read_text() + "# saved\n")
        watch.after_run(2)
        second = per_run(watch.output())[1]
        assert second.startswith("watch: run 2: suite/test_tool_calls.py changed\n")
        rows = table(second)
        assert [row[:3] for row in rows] == [
            HEADER[:3],
            ["analyze_workload", "1", "0.0%"],
            ["echo", "8", "25.0%"],
        ]
        assert all(len(row) == 5 for row in rows[1:])  # p50 and p95, no flag after them
        # A run whose tests made no call has no tool-call section at all.
        watch.save("suite/test_plain.py", PLAIN + "# saved\n")
        watch.after_run(3)
        third = per_run(watch.output())[2]
        assert third.startswith("watch: run 3: suite/test_plain.py changed\n")
        assert "tool calls" not in third
        assert "1 passed in " in third
    with History(root / ".mcp-dashboard" / "history.sqlite3") as history:
        # The run of everything is in the history; the reruns of a few tests are not.
        assert sorted(history.tool_metrics(1)) == ["analyze_workload", "echo"]
        assert history.tool_metrics(2) == {}
        assert history.test_calls(2) == {}
