"""The `--ci` front end: plain text drawn from `RunState` alone, shaped like `pytest -q`.

While the run goes: one character per finished test (`.` `F` `E` `s` `x` `X`, and
`!` for a test the run died in), with pytest's `[ 42%]` at the end of each line;
with `-v`, one line per test instead (and with `--steps`, each step line as it
arrives). At the end, as pytest does: errors, failures with their tracebacks and
captured output, the warnings, then the table per critical path (or module),
flaky and slower tests, the tool calls the tests made when they left stamped rows in
the service's database (tool_metrics.py), pytest's short test summary (failures,
errors, skip and xfail reasons), and its closing line. Colour when writing to a terminal.

If pytest stopped before running anything (a usage error), its own words are
printed first and nothing else pretends a run happened.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from mcp_dashboard.state import RunState, TestState
from mcp_dashboard.status import OUTCOMES, RunStatus, TestStatus
from mcp_dashboard.summary import closing_line, plural
from mcp_dashboard.tool_metrics import CallReport, text_rows

WIDTH = 80
# pytest's line when -x or --maxfail stopped the session (session.shouldfail), as its
# terminal reporter draws it: `!!!!! stopping after 1 failures !!!!!`.
STOPPING = re.compile(r"!+ (stopping after \d+ failures?) !+")
WARNINGS = 10  # distinct warnings printed at most; the rest are counted
WARNING_PLACES = 10  # pytest's: from this many places on, a warning's are counted per file
GROUP_WIDTH = 40  # the table's group column at most; a longer path keeps its end
LABELS = {
    TestStatus.PASSED: "PASSED",
    TestStatus.FAILED: "FAILED",
    TestStatus.ERROR: "ERROR",
    TestStatus.SKIPPED: "SKIPPED",
    TestStatus.XFAILED: "XFAIL",
    TestStatus.XPASSED: "XPASS",
    TestStatus.INTERRUPTED: "INTERRUPTED",
}
LETTERS = {
    TestStatus.PASSED: ".",
    TestStatus.FAILED: "F",
    TestStatus.ERROR: "E",
    TestStatus.SKIPPED: "s",
    TestStatus.XFAILED: "x",
    TestStatus.XPASSED: "X",
    TestStatus.INTERRUPTED: "!",
}
_ANSI = {"red": "31", "green": "32", "yellow": "33", "magenta": "35", "bold": "1"}
COLOURS = {
    TestStatus.PASSED: "green",
    TestStatus.FAILED: "red",
    TestStatus.ERROR: "red",
    TestStatus.SKIPPED: "yellow",
    TestStatus.XFAILED: "yellow",
    TestStatus.XPASSED: "yellow",
    TestStatus.INTERRUPTED: "magenta",
}


def wants_colour(out: TextIO, choice: bool | None, environ: Mapping[str, str]) -> bool:
    """pytest's --color=yes/no when given; else NO_COLOR / FORCE_COLOR; else a terminal."""
    if choice is not None:
        return choice
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return out.isatty()


