"""The pytest child SIGKILLed from outside, mid-test: in the runner, in `--ci` and in the app.

Why: the fixture suites that kill themselves (tests/dashboard) prove the stream
ends; a kill from outside (the OOM killer, a CI timeout) also has to leave
nothing running, no stale report claiming an earlier run's results, partial
results in the state and the history, a non-zero exit, and a rerun that
reruns the test the run died in.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.events import Event, RunFinish, Step, TestPassed, TestReport
from mcp_dashboard.runner import Run, RunConfig
from mcp_dashboard.state import reduce_all
from tests.dashboard.helpers import child_env
from tests.dashboard.pilot import header, launcher
from tests.faults.suites import BLOCKING, write_suite
from tests.toolkit import until

RUNNING = re.compile(r"✓ running pid=(\d+) ppid=(\d+)")
FILE = "test_blocking.py::"
PASSES, HANGS, AFTER = "test_passes_first", "test_hangs_while_blocked", "test_after_the_hang"


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """The blocking suite, blocked: its hanging test hangs until `block` is removed."""
    path = write_suite(tmp_path / "suite", "blocking", BLOCKING)
    (path / "block").touch()
    return path


def exits_within(pid: int, timeout: float) -> bool:
    """Whether a process (not necessarily our child) is gone within `timeout`; awaits its pidfd."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def running_pids(messages: list[str]) -> list[tuple[int, int]]:
    return [(int(m[1]), int(m[2])) for text in messages if (m := RUNNING.search(text))]


async def test_runner_kills_the_orphaned_xdist_workers_of_a_killed_controller(
    suite: Path,
) -> None:
    config = RunConfig(pytest_args=[str(suite)], cwd=suite, workers=2, env={"FAULT_HANGING": "2"})
    events: list[Event] = []
    killed = False
    async with Run(config) as run:
        async for event in run:
            events.append(event)
            steps = [e.message for e in events if isinstance(e, Step)]
            first_done = any(
                isinstance(e, TestPassed | TestReport)
                and e.nodeid.endswith(PASSES)
                and getattr(e, "when", "teardown") == "teardown"
                for e in events
            )
            # Both workers hang in a test, and the controller has reported the first test
            # (workers write their steps directly, so those can arrive before that report).
            if first_done and len(running_pids(steps)) == 2 and not killed:
                assert run.pid is not None
                os.kill(run.pid, signal.SIGKILL)  # the controller only, as the OOM killer would
                killed = True
    workers = running_pids([e.message for e in events if isinstance(e, Step)])
    assert {ppid for _, ppid in workers} == {run.pid}  # both hung in a worker of that pytest
    for pid, _ in workers:
        # Killed before the stream ended: 1 s is for the kernel to deliver the SIGKILL. Left
        # alone, an orphaned worker runs on for seconds (execnet notices its dead controller
        # ~5 s later), still executing its test against the database.
        assert exits_within(pid, 1.0), f"xdist worker {pid} outlived its killed controller"
    finish = events[-1]
    assert isinstance(finish, RunFinish)
    assert (finish.aborted, finish.reason) == (True, "pytest was killed by SIGKILL")
    state = reduce_all(events)
    assert state.status == "aborted"
    statuses = {t.name: t.status for t in state.tests_in_order()}
    assert statuses == {
        PASSES: "passed",
        f"{HANGS}[0]": "interrupted",
        f"{HANGS}[1]": "interrupted",
        AFTER: "pending",
    }


@contextmanager
def dashboard_ci(suite: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`mcp-dashboard --ci -v --steps ARGS` with its stdout readable line by line as it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_dashboard.cli", "--ci", "-v", "--steps", str(suite), *args],
        cwd=suite,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)


def test_ci_run_killed_mid_test_keeps_partial_results_and_reruns_it(
    suite: Path, tmp_path: Path
) -> None:
    history = tmp_path / "history.sqlite3"
    reports = ["--json-report", "r.json", "--junit-xml", "j.xml", "--history", str(history)]
    # What an earlier run left: it must not pass for this run's results.
    (suite / "r.json").write_text('{"summary": {"passed": 3, "total": 3}}')
    (suite / "j.xml").write_text('<testsuites><testsuite tests="3"/></testsuites>')

    with dashboard_ci(suite, *reports) as ci:
        assert ci.stdout is not None
        lines = []
        for line in ci.stdout:
            lines.append(line)
            if found := running_pids([line]):
                [(pytest_pid, _)] = found
                os.kill(pytest_pid, signal.SIGKILL)
                break
        out = "".join(lines) + ci.stdout.read()
        assert ci.wait(timeout=60) == 3
    assert f"PASSED      [faults] {FILE}{PASSES}" in out
    assert f"INTERRUPTED [faults] {FILE}{HANGS}[0]" in out
    assert f"INTERRUPTED {FILE}{HANGS}[0] - the run ended during it" in out
    assert "run aborted: pytest was killed by SIGKILL" in out
    assert not (suite / "r.json").exists() and not (suite / "j.xml").exists()

    with sqlite3.connect(history) as db:
        runs = db.execute("SELECT id, status, exit_status FROM runs").fetchall()
        results = db.execute("SELECT nodeid, outcome FROM results ORDER BY rowid").fetchall()
    assert runs == [(1, "aborted", None)]
    assert results == [(f"{FILE}{PASSES}", "passed"), (f"{FILE}{HANGS}[0]", "interrupted")]

    (suite / "block").unlink()
    with dashboard_ci(suite, "--rerun-failed", *reports) as rerun:
        out, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, out
    assert out.startswith("rerunning the 1 failed tests of run 1 (")
    assert f"PASSED      [faults] {FILE}{HANGS}[0]" in out
    report = json.loads((suite / "r.json").read_text())
    assert [(t["nodeid"], t["outcome"]) for t in report["tests"]] == [
        (f"{FILE}{HANGS}[0]", "passed")
    ]


async def test_app_run_killed_mid_test_shows_aborted_and_f_reruns_it(
    suite: Path, tmp_path: Path
) -> None:
    with launcher(tmp_path, str(suite), cwd=suite, env=child_env()) as chosen:
        app = DashboardApp(chosen)
        async with app.run_test(size=(160, 48)) as pilot:

            def hung() -> bool:
                test = app.state.tests.get(f"{FILE}{HANGS}[0]")
                return test is not None and bool(running_pids([s.message for s in test.steps]))

            await until(hung, "the test to hang", pilot=pilot)
            assert app.run_handle is not None and app.run_handle.pid is not None
            os.kill(app.run_handle.pid, signal.SIGKILL)
            await until(lambda: app.runs_finished == 1 and not app.running, "the run", pilot=pilot)
            app.draw()
            await pilot.pause()
            assert app.state.status == "aborted"
            assert header(app).startswith("ABORTED pytest was killed by SIGKILL: 1 passed")
            assert {t.name: t.status for t in app.state.tests_in_order()} == {
                PASSES: "passed",
                f"{HANGS}[0]": "interrupted",
                AFTER: "pending",
            }

            (suite / "block").unlink()
            await pilot.press("f")
            await until(
                lambda: app.runs_finished == 2 and not app.running, "the rerun", pilot=pilot
            )
            assert app.state.status == "passed"
            assert [t.nodeid for t in app.state.tests_in_order()] == [f"{FILE}{HANGS}[0]"]
