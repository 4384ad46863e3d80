"""Helpers for the dashboard tests: real child pytest runs of the suites in tests/fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from mcp_dashboard.events import Event, RunFinish, RunStart, TestPassed, TestStart, TestTrace
from mcp_dashboard.runner import Run, RunConfig
from mcp_dashboard.state import RunState, reduce_all

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def child_env(**extra: str) -> dict[str, str]:
    """The environment minus anything of the outer pytest or CI that would leak into children
    (pytest prints whole failure messages when `CI` or `BUILD_NUMBER` is set: a test that
    wants that sets it here)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "MCP_", "GITHUB_"))
        and k not in ("COV_CORE_SOURCE", "CI", "BUILD_NUMBER")
    }
    env.update(extra)
    return env


E = TypeVar("E", bound=Event)


@dataclass
class Recorded:
    run: Run
    events: list[Event] = field(default_factory=list)

    @property
    def state(self) -> RunState:
        return reduce_all(self.events)

    def of(self, kind: type[E]) -> list[E]:
        """The events of one type, in arrival order."""
        return [e for e in self.events if isinstance(e, kind)]

    def traces(self) -> dict[str, TestTrace]:
        """Each test's trace, from its `test_trace` line, its `test_start` (a test run in
        the process that writes the start) or, under xdist, its `test_pass` line."""
        found = {e.nodeid: e for e in self.of(TestTrace)}
        for s in self.of(TestStart):
            if s.trace_id and s.nodeid not in found:
                found[s.nodeid] = TestTrace(
                    time=s.time, nodeid=s.nodeid, trace_id=s.trace_id, span_id=s.span_of
                )
        for e in self.of(TestPassed):
            if e.trace_id and e.nodeid not in found:
                found[e.nodeid] = TestTrace(
                    time=e.time,
                    nodeid=e.nodeid,
                    trace_id=e.trace_id,
                    span_id=e.span_id,
                    worker=e.worker,
                )
        return found

    @property
    def start(self) -> RunStart:
        first = self.events[0]
        assert isinstance(first, RunStart), first
        return first

    @property
    def finish(self) -> RunFinish:
        last = self.events[-1]
        assert isinstance(last, RunFinish), last
        return last


async def record(
    cwd: Path,
    *pytest_args: str,
    env: dict[str, str] | None = None,
    json_report: Path | None = None,
    junit_xml: Path | None = None,
    workers: int | None = None,
) -> Recorded:
    """Run pytest through the runner and keep every event, in arrival order."""
    config = RunConfig(
        pytest_args=["-p", "no:cacheprovider", *pytest_args],
        cwd=cwd,
        env=env or {},
        json_report=json_report,
        junit_xml=junit_xml,
        workers=workers,
    )
    run = Run(config)
    recorded = Recorded(run)
    async with run:
        async for event in run:
            recorded.events.append(event)
    return recorded


def fixture(*parts: str) -> str:
    return str(FIXTURES.joinpath(*parts))


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, script: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`mcp-dashboard ARGS` as a real child process, output captured (so stdout is no TTY)."""
    command = script or [sys.executable, "-m", "mcp_dashboard.cli"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=env if env is not None else child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
