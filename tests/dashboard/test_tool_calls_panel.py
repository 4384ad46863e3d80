"""The dashboard's tool-calls panel: hidden until a run's tests made calls, then the same
table as `--ci`, its flags in yellow."""

from __future__ import annotations

from textual.app import App, ComposeResult

from mcp_dashboard.tool_metrics import CallChange, CallReport, ToolStats, assess_tool
from mcp_dashboard.widgets.tool_calls import ToolCallsPanel, calls_text


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ToolCallsPanel(id="calls")


REPORT = CallReport(
    tools=(
        assess_tool(ToolStats("analyze_workload", 1, 0, 1.0, 1.0), [1.0, 1.0, 1.0]),
        assess_tool(ToolStats("echo", 9, 2, 0.5, 2.3), [1.0, 1.0, 0.9, 2.0, 1.1]),
    ),
    changes=(CallChange("t.py::test_x", 4, 5),),
)


def test_the_text_is_the_headline_then_the_table_with_its_flags_in_yellow() -> None:
    text = calls_text(REPORT)
    assert text.plain.splitlines() == [
        "tool calls: 10 (1 p95 regression, 1 call count changed)",
        "tool              calls  errors  p50 ms  p95 ms",
        "analyze_workload      1    0.0%    1.00    1.00",
        "echo                  9   22.2%    0.50    2.30  p95 2.3x its median of the last 5 runs",
        "call count changed since the previous run of the test:",
        "  CALLS t.py::test_x 4 → 5",
    ]
    yellow = [text.plain[s.start : s.end] for s in text.spans if s.style == "yellow"]
    assert yellow == [
        "echo                  9   22.2%    0.50    2.30  p95 2.3x its median of the last 5 runs",
        "  CALLS t.py::test_x 4 → 5",
    ]


def shown(panel: ToolCallsPanel) -> bool:
    return panel.display


async def test_the_panel_shows_a_report_and_hides_without_one() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = app.query_one(ToolCallsPanel)
        assert not shown(panel)
        panel.show(REPORT)
        await pilot.pause()
        assert shown(panel)
        assert panel.region.height == 6
        panel.show(None)
        await pilot.pause()
        assert not shown(panel)
