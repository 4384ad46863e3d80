"""Run history in a SQLite file: every run and every test result.

It answers two questions: which node ids failed in the last run of the same
PATHS, or were running when it died (`--rerun-failed` runs exactly those), and
what is unusual about a test now — flaky (it both passed and failed, within its
last 10 results, on the same code: see fingerprint.py; a test someone broke on
purpose, or fixed, is not flaky) or slower (this run's duration over 2x the
median of its recent passing runs, and over 0.2 s). It also keeps each run's tool-call
metrics (tool_metrics.py): per tool its calls, errors, p50 and p95, and per test how
many calls it made, so the next run can say which tool got slower and which test
changed what it does.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Concatenate, NamedTuple, ParamSpec, TypeVar

from mcp_dashboard.events import TestHistory
from mcp_dashboard.state import RunState
from mcp_dashboard.status import NEEDS_RERUN, TestStatus, is_failed
from mcp_dashboard.tool_metrics import WINDOW as TOOL_WINDOW
from mcp_dashboard.tool_metrics import ToolStats
from mcp_service.sqlite_busy import enter_wal

P = ParamSpec("P")
T = TypeVar("T")

WINDOW = 10
SLOWER_FACTOR = 2.0
SLOWER_FLOOR = 0.2  # seconds
MIN_SAMPLES = 3  # passing runs needed before a median means anything
# What `--rerun-failed` reruns is `status.NEEDS_RERUN`: the failures, and a test the run
# died during (pytest SIGKILLed, a cancel): it never passed, and it is the first suspect.
_RERUN = tuple(sorted(NEEDS_RERUN))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    paths TEXT NOT NULL,
    args TEXT NOT NULL,
    rootdir TEXT NOT NULL DEFAULT '',
    started REAL NOT NULL,
    ended REAL,
    exit_status INTEGER,
    status TEXT,
    fingerprint TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_by_paths ON runs (paths, id);
CREATE TABLE IF NOT EXISTS results (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    nodeid TEXT NOT NULL,
    critical_path TEXT NOT NULL,
    file TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration REAL NOT NULL,
    PRIMARY KEY (run_id, nodeid)
);
CREATE INDEX IF NOT EXISTS results_by_test ON results (nodeid, run_id);
CREATE TABLE IF NOT EXISTS tool_metrics (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    tool TEXT NOT NULL,
    calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    p50_ms REAL NOT NULL,
    p95_ms REAL NOT NULL,
    PRIMARY KEY (run_id, tool)
);
CREATE INDEX IF NOT EXISTS tool_metrics_by_tool ON tool_metrics (tool, run_id);
CREATE TABLE IF NOT EXISTS test_calls (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    nodeid TEXT NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (run_id, nodeid)
);
CREATE INDEX IF NOT EXISTS test_calls_by_test ON test_calls (nodeid, run_id);
"""


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    paths: tuple[str, ...]
    args: tuple[str, ...]
    rootdir: str
    started: float
    ended: float | None
    exit_status: int | None
    status: str | None


def paths_key(paths: Sequence[str], cwd: Path | None = None) -> tuple[str, ...]:
    """PATHS made comparable across spellings: absolute, normalised, node-id suffix kept."""
    base = cwd or Path.cwd()
    key = []
    for path in paths:
        file, sep, rest = path.partition("::")
        key.append(os.path.normpath(base / file) + sep + rest)
    return tuple(key)


Method = Callable[Concatenate["History", P], T]