class HeadlessPrinter:
    """Call `update(old, new, nodeid)` after each event, `summary(state)` at the end."""

    def __init__(
        self,
        out: TextIO,
        *,
        verbosity: int = 0,
        steps: bool = False,
        colour: bool = False,
    ) -> None:
        self.out = out
        self.verbose = verbosity > 0
        self.steps = steps
        self.colour = colour
        self._column = 0  # characters on the current progress line (quiet mode)

    # -- while the run goes ------------------------------------------------------

    def update(self, old: RunState, new: RunState, nodeid: str | None = None) -> None:
        if self.verbose and new.collection_complete and not old.collection_complete:
            self._line(collected_line(new))
        if nodeid is not None:
            after = new.tests.get(nodeid)
            if after is not None:
                self._test(new, old.tests.get(nodeid), after)
        if new.finished and not old.finished:
            for test in new.tests_in_order():
                previous = old.tests.get(test.nodeid)
                if previous is not None and previous.status != test.status:
                    self._test(new, previous, test)

    def _test(self, state: RunState, before: TestState | None, after: TestState) -> None:
        if self.steps:
            seen = {s.index for s in before.steps} if before else set()
            for step in after.steps:
                if step.index not in seen:
                    self._line(f"    {_group(after)}{_short(after)}: {step.message}")
        if not after.finished or (before is not None and before.finished):
            return
        if self.verbose:
            done, total = state.progress
            width = len(str(total))
            label = self._paint(f"{LABELS[after.status]:<11}", COLOURS[after.status])
            self._line(
                f"[{done:>{width}}/{total}] {label} {_group(after)}{after.nodeid} "
                f"({after.duration:.2f}s)"
            )
            return
        self._progress(state, after)

    def _progress(self, state: RunState, test: TestState) -> None:
        """pytest -q: a character per test, ` [ 42%]` closing each line (79 columns, as
        pytest's terminal reporter lays it out at 80)."""
        self._write(self._paint(LETTERS[test.status], COLOURS[test.status]))
        self._column += 1
        done, total = state.progress
        if self._column + len(" [100%]") + 1 >= WIDTH:
            self._write(f" [{_percent(done, total)}]\n")
            self._column = 0

    def _end_progress(self, state: RunState, *, stopped: bool = False) -> None:
        """`stopped` (-x, --maxfail): the line ends bare, as pytest's does when the session
        stops before its last test (it writes the percentage after the last one only)."""
        if self._column:
            done, total = state.progress
            message = (
                "" if stopped else f" [{_percent(done, total)}]".rjust(WIDTH - self._column - 1)
            )
            self._write(message + "\n")
            self._column = 0

    # -- at the end --------------------------------------------------------------

    def summary(
        self, state: RunState, output: list[str] | None = None, calls: CallReport | None = None
    ) -> None:
        """`calls`: the run's tool calls (run_calls.py); None when its tests made none."""
        stopping = stopping_line(output or [])
        self._end_progress(state, stopped=stopping is not None)
        if state.started_at is None or state.exit_status == 4:
            self._did_not_start(state, output or [])
            return
        if state.exit_status == 3 and output:
            self._output_tail(output)
        self._errors(state)
        self._failures(state)
        self._warnings(state)
        if state.tests:
            self._title("summary by critical path" if _any_marked(state) else "summary by module")
            for row in path_table(state):
                self._line(row)
        self._history(state)
        if calls is not None:
            self._calls(calls)
        if state.ignored_lines:
            # A damaged stream is survived, never hidden: its results may be incomplete.
            self._line(
                f"event stream: {plural(state.ignored_lines, 'line')} skipped "
                "(not valid events: garbage, truncated or over 1 MiB)"
            )
        self._short_summary(state)
        if stopping is not None:
            self._title(stopping, "!", "red")
        self._line(self._paint(closing_line(state), _closing_colour(state)))
        if state.status in (RunStatus.ABORTED, RunStatus.CANCELLED) or state.exit_status not in (
            0,
            1,
        ):
            self._line(f"run {state.status}: {state.reason}{_exit(state)}")

    def _did_not_start(self, state: RunState, output: list[str]) -> None:
        """A usage error (or pytest could not start): pytest's words, and what it means."""
        lines = [line for line in output if line.strip()][-40:] or state.output.splitlines()
        errors = [i for i, line in enumerate(lines) if line.startswith("ERROR")]
        for line in lines[errors[0] if errors else 0 :]:  # from pytest's "ERROR:" on
            self._line(line)
        self._line(self._paint(f"run {state.status}: {state.reason}{_exit(state)}", "red"))

    def _output_tail(self, output: list[str]) -> None:
        self._title("pytest's own output")
        for line in [line for line in output if line.strip()][-40:]:
            self._line(line)

    def _errors(self, state: RunState) -> None:
        errors = [t for t in state.tests_in_order() if t.status == TestStatus.ERROR]
        if not state.collection_errors and not errors:
            return
        self._title("ERRORS")
        for problem in state.collection_errors:
            self._title(f"ERROR collecting {problem.nodeid}", "_")
            self._line(problem.longrepr.rstrip())
        for test in errors:
            when = next((p.when for p in test.phases if p.outcome == "failed"), "setup")
            self._title(f"ERROR at {when} of {_head(test)}", "_")
            self._report(test)

    def _failures(self, state: RunState) -> None:
        failures = [t for t in state.tests_in_order() if t.status == TestStatus.FAILED]
        if not failures:
            return
        self._title("FAILURES")
        for test in failures:
            self._title(_head(test), "_")
            self._report(test)

    def _report(self, test: TestState) -> None:
        self._line(test.longrepr.rstrip())
        for name in ("stdout", "stderr", "log"):
            text = str(getattr(test, name))
            if text.strip():
                self._title(f"Captured {name}", "-")
                self._line(text.rstrip("\n"))

    def _warnings(self, state: RunState) -> None:
        """pytest's warnings summary: each warning (its place and message) once, under every
        test that raised it (`warning_locations`); a blank line after each."""
        if not state.warning_count:
            return
        self._title("warnings summary")
        grouped: dict[tuple[str, int | None, str, str], list[str]] = {}
        for warning in state.warnings:
            key = (warning.filename, warning.lineno, warning.category, warning.message)
            where = warning.nodeid or _place(state, warning.filename, warning.lineno)
            grouped.setdefault(key, []).append(where)
        for (filename, lineno, category, message), places in list(grouped.items())[:WARNINGS]:
            for line in warning_locations(places):
                self._line(line)
            at = f"{filename}:{lineno}" if lineno is not None else filename
            self._line(f"  {at}: {category}: {message}")
            self._line("")
        shown = sum(len(places) for places in list(grouped.values())[:WARNINGS])
        if state.warning_count > shown:
            self._line(f"  ({plural(state.warning_count, 'warning')} in all)")

    def _history(self, state: RunState) -> None:
        tests = state.tests_in_order()
        flaky = [t for t in tests if t.flaky]
        slower = [t for t in tests if t.slower]
        if not flaky and not slower:
            return
        window = state.history_window
        if flaky:
            self._line(f"flaky (passed and failed on the same code within {window} runs):")
        for test in flaky:
            self._line(f"  FLAKY  {test.nodeid}")
        if slower:
            self._line("slower (over 2x the median of recent passing runs and over 0.2s):")
        for test in slower:
            median = test.history.median if test.history else None
            self._line(f"  SLOWER {test.nodeid} {test.duration:.2f}s (median {median or 0:.2f}s)")

    def _calls(self, report: CallReport) -> None:
        self._title("tool calls")
        for line, flagged in text_rows(report):
            self._line(self._paint(line, "yellow") if flagged else line)

    def _short_summary(self, state: RunState) -> None:
        lines = short_summary(state)
        if not lines:
            return
        self._title("short test summary info")
        for line in lines:
            word = line.split(" ", 1)[0]
            colour = "red" if word in ("FAILED", "ERROR") else "yellow"
            self._line(self._paint(word, colour) + line[len(word) :])

    # -- writing ---------------------------------------------------------------------

    def _title(self, text: str, fill: str = "=", colour: str = "bold") -> None:
        self._line(self._paint(f" {text} ".center(WIDTH, fill), colour))

    def _paint(self, text: str, colour: str) -> str:
        if not self.colour:
            return text
        return f"\x1b[{_ANSI[colour]}m{text}\x1b[0m"

    def _line(self, text: str) -> None:
        if self._column:
            self._write("\n")
            self._column = 0
        self._write(text + "\n")

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)
            self.out.flush()
        except BrokenPipeError:
            # The reader left (`| head`): keep running the suite, print nowhere.
            if self.out is sys.stdout:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            else:
                self.out = open(os.devnull, "w")  # noqa: SIM115


