"""The run's tool calls, under the header once a run has ended: how many, and what they
flag (tool_metrics.py): a tool whose p95 regressed, a test whose call count changed.
Hidden for a run whose tests called no tool (a suite without the service) and while a
run goes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from mcp_dashboard.tool_metrics import CallReport, headline, text_rows

FLAGS_SHOWN = 3  # the panel stays a few lines tall: the tests keep the screen


def calls_text(report: CallReport) -> Text:
    """The headline in bold, then only what it flags (in yellow), at most `FLAGS_SHOWN`
    lines: the whole table per tool is `--ci`'s and the step summary's."""
    text = Text(headline(report), style="bold")
    flagged = [line.strip() for line, flag in text_rows(report) if flag]
    for line in flagged[:FLAGS_SHOWN]:
        text.append("\n")
        text.append(line, style="yellow")
    if len(flagged) > FLAGS_SHOWN:
        text.append(f"\n… {len(flagged) - FLAGS_SHOWN} more (mcp-dashboard --ci lists them)")
    return text


class ToolCallsPanel(Static):
    DEFAULT_CSS = """
    ToolCallsPanel { display: none; height: auto; max-height: 5; margin: 0 1; padding: 0 1; }
    """

    def show(self, report: CallReport | None) -> None:
        """A finished run's report; None hides the panel (a new run, or no calls)."""
        self.display = report is not None
        self.update(calls_text(report) if report is not None else "")