def _serialized(method: Method[P, T]) -> Method[P, T]:
    """The method holds the history's lock: one use of the connection at a time."""

    def run(history: History, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with history._lock:
            return method(history, *args, **kwargs)

    return run


class History:
    """One history file. Safe to share between processes (WAL, busy timeout)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Used from the UI thread and from worker threads (the app writes a run's results
        # off the event loop): one use at a time, and close() waits for it (_serialized).
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        enter_wal(self._db, 30_000)
        self._db.execute("PRAGMA foreign_keys=ON")
        # Up to 64 MiB of pages (2 MiB by default): a run's results go into two indexes
        # by node id, whose pages a 20,000-test history no longer kept in the cache.
        self._db.execute("PRAGMA cache_size=-65536")
        self._db.executescript(_SCHEMA)
        self._upgrade()

    def _upgrade(self) -> None:
        """A history file from before `runs.fingerprint`: add the column (old runs: '')."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        if "fingerprint" not in columns:
            with self._transaction():
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
                if "fingerprint" not in columns:  # another process may have added it meanwhile
                    self._db.execute(
                        "ALTER TABLE runs ADD COLUMN fingerprint TEXT NOT NULL DEFAULT ''"
                    )

    def close(self) -> None:
        """Close the file; a use still running in another thread finishes first (closing
        under it crashed the process: the app's exit met a worker recording tool calls)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @_serialized
    def start_run(
        self, paths: Sequence[str], args: Sequence[str], started: float, fingerprint: str = ""
    ) -> int:
        """`fingerprint`: the code the run tests (fingerprint.py); '' when unknown."""
        cursor = self._db.execute(
            "INSERT INTO runs (paths, args, started, fingerprint) VALUES (?, ?, ?, ?)",
            (json.dumps(list(paths)), json.dumps(list(args)), started, fingerprint),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    @_serialized
    def finish_run(self, run_id: int, state: RunState, ended: float | None = None) -> None:
        """Record the run's end and every test that ran (tests never started are left out)."""
        # One JSON text of every row, inserted by one statement: SQLite reads it without
        # Python's lock, so the run's verdicts are made meanwhile (`Launcher.finish`).
        rows = json.dumps(
            [
                (t.nodeid, t.critical_path, t.file, t.status, t.duration)
                for t in state.tests_in_order()
                if t.finished
            ]
        )
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO results SELECT ?, json_extract(value, '$[0]'), "
                "json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
                "json_extract(value, '$[3]'), json_extract(value, '$[4]') FROM json_each(?)",
                (run_id, rows),
            )
            self._db.execute(
                "UPDATE runs SET ended = ?, exit_status = ?, status = ?, rootdir = ? WHERE id = ?",
                (
                    ended or time.time(),
                    state.exit_status,
                    state.status,
                    state.rootdir,
                    run_id,
                ),
            )

    @_serialized
    def last_run(self, paths: Sequence[str], before: int | None = None) -> RunRecord | None:
        """The latest finished run of exactly these PATHS."""
        row = self._db.execute(
            "SELECT id, paths, args, rootdir, started, ended, exit_status, status FROM runs "
            "WHERE paths = ? AND ended IS NOT NULL AND id < ? ORDER BY id DESC LIMIT 1",
            (json.dumps(list(paths)), before if before is not None else 2**62),
        ).fetchone()
        if row is None:
            return None
        run_id, paths_json, args_json, rootdir, started, ended, exit_status, status = row
        return RunRecord(
            run_id,
            tuple(json.loads(paths_json)),
            tuple(json.loads(args_json)),
            rootdir,
            started,
            ended,
            exit_status,
            status,
        )

    @_serialized
    def failed_ids(self, run_id: int) -> list[str]:
        """The tests of a run that `status.needs_rerun`, in the order they ran."""
        marks = ", ".join("?" * len(_RERUN))
        rows = self._db.execute(
            f"SELECT nodeid FROM results WHERE run_id = ? AND outcome IN ({marks}) "  # noqa: S608
            "ORDER BY rowid",
            (run_id, *_RERUN),
        )
        return [nodeid for (nodeid,) in rows]

    @_serialized
    def results(self, run_id: int) -> dict[str, tuple[str, float]]:
        rows = self._db.execute(
            "SELECT nodeid, outcome, duration FROM results WHERE run_id = ?", (run_id,)
        )
        return {nodeid: (outcome, duration) for nodeid, outcome, duration in rows}

    @_serialized
    def recent_durations(self, nodeid: str, limit: int = WINDOW) -> list[float]:
        """The test's durations in its last `limit` recorded runs, newest first."""
        rows = self._db.execute(
            "SELECT duration FROM results WHERE nodeid = ? ORDER BY run_id DESC LIMIT ?",
            (nodeid, limit),
        )
        return [duration for (duration,) in rows]

    @_serialized
    def fingerprint(self, run_id: int) -> str:
        row = self._db.execute("SELECT fingerprint FROM runs WHERE id = ?", (run_id,)).fetchone()
        return "" if row is None else str(row[0])

    def earlier_results(
        self, run_id: int, nodeids: Sequence[str] | None = None, window: int = WINDOW
    ) -> dict[str, list[Result]]:
        """Each test's last `window` results before run `run_id`, newest first: of the tests
        `nodeids` names, or (None) of the tests of the last finished run of the same PATHS.

        On a connection of its own (WAL: it reads while the history writes), so a run's
        history is read while the run goes on, and its results written meanwhile.
        """
        if nodeids is None:
            tests = (
                "SELECT nodeid FROM results WHERE run_id = (SELECT id FROM runs WHERE "
                "paths = (SELECT paths FROM runs WHERE id = :run) AND ended IS NOT NULL "
                "AND id < :run ORDER BY id DESC LIMIT 1)"
            )
        else:
            tests = "SELECT value FROM json_each(:tests)"
        query = f"""
            SELECT nodeid, run_id, outcome, duration, fingerprint FROM (
                SELECT r.nodeid, r.run_id, r.outcome, r.duration, runs.fingerprint,
                       ROW_NUMBER() OVER (PARTITION BY r.nodeid ORDER BY r.run_id DESC) AS n
                FROM results r JOIN runs ON runs.id = r.run_id
                WHERE r.nodeid IN ({tests}) AND r.run_id < :run
            ) WHERE n <= :window ORDER BY nodeid, run_id DESC
            """  # noqa: S608 (one of two fixed texts)
        parameters = {"run": run_id, "window": window, "tests": json.dumps(list(nodeids or ()))}
        by_test: dict[str, list[Result]] = defaultdict(list)
        with contextlib.closing(sqlite3.connect(self.path, timeout=30.0)) as db:
            for nodeid, rid, outcome, duration, fingerprint in db.execute(query, parameters):
                by_test[nodeid].append(Result(rid, outcome, duration, fingerprint))
        return dict(by_test)

    @_serialized
    def assess(self, run_id: int, window: int = WINDOW) -> list[TestHistory]:
        """Flaky and slower flags for each test of run `run_id`, from its recent results,
        all read from the file (`Launcher.finish` assesses from what it read during the
        run, the same verdicts: a test holds it to this)."""
        rows = self._db.execute(
            """
            SELECT nodeid, run_id, outcome, duration, fingerprint FROM (
                SELECT r.nodeid, r.run_id, r.outcome, r.duration, runs.fingerprint,
                       ROW_NUMBER() OVER (PARTITION BY r.nodeid ORDER BY r.run_id DESC) AS n
                FROM results r JOIN runs ON runs.id = r.run_id
                WHERE r.nodeid IN (SELECT nodeid FROM results WHERE run_id = ?) AND r.run_id <= ?
            ) WHERE n <= ? ORDER BY nodeid, run_id DESC
            """,
            (run_id, run_id, window + 1),
        )
        by_test: dict[str, list[Result]] = defaultdict(list)
        for nodeid, rid, outcome, duration, fingerprint in rows:
            by_test[nodeid].append(Result(rid, outcome, duration, fingerprint))
        return [assess_test(nodeid, results, window) for nodeid, results in by_test.items()]

    @_serialized
    def record_calls(
        self, run_id: int, tools: Sequence[ToolStats], tests: Mapping[str, int]
    ) -> None:
        """A run's tool metrics, and the calls each test made (`tests`: node id → calls)."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO tool_metrics VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, t.tool, t.calls, t.errors, t.p50_ms, t.p95_ms) for t in tools],
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO test_calls VALUES (?, ?, ?)",
                [(run_id, nodeid, calls) for nodeid, calls in tests.items()],
            )

    @_serialized
    def tool_metrics(self, run_id: int) -> dict[str, ToolStats]:
        rows = self._db.execute(
            "SELECT tool, calls, errors, p50_ms, p95_ms FROM tool_metrics WHERE run_id = ? "
            "ORDER BY tool",
            (run_id,),
        )
        return {tool: ToolStats(tool, *rest) for tool, *rest in rows}

    @_serialized
    def test_calls(self, run_id: int) -> dict[str, int]:
        rows = self._db.execute("SELECT nodeid, calls FROM test_calls WHERE run_id = ?", (run_id,))
        return dict(rows.fetchall())

    @_serialized
    def earlier_p95(self, run_id: int, tool: str, limit: int = TOOL_WINDOW) -> list[float]:
        """The tool's p95 in the last `limit` runs before `run_id` of the same PATHS that
        called it, newest first."""
        rows = self._db.execute(
            "SELECT m.p95_ms FROM tool_metrics m JOIN runs r ON r.id = m.run_id "
            "WHERE m.tool = ? AND m.run_id < ? "
            "AND r.paths = (SELECT paths FROM runs WHERE id = ?) "
            "ORDER BY m.run_id DESC LIMIT ?",
            (tool, run_id, run_id, limit),
        )
        return [p95 for (p95,) in rows]

    @_serialized
    def previous_calls(self, run_id: int) -> dict[str, int | None]:
        """For each test counted in `run_id`: its count in the latest earlier run that
        counted it (any PATHS: a node id names one test), or None."""
        rows = self._db.execute(
            """
            SELECT cur.nodeid, (
                SELECT prev.calls FROM test_calls prev
                WHERE prev.nodeid = cur.nodeid AND prev.run_id < cur.run_id
                ORDER BY prev.run_id DESC LIMIT 1
            ) FROM test_calls cur WHERE cur.run_id = ?
            """,
            (run_id,),
        )
        return dict(rows.fetchall())

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE: take the write lock up front; roll back on any error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


class Result(NamedTuple):
    """One recorded result of a test, with the fingerprint of the code its run tested."""

    run_id: int
    outcome: str
    duration: float
    fingerprint: str = ""


def assess_test(nodeid: str, results: Sequence[Result], window: int = WINDOW) -> TestHistory:
    """`results` newest first, the current run's result first.

    Flaky: both passed and failed within the window on the same code as this run (the
    same fingerprint), so a test broken on purpose, or fixed, is not called flaky."""
    recent = results[:window]
    code = results[0].fingerprint
    outcomes = {r.outcome for r in recent if r.fingerprint == code}
    flaky = TestStatus.PASSED in outcomes and any(is_failed(o) for o in outcomes)
    current = results[0].duration
    passing = [r.duration for r in results[1 : window + 1] if r.outcome == TestStatus.PASSED]
    median = statistics.median(passing) if len(passing) >= MIN_SAMPLES else None
    slower = median is not None and current > SLOWER_FACTOR * median and current > SLOWER_FLOOR
    return TestHistory(nodeid=nodeid, flaky=flaky, slower=slower, median=median, runs=len(recent))
