"""The dashboard's tool-calls panel: hidden until a run's tests made calls, then a headline
and what `--ci` flags, in yellow, a few lines at most (at 80x24 the table took the screen)."""

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


def test_the_text_is_the_headline_then_only_what_it_flags_in_yellow() -> None:
    text = calls_text(REPORT)
    assert text.plain.splitlines() == [
        "tool calls: 10 (1 p95 regression, 1 call count changed)",
        "echo                  9   22.2%    0.50    2.30  p95 2.3x its median of the last 5 runs",
        "CALLS t.py::test_x 4 → 5",
    ]
    yellow = [text.plain[s.start : s.end] for s in text.spans if s.style == "yellow"]
    assert yellow == text.plain.splitlines()[1:]


def test_more_flags_than_fit_are_counted() -> None:
    changes = tuple(CallChange(f"t.py::test_{n}", n, n + 1) for n in range(5))
    text = calls_text(CallReport(tools=REPORT.tools, changes=changes)).plain.splitlines()
    assert text[0] == "tool calls: 10 (1 p95 regression, 5 call counts changed)"
    assert text[1:] == [
        "echo                  9   22.2%    0.50    2.30  p95 2.3x its median of the last 5 runs",
        "CALLS t.py::test_0 0 → 1",
        "CALLS t.py::test_1 1 → 2",
        "… 3 more (mcp-dashboard --ci lists them)",
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
        assert panel.region.height == 3
        panel.show(None)
        await pilot.pause()
        assert not shown(panel)
