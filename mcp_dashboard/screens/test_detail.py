"""A test's detail: traceback, steps, output and recent durations; `y` copies the traceback."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from mcp_dashboard.state import TestState
from mcp_dashboard.widgets.labels import ICONS, seconds


def section(title: str, body: str | Text, *, classes: str = "") -> list[Static]:
    return [
        Static(title, classes="detail-heading"),
        Static(body if body else Text("(none)", style="dim"), classes=f"detail-body {classes}"),
    ]


class TestDetailScreen(Screen[None]):
    __test__ = False  # not a pytest test class, despite the name

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("y", "copy_traceback", "Copy traceback"),
    ]

    def __init__(self, test: TestState, recent: list[float] | None = None) -> None:
        super().__init__()
        self.test = test
        self.recent = recent or []

    @property
    def traceback(self) -> str:
        return self.test.longrepr

    def compose(self) -> ComposeResult:
        test = self.test
        icon, style = ICONS.get(test.status, ("?", ""))
        title = Text.assemble((f"{icon} {test.status.upper()}", style), "  ", test.nodeid)
        facts = [f"critical path: {test.critical_path}", f"duration: {seconds(test.duration)}"]
        if test.file:
            facts.append(f"at {test.file}:{test.line}" if test.line else f"at {test.file}")
        if test.flaky:
            facts.append("flaky in recent runs")
        if test.slower:
            facts.append("slower than its median")
        if test.reason:
            facts.append(f"reason: {test.reason}")
        with VerticalScroll(id="detail"):
            yield Static(title, id="detail-title")
            yield Static(" · ".join(facts), id="detail-facts")
            crash = test.crash
            if crash is not None:
                where = f"{crash.path}:{crash.lineno}" if crash.lineno else crash.path
                yield Static(Text(f"{crash.message}\n  at {where}", style="red"), id="crash")
            steps = "\n".join(step.message for step in test.steps)
            yield from section("Steps", Text(steps, style="green") if steps else "")
            yield from section("Traceback", Text(self.traceback), classes="traceback")
            yield from section("Captured stdout", Text(test.stdout))
            yield from section("Captured stderr", Text(test.stderr))
            yield from section("Captured log", Text(test.log))
            durations = ", ".join(seconds(d) for d in self.recent)
            yield from section("Recent durations (oldest first)", durations)
        yield Footer()

    def action_copy_traceback(self) -> None:
        if not self.traceback:
            self.notify("This test has no traceback to copy.", severity="warning")
            return
        self.app.copy_to_clipboard(self.traceback)
        self.notify(f"Traceback copied ({len(self.traceback.splitlines())} lines).")
