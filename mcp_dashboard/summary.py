"""What a run came to, in words: shared by the header, `--ci` and the GitHub summary.

pytest's own closing words ("1 failed, 3 passed in 0.12s") and a one-word
verdict that says what happened ("USAGE ERROR", not "FAILED", when pytest
refused its arguments). Pure: a `RunState` in, text out.
"""

from __future__ import annotations

import re

from mcp_dashboard.state import CollectProblem, RunState
from mcp_dashboard.status import RunStatus

_FILE_LINE = re.compile(r'File "([^"]+)", line (\d+)')
_FRAME = re.compile(r"^(\S+\.py):(\d+): in ")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def pytest_complaint(output: str) -> str:
    """pytest's words on a usage error from its first `ERROR` line on: a missing path is
    reported after pytest's session header, which says nothing about it."""
    lines = output.rstrip().splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("ERROR")), 0)
    return "\n".join(lines[first:])


def elapsed(state: RunState, now: float | None = None) -> float:
    """Seconds since the run started; a finished run's length never changes."""
    if state.started_at is None:
        return 0.0
    end = state.finished_at if state.finished_at is not None else now
    return 0.0 if end is None else max(0.0, end - state.started_at)


def seconds(value: float) -> str:
    """pytest's way: `0.12s`, `12.34s`, `75.10s (0:01:15)`."""
    text = f"{value:.2f}s"
    if value >= 60:
        minutes, rest = divmod(int(value), 60)
        hours, minutes = divmod(minutes, 60)
        text += f" ({hours}:{minutes:02d}:{rest:02d})"
    return text


def outcome_counts(state: RunState) -> list[str]:
    """`["1 failed", "3 passed", "1 skipped", "1 warning", "2 errors"]`: pytest's words, in
    pytest's order (failed, passed, skipped, deselected, xfailed, xpassed, warnings, errors)."""
    c = state.counts
    errors = c.error + len(state.collection_errors)
    parts = [
        f"{c.failed} failed" if c.failed else "",
        f"{c.passed} passed" if c.passed else "",
        f"{c.skipped} skipped" if c.skipped else "",
        f"{state.deselected} deselected" if state.deselected else "",
        f"{c.xfailed} xfailed" if c.xfailed else "",
        f"{c.xpassed} xpassed" if c.xpassed else "",
        plural(state.warning_count, "warning") if state.warning_count else "",
        plural(errors, "error") if errors else "",
        f"{c.interrupted} interrupted" if c.interrupted else "",
    ]
    return [part for part in parts if part]


def closing_line(state: RunState) -> str:
    """pytest's closing words, from the state: '3 passed, 1 failed, 2 skipped in 1.20s'."""
    parts = outcome_counts(state) or ["no tests ran"]
    return f"{', '.join(parts)} in {seconds(elapsed(state))}"


def verdict(state: RunState) -> str:
    """One word (or two) for the header: what happened, in pytest's terms."""
    if state.status == RunStatus.PENDING:
        return "STARTING"
    if state.status == RunStatus.RUNNING:
        return "RUNNING" if state.collection_complete or state.tests else "COLLECTING"
    if state.status in (RunStatus.ABORTED, RunStatus.CANCELLED, RunStatus.PASSED):
        return state.status.upper()
    return {
        2: "ERROR" if state.collection_errors else "INTERRUPTED",
        3: "INTERNAL ERROR",
        4: "USAGE ERROR",
        5: "NO TESTS",
    }.get(state.exit_status or 1, "FAILED")


def what_happened(state: RunState) -> str:
    """The words after the verdict once the run is over."""
    if state.exit_status == 2 and state.collection_errors:
        where = ", ".join(p.nodeid for p in state.collection_errors[:3])
        more = len(state.collection_errors) - 3
        errors = plural(len(state.collection_errors), "error")
        return f"{errors} during collection: {where}" + (f" and {more} more" if more > 0 else "")
    if state.exit_status == 4 or (state.started_at is None and state.exit_status):
        return state.reason.removeprefix("pytest usage error: ")
    if state.exit_status == 5:
        deselected = f" ({state.deselected} deselected)" if state.deselected else ""
        return f"no tests collected{deselected}"
    if state.status == RunStatus.ABORTED:
        return f"{state.reason}: {closing_line(state)}"
    return closing_line(state)


def collection_headline(problem: CollectProblem) -> str:
    """Where and why a file failed to collect, from pytest's text: `test_x.py:5: SyntaxError:
    '(' was never closed`. pytest puts both at the end of a traceback through its own
    importer, which is where a person's eye does not go first."""
    lines = problem.longrepr.splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    message = errors[-1] if errors else (lines[-1].strip() if lines else "")
    where = problem.nodeid
    for line in reversed(errors):
        found = _FILE_LINE.search(line)
        if found:
            return f"{where}:{found.group(2)}: {message}"
    frames = [m for line in lines if (m := _FRAME.match(line))]
    ours = [m for m in frames if m.group(1).endswith(problem.nodeid.rsplit("/", 1)[-1])]
    if ours:
        return f"{ours[-1].group(1)}:{ours[-1].group(2)}: {message}"
    return f"{where}: {message}"
