"""Event builders shared by the dashboard tests: a test names what differs, the rest is default.

Node ids are `tests/test_f.py::<name>` unless a test passes its own `file`.
"""

from __future__ import annotations

from mcp_dashboard.events import (
    CollectedTest,
    Collection,
    CollectReport,
    Crash,
    Outcome,
    RunFinish,
    RunStart,
    Step,
    TestReport,
    TestStart,
    TestTrace,
)

F = "tests/test_f.py"
# A phase's raw pytest outcome for each category pytest reports.
RAW_OUTCOME: dict[str, Outcome] = {
    "passed": "passed",
    "failed": "failed",
    "error": "failed",
    "skipped": "skipped",
    "xfailed": "skipped",
    "xpassed": "passed",
}


def nodeid(name: str, file: str = F) -> str:
    return f"{file}::{name}"


def start(
    t: float = 0.0,
    *,
    rootdir: str = "/r",
    args: tuple[str, ...] = ("tests",),
    pid: int = 1,
    workers: int = 0,
) -> RunStart:
    return RunStart(
        time=t,
        pid=pid,
        args=args,
        rootdir=rootdir,
        invocation_dir=rootdir,
        pytest_version="8.4.2",
        python_version="3.11.7",
        workers=workers,
    )


def collected(
    *tests: tuple[str, str],
    part: int = 1,
    parts: int = 1,
    total: int | None = None,
    file: str = F,
    deselected: int = 0,
) -> Collection:
    """The collection of tests given as (name, critical path); a path equal to the file
    means "no marker: grouped by its module"."""
    return Collection(
        time=0.1,
        tests=tuple(
            CollectedTest(
                nodeid=nodeid(name, file), critical_path=path, name=name, file=file, line=1
            )
            for name, path in tests
        ),
        total=len(tests) if total is None else total,
        part=part,
        parts=parts,
        deselected=deselected,
    )


def collect_report(
    path: str, outcome: Outcome = "failed", *, longrepr: str = "", t: float = 0.5
) -> CollectReport:
    """A file (`path`, its node id) that failed, or was skipped, while collecting."""
    return CollectReport(time=t, nodeid=path, outcome=outcome, longrepr=longrepr)


def began(name: str, t: float = 1.0, *, file: str = F) -> TestStart:
    return TestStart(time=t, nodeid=nodeid(name, file), file=file, line=1)


def traced(
    name: str,
    t: float = 1.0,
    *,
    trace_id: str = "a" * 32,
    span_id: str = "b" * 16,
    worker: str | None = None,
    file: str = F,
) -> TestTrace:
    """The trace test `name` runs in, as its process reports it when it starts."""
    return TestTrace(
        time=t, nodeid=nodeid(name, file), trace_id=trace_id, span_id=span_id, worker=worker
    )


def step(name: str, index: int, message: str | None = None, t: float = 1.5) -> Step:
    return Step(time=t, nodeid=nodeid(name), index=index, message=message or f"✓ step {index}")


def report(
    name: str,
    when: str,
    category: str = "passed",
    outcome: Outcome | None = None,
    duration: float = 0.1,
    t: float = 2.0,
    *,
    file: str = F,
    longrepr: str = "",
    crash: Crash | None = None,
    reason: str = "",
    stdout: str = "",
) -> TestReport:
    return TestReport(
        time=t,
        nodeid=nodeid(name, file),
        when=when,
        outcome=RAW_OUTCOME.get(category, "passed") if outcome is None else outcome,
        category=category,
        duration=duration,
        longrepr=longrepr,
        crash=crash,
        reason=reason,
        stdout=stdout,
    )


def phases(
    name: str,
    call: str | None = "passed",
    setup: str = "passed",
    teardown: str = "passed",
    *,
    file: str = F,
    duration: float = 0.1,
    longrepr: str = "",
    crash: Crash | None = None,
    reason: str = "",
    stdout: str = "",
) -> list[TestReport]:
    """setup, call (None: no call, as when setup fails or skips) and teardown reports."""
    events = [report(name, "setup", setup, file=file)]
    if call is not None:
        events.append(
            report(
                name,
                "call",
                call,
                file=file,
                duration=duration,
                longrepr=longrepr,
                crash=crash,
                reason=reason,
                stdout=stdout,
            )
        )
    events.append(report(name, "teardown", teardown, file=file))
    return events


def finish(
    status: int | None = 1,
    *,
    t: float = 10.0,
    totals: dict[str, int] | None = None,
    aborted: bool = False,
    reason: str = "",
    source: str = "plugin",
    output: str = "",
) -> RunFinish:
    return RunFinish(
        time=t,
        exit_status=status,
        totals=totals or {},
        aborted=aborted,
        reason=reason,
        source="runner" if source == "runner" else "plugin",
        output=output,
    )
