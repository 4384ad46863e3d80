"""The run's tool calls, under the header once a run has ended: per tool its calls, errors,
p50 and p95, a flag on a tool whose p95 regressed and on a test whose call count changed
(tool_metrics.py). Hidden for a run whose tests called no tool (a suite without the
service) and while a run goes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from mcp_dashboard.tool_metrics import CallReport, headline, text_rows


def calls_text(report: CallReport) -> Text:
    """The headline in bold, then the table; what it flags in yellow."""
    text = Text(headline(report), style="bold")
    for line, flagged in text_rows(report):
        text.append("\n")
        text.append(line, style="yellow" if flagged else "")
    return text


class ToolCallsPanel(Static):
    DEFAULT_CSS = """
    ToolCallsPanel { display: none; height: auto; max-height: 14; margin: 0 1; padding: 0 1; }
    """

    def show(self, report: CallReport | None) -> None:
        """A finished run's report; None hides the panel (a new run, or no calls)."""
        self.display = report is not None
        self.update(calls_text(report) if report is not None else "")