def warning_locations(places: list[str]) -> list[str]:
    """Where a warning was raised, as pytest lists it: each test (or file:line), or from
    `WARNING_PLACES` places on, a count per file."""
    if len(places) < WARNING_PLACES:
        return places
    per_file = Counter(place.split("::", 1)[0] for place in places)
    return [f"{file}: {plural(count, 'warning')}" for file, count in per_file.items()]


def stopping_line(output: list[str]) -> str | None:
    """pytest's words when -x or --maxfail stopped the session, from its own output."""
    for line in reversed(output):
        if found := STOPPING.fullmatch(line.strip()):
            return found.group(1)
    return None


def collected_line(state: RunState) -> str:
    marked = {t.critical_path for t in state.tests.values() if t.by_marker}
    modules = {t.critical_path for t in state.tests.values() if not t.by_marker}
    groups = [plural(len(marked), "critical path")] if marked else []
    groups += [plural(len(modules), "module")] if modules or not marked else []
    deselected = f", {state.deselected} deselected" if state.deselected else ""
    workers = f", {state.workers} workers" if state.workers else ""
    tests = plural(state.collected, "test")
    return f"collected {tests} in {' and '.join(groups)}{deselected}{workers}"


def short_summary(state: RunState, whole_messages: bool | None = None) -> list[str]:
    """pytest's "short test summary info" as `-rfEsxX` prints it, plus tests the run died in.

    A failure's message is its first line, as pytest prints it on a terminal; on CI
    (`CI` or `BUILD_NUMBER` set, pytest's own test) pytest prints the whole message, so
    ours does too unless `whole_messages` says otherwise."""
    if whole_messages is None:
        whole_messages = running_on_ci()
    tests = state.tests_in_order()
    lines = []
    for test in tests:
        if test.status == TestStatus.FAILED:
            lines.append(f"FAILED {test.nodeid}{_message(test, whole_messages)}")
    for problem in state.collection_errors:
        lines.append(f"ERROR {problem.nodeid}")
    for test in tests:
        if test.status == TestStatus.ERROR:
            lines.append(f"ERROR {test.nodeid}{_message(test, whole_messages)}")
    skips: Counter[tuple[str, int | None, str]] = Counter()
    for test in tests:
        if test.status == TestStatus.SKIPPED:
            skips[_skip_place(state, test)] += 1
    for (path, line, reason), count in skips.items():
        where = f"{path}:{line}" if line is not None else path
        lines.append(f"SKIPPED [{count}] {where}: {reason}")
    for test in tests:
        if test.status == TestStatus.XFAILED:
            lines.append(f"XFAIL {test.nodeid}" + (f" - {test.reason}" if test.reason else ""))
    for test in tests:
        if test.status == TestStatus.XPASSED:
            lines.append(f"XPASS {test.nodeid}" + (f" - {test.reason}" if test.reason else ""))
    for test in tests:
        if test.status == TestStatus.INTERRUPTED:
            lines.append(f"INTERRUPTED {test.nodeid} - the run ended during it")
            lines += [f"    last step: {step.message}" for step in test.steps[-3:]]
    return lines


