"""The run history's rules: what counts as flaky, slower, and the last run of the same PATHS."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest

from mcp_dashboard.events import CollectedTest, Collection, Event, TestHistory
from mcp_dashboard.history import History, Result, assess_test, paths_key
from mcp_dashboard.launch import Launcher
from mcp_dashboard.options import parse
from mcp_dashboard.state import RunState, reduce_all
from tests.dashboard.builders import finish, phases, start
from tests.databases import write_locked_elsewhere
from tests.toolkit import until_sync


def results(*entries: tuple[str, float], code: str = "") -> list[Result]:
    """Newest first, as the history returns them; run ids count down; all on the same code."""
    return [Result(100 - n, outcome, d, code) for n, (outcome, d) in enumerate(entries)]


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


def test_a_result_on_other_code_does_not_make_a_test_flaky() -> None:
    """Broken on purpose (or fixed): the code changed between the two results."""
    changed = [Result(2, "failed", 0.1, "after-edit"), Result(1, "passed", 0.1, "before-edit")]
    assert not assess_test("t", changed).flaky
    same = [Result(3, "failed", 0.1, "after-edit"), *changed[:1], *changed[1:]]
    assert not assess_test("t", same).flaky  # failed twice on the new code: still broken
    flipped = [Result(4, "passed", 0.1, "after-edit"), *same]
    assert assess_test("t", flipped).flaky  # passed and failed on the same code


def test_a_history_file_from_before_fingerprints_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as old:
        old.executescript(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, paths TEXT NOT NULL, "
            "args TEXT NOT NULL, rootdir TEXT NOT NULL DEFAULT '', started REAL NOT NULL, "
            "ended REAL, exit_status INTEGER, status TEXT);"
            "INSERT INTO runs (paths, args, started, ended) VALUES ('[\"a\"]', '[]', 1, 2);"
        )
    with History(path) as history:
        last = history.last_run(("a",))
        assert last is not None and last.id == 1
        run_id = history.start_run(("a",), [], 3.0, "abc")
        history.finish_run(run_id, _state({"t::x": "passed"}, 0))
        [assessed] = history.assess(run_id)
        assert assessed == TestHistory(nodeid="t::x", runs=1)


def test_failing_runs_do_not_count_towards_the_median() -> None:
    entries = results(("passed", 1.0), ("failed", 5.0), ("failed", 5.0), ("passed", 0.1))
    assert assess_test("t", entries).median is None


def test_paths_key_normalises_spellings(tmp_path: Path) -> None:
    assert paths_key(["tests/x/", "./tests/y.py::test_a"], tmp_path) == (
        str(tmp_path / "tests" / "x"),
        str(tmp_path / "tests" / "y.py") + "::test_a",
    )


def _state(
    outcomes: dict[str, str], exit_status: int, calls: dict[str, float] | None = None
) -> RunState:
    """A finished run of these tests (node id: outcome of the call), 0.1 s per phase, or
    what `calls` says for a test's call."""
    events: list[Event] = [
        start(1.0, rootdir="/root/dir"),
        Collection(
            time=1.0,
            tests=tuple(CollectedTest(nodeid=n, critical_path="p") for n in outcomes),
            total=len(outcomes),
        ),
    ]
    for nodeid, outcome in outcomes.items():
        file, _, name = nodeid.partition("::")
        events += phases(name, outcome, file=file, duration=(calls or {}).get(nodeid, 0.1))
    events.append(finish(exit_status, t=3.0))
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
        [(outcome, duration)] = history.results(other).values()
        assert list(history.results(other)) == ["t::w"]
        assert outcome == "failed"
        assert duration == pytest.approx(0.3)
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


class _WatchedLock:
    """A history's lock that says when a thread waits for it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.waiting = 0

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self.waiting += 1
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class _SlowConnection:
    """The history's connection, with a query that holds until the test lets it go."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real
        self.inside = threading.Event()
        self.go = threading.Event()
        self.order: list[str] = []

    def execute(self, sql: str, params: object = ()) -> sqlite3.Cursor:
        self.inside.set()
        self.go.wait()
        cursor = self.real.execute(sql, params)  # type: ignore[arg-type]  # as sqlite3 takes it
        self.order.append("query done")
        return cursor

    def close(self) -> None:
        self.order.append("closed")
        self.go.set()  # without the lock the close gets here first, and lets the query go
        self.real.close()


def test_closing_the_history_waits_for_a_use_in_another_thread(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite3")
    run_id = history.start_run(("tests",), ["tests"], 1.0)
    slow = _SlowConnection(history._db)
    lock = _WatchedLock()
    history._db, history._lock = slow, lock  # type: ignore[assignment]  # test doubles
    reading = threading.Thread(target=history.earlier_p95, args=(run_id, "echo"))
    reading.start()
    assert slow.inside.wait(60)
    closing = threading.Thread(target=history.close)
    closing.start()
    until_sync(lambda: lock.waiting == 1 or "closed" in slow.order, "close to wait or close")
    slow.go.set()
    reading.join(60)
    closing.join(60)
    # Closed under a running query, the process crashed (the app's exit met a worker).
    assert slow.order == ["query done", "closed"]


def test_a_runs_verdicts_are_the_ones_its_history_file_gives(tmp_path: Path) -> None:
    """The launcher judges a run from its tests' earlier results, read while it ran (the
    tests of the last run of the same PATHS) and, for any other test, at its end: the
    verdicts are those the file gives once the run is written."""
    project = tmp_path / "project"
    project.mkdir()
    history = ["--history", str(tmp_path / "history.sqlite3")]
    slow = {"t::x": 0.5}
    runs = [  # (PATHS, the run's outcomes, its calls' durations other than 0.1 s)
        ("a", {"t::x": "passed", "t::y": "failed"}, {}),
        ("b", {"t::x": "passed", "t::z": "failed"}, {}),  # t::z: never in a run of "a"
        ("a", {"t::x": "passed", "t::y": "passed"}, {}),
        ("a", {"t::x": "passed", "t::y": "failed", "t::z": "passed", "t::new": "passed"}, slow),
    ]
    verdicts: dict[str, TestHistory | None] = {}
    with contextlib.ExitStack() as stack:
        launchers = {
            paths: stack.enter_context(Launcher(parse([paths, *history]), cwd=project))
            for paths in ("a", "b")
        }
        for paths, outcomes, calls in runs:
            launcher = launchers[paths]
            run_id = launcher.begin(launcher.config(launcher.initial_targets()))
            finished = launcher.finish(run_id, _state(outcomes, 1, calls))
            verdicts = {nodeid: test.history for nodeid, test in finished.tests.items()}
            from_file: dict[str, TestHistory | None] = {
                verdict.nodeid: verdict for verdict in launcher.history.assess(run_id)
            }
            assert verdicts == from_file
    said = {n: (v.flaky, v.slower, v.runs) for n, v in verdicts.items() if v is not None}
    assert said == {
        "t::x": (False, True, 4),  # 0.7 s over twice its median, 0.3 s
        "t::y": (True, False, 3),
        "t::z": (True, False, 2),  # its run of "b" counted
        "t::new": (False, False, 1),
    }
    assert verdicts["t::x"] is not None and verdicts["t::x"].median == pytest.approx(0.3)
