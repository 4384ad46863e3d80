"""The `--ci` front end: plain text drawn from `RunState` alone.

While the run goes: one line per finished test, labelled by its critical path
(and, with `verbose`, each step line as it arrives). At the end: a table per
critical path, flaky and slower tests, every failure's traceback and captured
output, and a closing line in pytest's own words ("3 passed, 1 failed in 2.10s").
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from mcp_dashboard.state import RunState, TestState
from mcp_dashboard.status import OUTCOMES

LABELS = {
    "passed": "PASSED",
    "failed": "FAILED",
    "error": "ERROR",
    "skipped": "SKIPPED",
    "xfailed": "XFAIL",
    "xpassed": "XPASS",
    "interrupted": "INTERRUPTED",
}
RULE = "=" * 78


class HeadlessPrinter:
    """Call `update(old, new, nodeid)` after each event, `summary(state)` at the end."""

    def __init__(self, out: TextIO, *, verbose: bool = False) -> None:
        self.out = out
        self.verbose = verbose

    def update(self, old: RunState, new: RunState, nodeid: str | None = None) -> None:
        if new.collection_complete and not old.collection_complete:
            self._collected(new)
        for problem in new.collect_problems[len(old.collect_problems) :]:
            if problem.outcome == "failed":
                self._line(f"ERROR collecting {problem.nodeid}")
        if nodeid is not None:
            before, after = old.tests.get(nodeid), new.tests.get(nodeid)
            if after is not None:
                self._test(new, before, after)
        if new.finished and not old.finished:
            for test in new.tests_in_order():
                previous = old.tests.get(test.nodeid)
                if previous is not None and previous.status != test.status:
                    self._test(new, previous, test)

    def _collected(self, state: RunState) -> None:
        paths = len({t.critical_path for t in state.tests.values()})
        deselected = f", {state.deselected} deselected" if state.deselected else ""
        workers = f", {state.workers} workers" if state.workers else ""
        self._line(
            f"collected {_plural(state.collected, 'test')} in "
            f"{_plural(paths, 'critical path')}{deselected}{workers}"
        )

    def _test(self, state: RunState, before: TestState | None, after: TestState) -> None:
        if self.verbose:
            seen = {s.index for s in before.steps} if before else set()
            for step in after.steps:
                if step.index not in seen:
                    self._line(
                        f"    [{after.critical_path}] {after.name or after.nodeid}: {step.message}"
                    )
        if after.finished and not (before and before.finished):
            done, total = state.progress
            width = len(str(total))
            label = LABELS.get(after.status, after.status.upper())
            self._line(
                f"[{done:>{width}}/{total}] {label:<11} [{after.critical_path}] "
                f"{after.nodeid} ({after.duration:.2f}s)"
            )

    def summary(self, state: RunState) -> None:
        self._line("")
        self._line(_title("summary by critical path"))
        for row in path_table(state):
            self._line(row)
        self._history(state)
        self._collect_problems(state)
        self._failures(state)
        self._warnings(state)
        if state.ignored_lines:
            # A damaged stream is survived, never hidden: its results may be incomplete.
            self._line(
                f"event stream: {_plural(state.ignored_lines, 'line')} skipped "
                "(not valid events: garbage, truncated or over 1 MiB)"
            )
        self._line(_title(f"{closing_line(state)}"))
        self._line(f"run {state.status}: {state.reason}" + _exit(state))

    def _history(self, state: RunState) -> None:
        if state.history_window is None:
            return
        tests = state.tests_in_order()
        flaky = [t for t in tests if t.flaky]
        slower = [t for t in tests if t.slower]
        window = state.history_window
        self._line(f"flaky (passed and failed within the last {window} runs): {len(flaky)}")
        for test in flaky:
            self._line(f"  FLAKY  [{test.critical_path}] {test.nodeid}")
        self._line(
            f"slower (over 2x the median of recent passing runs and over 0.2s): {len(slower)}"
        )
        for test in slower:
            median = test.history.median if test.history else None
            self._line(
                f"  SLOWER [{test.critical_path}] {test.nodeid} {test.duration:.2f}s"
                f" (median {median or 0:.2f}s)"
            )

    def _collect_problems(self, state: RunState) -> None:
        for problem in state.collect_problems:
            if problem.outcome != "failed":
                continue
            self._line(_title(f"ERROR collecting {problem.nodeid}", "_"))
            self._line(problem.longrepr)

    def _failures(self, state: RunState) -> None:
        failures = [t for t in state.tests_in_order() if t.status in ("failed", "error")]
        interrupted = [t for t in state.tests_in_order() if t.status == "interrupted"]
        if failures:
            self._line(_title("failures"))
        for test in failures:
            self._line(_title(f"{LABELS[test.status]} [{test.critical_path}] {test.nodeid}", "_"))
            self._line(test.longrepr)
            for name in ("stdout", "stderr", "log"):
                text = getattr(test, name)
                if text:
                    self._line(f"--- captured {name} ---")
                    self._line(text.rstrip("\n"))
        for test in interrupted:
            self._line(f"INTERRUPTED [{test.critical_path}] {test.nodeid}: the run ended during it")
            for step in test.steps[-3:]:
                self._line(f"    last step: {step.message}")

    def _warnings(self, state: RunState) -> None:
        if not state.warning_count:
            return
        self._line(f"warnings: {state.warning_count}")
        seen: set[tuple[str, str]] = set()
        for warning in state.warnings:
            key = (warning.category, warning.message)
            if key in seen or len(seen) >= 10:
                continue
            seen.add(key)
            self._line(
                f"  {warning.category}: {warning.message} ({warning.filename}:{warning.lineno})"
            )

    def _line(self, text: str) -> None:
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except BrokenPipeError:
            # The reader left (`| head`): keep running the suite, print nowhere.
            if self.out is sys.stdout:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            else:
                self.out = open(os.devnull, "w")  # noqa: SIM115


def path_table(state: RunState) -> list[str]:
    """The per-critical-path table as aligned text rows (header, paths, total)."""
    header = ["critical path", "tests", *OUTCOMES, "not run", "total", "slowest"]
    rows: list[list[str]] = []
    for stats in state.path_stats():
        c = stats.counts
        slowest = "-"
        if stats.slowest:
            test = state.tests.get(stats.slowest)
            name = test.name if test is not None and test.name else _short(stats.slowest)
            slowest = f"{stats.slowest_duration:.2f}s {name}"
        rows.append(
            [
                stats.name,
                str(c.total),
                *(str(getattr(c, o)) for o in OUTCOMES),
                str(c.pending + c.running + c.interrupted),
                f"{stats.duration:.2f}s",
                slowest,
            ]
        )
    c = state.counts
    overall = sum(s.duration for s in state.path_stats())
    rows.append(
        [
            "all",
            str(c.total),
            *(str(getattr(c, o)) for o in OUTCOMES),
            str(c.pending + c.running + c.interrupted),
            f"{overall:.2f}s",
            "",
        ]
    )
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    lines = []
    for row in table:
        cells = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i])
            for i in range(len(widths))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines


def closing_line(state: RunState) -> str:
    """pytest's closing words, from the state: '3 passed, 1 failed, 2 skipped in 1.20s'."""
    c = state.counts
    parts = [f"{getattr(c, o)} {o}" for o in ("failed", "passed", "skipped") if getattr(c, o)]
    parts += [f"{c.xfailed} xfailed"] if c.xfailed else []
    parts += [f"{c.xpassed} xpassed"] if c.xpassed else []
    errors = c.error + sum(1 for p in state.collect_problems if p.outcome == "failed")
    parts += [f"{errors} error{'s' if errors != 1 else ''}"] if errors else []
    parts += [f"{c.interrupted} interrupted"] if c.interrupted else []
    if not parts:
        parts = ["no tests ran"]
    return f"{', '.join(parts)} in {elapsed(state):.2f}s"


def elapsed(state: RunState) -> float:
    if state.started_at is None or state.finished_at is None:
        return 0.0
    return max(0.0, state.finished_at - state.started_at)


def _exit(state: RunState) -> str:
    return "" if state.exit_status is None else f" (pytest exit status {state.exit_status})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _title(text: str, fill: str = "=") -> str:
    return f" {text} ".center(len(RULE), fill)


def _short(nodeid: str, limit: int = 60) -> str:
    return nodeid if len(nodeid) <= limit else "…" + nodeid[-(limit - 1) :]
