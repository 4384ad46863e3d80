"""Tool-call metrics of a run, and what is unusual about them: pure, rows in, lines out.

Per tool: calls, error rate (every status but `success` is an error), and p50/p95 of
the durations by the nearest-rank method (the smallest value with at least P % of
the values at or below it: `sorted[ceil(P/100 * n) - 1]`; always a real duration).
A tool has regressed when this run's p95 is more than `FACTOR` times the median of
its p95 in the last `WINDOW` earlier runs of the same PATHS that called it, given at
least `MIN_RUNS` such runs. A test's call count changed when it differs from the
count of the latest earlier run that ran the test. docs/tool-metrics.md says more.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

WINDOW = 10  # earlier runs whose p95 make the median
MIN_RUNS = 3  # earlier runs needed before a median means anything
FACTOR = 2.0
SUCCESS = "success"
TOOL_WIDTH = 24  # the tool column of the text table at most
LISTED = 40  # tools, and changed tests, listed at most (a fuzzing suite calls many names)

# (trace id, tool name, status, duration in ms): one row of `tool_executions`.
CallRow = tuple[str, str, str, float]


def nearest_rank(ordered: Sequence[float], percent: int) -> float:
    """The `percent` percentile of ascending `ordered` (not empty), by nearest rank."""
    rank = -(-percent * len(ordered) // 100)  # ceil, in integers: no float rounding
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True, slots=True)
class ToolStats:
    tool: str
    calls: int
    errors: int
    p50_ms: float
    p95_ms: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


def tool_stats(rows: Iterable[CallRow]) -> list[ToolStats]:
    """Per tool, by name. One pass to group, one sort per tool: O(n log n) in all."""
    durations: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    for _trace, tool, status, duration in rows:
        durations[tool].append(float(duration))
        if status != SUCCESS:
            errors[tool] += 1
    stats = []
    for tool in sorted(durations):
        ordered = sorted(durations[tool])
        p50, p95 = nearest_rank(ordered, 50), nearest_rank(ordered, 95)
        stats.append(ToolStats(tool, len(ordered), errors[tool], p50, p95))
    return stats


def calls_per_trace(rows: Iterable[CallRow]) -> Counter[str]:
    return Counter(trace for trace, _tool, _status, _duration in rows)


@dataclass(frozen=True, slots=True)
class ToolVerdict:
    """A tool's stats in this run beside the median of its p95 in `runs` earlier runs."""

    stats: ToolStats
    median_p95: float | None = None
    runs: int = 0

    @property
    def ratio(self) -> float | None:
        if self.median_p95 is None:
            return None
        return self.stats.p95_ms / self.median_p95 if self.median_p95 else float("inf")

    @property
    def regressed(self) -> bool:
        return self.median_p95 is not None and self.stats.p95_ms > FACTOR * self.median_p95


def assess_tool(stats: ToolStats, earlier_p95: Sequence[float]) -> ToolVerdict:
    """`earlier_p95`: the tool's p95 in earlier runs, newest first (only `WINDOW` count)."""
    recent = list(earlier_p95[:WINDOW])
    if len(recent) < MIN_RUNS:
        return ToolVerdict(stats, None, len(recent))
    return ToolVerdict(stats, statistics.median(recent), len(recent))


@dataclass(frozen=True, slots=True)
class CallChange:
    nodeid: str
    before: int
    after: int


def call_changes(now: Mapping[str, int], before: Mapping[str, int | None]) -> list[CallChange]:
    """Tests whose count differs from their previous run's (a test never counted: no change)."""
    changes = []
    for nodeid, calls in now.items():
        previous = before.get(nodeid)
        if previous is not None and previous != calls:
            changes.append(CallChange(nodeid, previous, calls))
    return changes


@dataclass(frozen=True, slots=True)
class CallReport:
    """What a run's tool calls came to. `error`: they could not be read (and why)."""

    tools: tuple[ToolVerdict, ...] = ()
    changes: tuple[CallChange, ...] = ()
    truncated: int | None = None  # only this many calls were read: the figures are partial
    error: str | None = None

    @property
    def regressions(self) -> list[ToolVerdict]:
        return [t for t in self.tools if t.regressed]

    def listed_tools(self) -> list[ToolVerdict]:
        """At most `LISTED`, by name: every regressed tool, then the busiest."""
        if len(self.tools) <= LISTED:
            return list(self.tools)
        ranked = sorted(self.tools, key=lambda t: (not t.regressed, -t.stats.calls, t.stats.tool))
        return sorted(ranked[:LISTED], key=lambda t: t.stats.tool)


