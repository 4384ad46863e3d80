"""The run history's rules: what counts as flaky, slower, and the last run of the same PATHS."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from mcp_dashboard.events import CollectedTest, Collection, RunFinish, RunStart, TestReport
from mcp_dashboard.history import History, assess_test, paths_key
from mcp_dashboard.state import RunState, reduce_all
from tests.databases import write_locked_elsewhere


def results(*entries: tuple[str, float]) -> list[tuple[int, str, float]]:
    """Newest first, as the history returns them; run ids count down."""
    return [(100 - n, outcome, duration) for n, (outcome, duration) in enumerate(entries)]


def test_flaky_means_passed_and_failed_within_the_window() -> None:
    assert assess_test("t", results(("passed", 0.1), ("failed", 0.1))).flaky
    assert assess_test("t", results(("error", 0.1), ("passed", 0.1))).flaky
    assert not assess_test("t", results(("failed", 0.1), ("failed", 0.1))).flaky
    assert not assess_test("t", results(("passed", 0.1), ("skipped", 0.1))).flaky
    old_failure = results(*[("passed", 0.1)] * 10, ("failed", 0.1))
    assert not assess_test("t", old_failure).flaky  # the 11th result is outside the last 10
    assert assess_test("t", old_failure[1:]).flaky
    assert assess_test("t", old_failure).runs == 10


@pytest.mark.parametrize(
    ("current", "history", "slower", "median"),
    [
        (0.5, [0.2, 0.2, 0.2], True, 0.2),
        (0.4, [0.2, 0.2, 0.2], False, 0.2),  # exactly 2x is not over 2x
        (0.19, [0.01, 0.01, 0.01], False, 0.01),  # not over 0.2 s
        (0.21, [0.01, 0.01, 0.01], True, 0.01),
        (5.0, [0.1, 0.1], False, None),  # fewer than 3 passing runs: no median yet
        (1.0, [0.1, 0.1, 5.0, 0.1], True, 0.1),
    ],
)
def test_slower_is_over_twice_the_median_of_recent_passing_runs(
    current: float, history: list[float], slower: bool, median: float | None
) -> None:
    verdict = assess_test("t", results(("passed", current), *(("passed", d) for d in history)))
    assert (verdict.slower, verdict.median) == (slower, median)


def test_failing_runs_do_not_count_towards_the_median() -> None:
    entries = results(("passed", 1.0), ("failed", 5.0), ("failed", 5.0), ("passed", 0.1))
    assert assess_test("t", entries).median is None


def test_paths_key_normalises_spellings(tmp_path: Path) -> None:
    assert paths_key(["tests/x/", "./tests/y.py::test_a"], tmp_path) == (
        str(tmp_path / "tests" / "x"),
        str(tmp_path / "tests" / "y.py") + "::test_a",
    )


def _state(outcomes: dict[str, str], exit_status: int) -> RunState:
    events: list = [
        RunStart(
            time=1.0,
            pid=1,
            args=(),
            rootdir="/root/dir",
            invocation_dir="/",
            pytest_version="8",
            python_version="3",
        ),
        Collection(
            time=1.0,
            tests=tuple(CollectedTest(nodeid=n, critical_path="p") for n in outcomes),
            total=len(outcomes),
        ),
    ]
    for nodeid, outcome in outcomes.items():
        for when in ("setup", "call", "teardown"):
            category = outcome if when == "call" else "passed"
            raw = {"failed": "failed", "skipped": "skipped"}.get(category, "passed")
            events.append(
                TestReport(
                    time=2.0, nodeid=nodeid, when=when, outcome=raw, category=category, duration=0.1
                )
            )
    events.append(RunFinish(time=3.0, exit_status=exit_status))
    return reduce_all(events)


def test_last_run_and_its_failed_ids(tmp_path: Path) -> None:
    with History(tmp_path / "deep" / "h.sqlite3") as history:
        assert history.last_run(("a",)) is None
        first = history.start_run(("a",), ["a"], 1.0)
        history.finish_run(first, _state({"t::x": "failed", "t::y": "passed", "t::z": "failed"}, 1))
        other = history.start_run(("b",), ["b"], 2.0)
        history.finish_run(other, _state({"t::w": "failed"}, 1))
        unfinished = history.start_run(("a",), ["a"], 3.0)  # never finished: not "the last run"
        last = history.last_run(("a",))
        assert last is not None
        assert (last.id, last.rootdir, last.exit_status, last.status) == (
            first,
            "/root/dir",
            1,
            "failed",
        )
        assert history.failed_ids(first) == ["t::x", "t::z"]
        assert history.results(other) == {"t::w": ("failed", pytest.approx(0.3))}
        assert unfinished > other
        history.finish_run(unfinished, _state({"t::x": "passed"}, 0))
        assert history.recent_durations("t::x") == [pytest.approx(0.3)] * 2
        assert history.recent_durations("t::x", limit=1) == [pytest.approx(0.3)]
        assert history.recent_durations("t::nothing") == []


def test_a_new_history_file_write_locked_by_another_process_is_waited_for(
    tmp_path: Path,
) -> None:
    """Two runs starting together on a new history file: the second waits, not fails."""
    path = tmp_path / "history.db"
    with write_locked_elsewhere(path, 0.5), History(path) as history:
        run_id = history.start_run(["tests"], [], 1.0)
        history.finish_run(run_id, _state({"t::x": "failed"}, 1))
    with History(path) as history:
        assert history.failed_ids(run_id) == ["t::x"]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