def _skip_place(state: RunState, test: TestState) -> tuple[str, int | None, str]:
    crash = test.skip_crash
    reason = test.reason or "skipped"
    if crash is None:
        return test.file or test.nodeid, None, reason
    return _relative(state, crash.path), crash.lineno, reason


def _relative(state: RunState, path: str) -> str:
    """A path as pytest's summaries print it: relative to the rootdir when it is absolute."""
    if state.rootdir and Path(path).is_absolute():
        with contextlib.suppress(ValueError):  # another drive (Windows)
            return os.path.relpath(path, state.rootdir)
    return path


def _place(state: RunState, filename: str, lineno: int | None) -> str:
    """A warning raised outside any test (collection, a plugin): pytest's `file:line`."""
    path = _relative(state, filename)
    return f"{path}:{lineno}" if lineno is not None else path


def _message(test: TestState, whole: bool) -> str:
    crash = test.crash
    if crash is None or not crash.message:
        return ""
    return " - " + (crash.message if whole else crash.message.splitlines()[0])


def running_on_ci() -> bool:
    """pytest's test for a CI system, which decides how much of a message its summary keeps."""
    return any(name in os.environ for name in ("CI", "BUILD_NUMBER"))


def path_table(state: RunState, width: int = WIDTH) -> list[str]:
    """The per-group table as aligned text rows (header, groups, total), in `width` columns
    as pytest's own lines are: an outcome column that is 0 on every row is left out (as
    pytest's closing line leaves out a count of 0; passed and failed always stay), a long
    group keeps the end of its path, and the slowest test's name is cut to fit, or left
    out when there is no room for it."""
    counted = [s.counts for s in state.path_stats()]
    outcomes = [
        o for o in OUTCOMES if o in (TestStatus.PASSED, TestStatus.FAILED) or state.counts.of(o)
    ]
    not_run = state.counts.pending + state.counts.running + state.counts.interrupted
    header = ["group", "tests", *outcomes, *(["not run"] if not_run else []), "total"]
    rows: list[list[str]] = []
    slowest: list[str] = []
    for stats, c in zip(state.path_stats(), counted, strict=True):
        name = stats.name if len(stats.name) <= GROUP_WIDTH else "…" + stats.name[1 - GROUP_WIDTH :]
        cells = [name, str(c.total), *(str(c.of(o)) for o in outcomes)]
        if not_run:
            cells.append(str(c.pending + c.running + c.interrupted))
        rows.append([*cells, f"{stats.duration:.2f}s"])
        name = ""
        if stats.slowest:
            test = state.tests.get(stats.slowest)
            name = test.name if test is not None and test.name else _tail(stats.slowest)
            name = f"{stats.slowest_duration:.2f}s {name}"
        slowest.append(name)
    c = state.counts
    overall = sum(s.duration for s in state.path_stats())
    total_row = ["all", str(c.total), *(str(c.of(o)) for o in outcomes)]
    rows.append([*total_row, *([str(not_run)] if not_run else []), f"{overall:.2f}s"])
    slowest.append("")
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i])
            for i in range(len(widths))
        )
        for row in table
    ]
    room = width - 1 - len(lines[0]) - 2  # pytest's lines end a column short of the width
    if room < len("0.00s test_x"):
        return lines
    names = ["slowest", *slowest]
    return [
        f"{line}  {_fit(name, room)}".rstrip() if name else line
        for line, name in zip(lines, names, strict=True)
    ]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _any_marked(state: RunState) -> bool:
    return any(t.by_marker for t in state.tests.values())


def _group(test: TestState) -> str:
    """`[critical path] ` for a marked test; nothing for a module (the node id names it)."""
    return f"[{test.critical_path}] " if test.by_marker else ""


def _head(test: TestState) -> str:
    """pytest's head line: `TestClass.test_name[param]`."""
    _, _, name = test.nodeid.partition("::")
    return (name or test.nodeid).replace("::", ".")


def _short(test: TestState) -> str:
    return test.name or _head(test)


def _percent(done: int, total: int) -> str:
    return f"{100 * done // total if total else 100:>3}%"


def _closing_colour(state: RunState) -> str:
    c = state.counts
    if c.failed or c.error or state.collection_errors or state.status != RunStatus.PASSED:
        return "red"
    return "yellow" if c.skipped or c.xfailed or c.xpassed else "green"


def _exit(state: RunState) -> str:
    return "" if state.exit_status is None else f" (pytest exit status {state.exit_status})"


def _tail(nodeid: str, limit: int = 60) -> str:
    return nodeid if len(nodeid) <= limit else "…" + nodeid[-(limit - 1) :]