def _more(shown: int, total: int, noun: str) -> str:
    return f"… and {total - shown} more {noun}" if total > shown else ""


# -- lines ---------------------------------------------------------------------------


def flag(verdict: ToolVerdict) -> str:
    """`p95 2.3x its median of the last 5 runs`, for a regressed tool; else ''."""
    if not verdict.regressed:
        return ""
    ratio = verdict.ratio
    times = "∞" if ratio is None or ratio == float("inf") else f"{ratio:.1f}"
    return f"p95 {times}x its median of the last {verdict.runs} runs"


def text_lines(report: CallReport) -> list[str]:
    """The table (`tool calls errors p50 p95`, a flag after a regressed tool), then the
    tests whose call count changed: for `--ci` and for the dashboard's run summary."""
    return [text for text, _flagged in text_rows(report)]


def text_rows(report: CallReport) -> list[tuple[str, bool]]:
    """`text_lines`, each with whether it flags something (a front end may colour it)."""
    if report.error is not None:
        return [(f"not read: {report.error}", True)]
    tools = report.listed_tools()
    header = ("tool", "calls", "errors", "p50 ms", "p95 ms")
    rows = [
        (
            _fit(t.stats.tool, TOOL_WIDTH),
            str(t.stats.calls),
            f"{t.stats.error_rate:.1%}",
            f"{t.stats.p50_ms:.2f}",
            f"{t.stats.p95_ms:.2f}",
        )
        for t in tools
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row, verdict in zip([header, *rows], [None, *tools], strict=True):
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        note = flag(verdict) if verdict is not None else ""
        lines.append(("  ".join([*cells, note]).rstrip(), bool(note)))
    if more := _more(len(tools), len(report.tools), "tools (fewer calls)"):
        lines.append((more, False))
    if report.truncated is not None:
        lines.append(
            (f"(the first {report.truncated:,} calls only: call counts not compared)", True)
        )
    if report.changes:
        lines.append(("call count changed since the previous run of the test:", False))
        changes = report.changes[:LISTED]
        lines += [(f"  CALLS {c.nodeid} {c.before} → {c.after}", True) for c in changes]
        if more := _more(len(changes), len(report.changes), "tests"):
            lines.append((f"  {more}", False))
    return lines


def markdown_lines(report: CallReport) -> list[str]:
    """The same as a Markdown section, for the GitHub step summary."""
    lines = ["", "### Tool calls", ""]
    if report.error is not None:
        return [*lines, f"Not read: {_cell(report.error)}"]
    lines += [
        "| tool | calls | errors | p50 ms | p95 ms | regression |",
        "|---|" + "---:|" * 4 + "---|",
    ]
    tools = report.listed_tools()
    for t in tools:
        s = t.stats
        note = f"⚠️ {flag(t)}" if t.regressed else ""
        cells = [f"`{_cell(s.tool)}`", str(s.calls), f"{s.error_rate:.1%}"]
        lines.append("| " + " | ".join([*cells, f"{s.p50_ms:.2f}", f"{s.p95_ms:.2f}", note]) + " |")
    if more := _more(len(tools), len(report.tools), "tools (fewer calls)"):
        lines += ["", more]
    if report.truncated is not None:
        lines += ["", f"The first {report.truncated:,} calls only: call counts not compared."]
    if report.changes:
        lines += ["", "Call count changed since the previous run of the test:", ""]
        changes = report.changes[:LISTED]
        lines += [f"- `{_cell(c.nodeid)}` {c.before} → {c.after}" for c in changes]
        if more := _more(len(changes), len(report.changes), "tests"):
            lines.append(f"- {more}")
    return lines


def headline(report: CallReport) -> str:
    """One short phrase for a header: `tool calls: 1 regression, 2 call counts changed`."""
    if report.error is not None:
        return "tool calls: not read"
    parts = []
    if report.regressions:
        count = len(report.regressions)
        parts.append(f"{count} p95 regression{'' if count == 1 else 's'}")
    if report.changes:
        count = len(report.changes)
        parts.append(f"{count} call count{'' if count == 1 else 's'} changed")
    calls = sum(t.stats.calls for t in report.tools)
    return f"tool calls: {calls}" + (f" ({', '.join(parts)})" if parts else "")


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")
