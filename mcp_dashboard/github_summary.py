"""A Markdown rendering of `RunState` for `$GITHUB_STEP_SUMMARY` (the job's summary page)."""

from __future__ import annotations

import re

from mcp_dashboard.state import RunState
from mcp_dashboard.status import OUTCOMES, RunStatus, TestStatus, needs_rerun
from mcp_dashboard.summary import closing_line
from mcp_dashboard.tool_metrics import CallReport, markdown_lines

MAX_TRACEBACK_CHARS = 20_000  # GitHub caps a step summary at 1 MiB
ICONS = {
    RunStatus.PASSED: "✅",
    RunStatus.FAILED: "❌",
    RunStatus.ABORTED: "💥",
    RunStatus.CANCELLED: "⏹️",
}


def markdown_summary(state: RunState, calls: CallReport | None = None) -> str:
    """`calls`: the run's tool calls (run_calls.py); None when its tests made none."""
    icon = ICONS.get(state.status, "")
    lines = [
        f"## {icon} mcp-dashboard: {closing_line(state)}".replace("  ", " "),
        "",
        f"Run **{state.status}**: {state.reason}"
        + ("" if state.exit_status is None else f" (pytest exit status {state.exit_status})"),
        "",
        "| critical path | tests | " + " | ".join(OUTCOMES) + " | not run | total | slowest |",
        "|---|" + "---:|" * (len(OUTCOMES) + 3) + "---|",
    ]
    for stats in state.path_stats():
        c = stats.counts
        slowest = f"{stats.slowest_duration:.2f}s `{_cell(stats.slowest)}`" if stats.slowest else ""
        cells = [
            _cell(stats.name),
            str(c.total),
            *(str(c.of(o)) for o in OUTCOMES),
            str(c.pending + c.running + c.interrupted),
            f"{stats.duration:.2f}s",
            slowest,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    tests = state.tests_in_order()
    flaky = [t for t in tests if t.flaky]
    slower = [t for t in tests if t.slower]
    if flaky or slower:
        lines += ["", "### Flaky and slower tests", ""]
        lines += [f"- flaky: `{t.nodeid}`" for t in flaky]
        lines += [f"- slower: `{t.nodeid}` {t.duration:.2f}s" for t in slower]
    if calls is not None:
        lines += markdown_lines(calls)
    problems = state.collection_errors
    failures = [t for t in tests if needs_rerun(t.status)]
    if problems or failures:
        lines += ["", "### Failures", ""]
    for problem in problems:
        lines += _details(f"ERROR collecting {problem.nodeid}", problem.longrepr)
    for test in failures:
        body = test.longrepr
        if test.status == TestStatus.INTERRUPTED:
            steps = "\n".join(f"last step: {s.message}" for s in test.steps[-3:])
            body = f"The run ended during this test.\n{steps}".rstrip()
        lines += _details(f"{test.status.upper()} [{test.critical_path}] {test.nodeid}", body)
    return "\n".join(lines) + "\n"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _details(summary: str, body: str) -> list[str]:
    if len(body) > MAX_TRACEBACK_CHARS:
        body = "…\n" + body[-MAX_TRACEBACK_CHARS:]
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    summary = summary.replace("<", "&lt;").replace(">", "&gt;")
    return [
        "<details>",
        f"<summary>{summary}</summary>",
        "",
        f"{fence}text",
        body,
        fence,
        "</details>",
    ]
