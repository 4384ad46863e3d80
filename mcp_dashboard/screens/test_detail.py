"""A test's detail: full name, where it is, traceback, steps, what it did, output and
recent durations.

"What this test did" (widgets/what_it_did.py) shows only when the service database holds
traced rows: a failed test's rows as captured at the failure, any other test's read now,
in a worker.

`y` copies the traceback (clipboard.py says where it went); `n`/`N` move to the
next or previous failure without going back to the panes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from mcp_dashboard.clipboard import copy_text
from mcp_dashboard.db_views.base import DatabaseView
from mcp_dashboard.db_views.traces import TraceRows
from mcp_dashboard.state import TestState
from mcp_dashboard.widgets.labels import ICONS, duration, plural
from mcp_dashboard.widgets.what_it_did import WhatItDid


def section(title: str, body: str | Text, *, classes: str = "") -> list[Static]:
    return [
        Static(title, classes="detail-heading"),
        Static(body if body else Text("(none)", style="dim"), classes=f"detail-body {classes}"),
    ]


def facts(test: TestState) -> list[str]:
    """The line under the title: its group (a critical path or a module), time, place, flags."""
    group = f"critical path: {test.critical_path}" if test.by_marker else "module"
    where = test.file or test.nodeid.partition("::")[0]
    if test.line:
        where += f":{test.line}"
    found = [
        group if test.by_marker else f"module: {where}",
        f"duration: {duration(test.duration)}",
    ]
    if test.by_marker:
        found.append(f"at {where}")
    if test.worker:
        found.append(f"worker {test.worker}")
    if test.flaky:
        found.append("flaky: passed and failed on the same code in recent runs")
    if test.slower:
        found.append("slower than its median")
    if test.leaked:
        found.append(f"leak: left {plural(len(test.leaked), 'session')} open")
    if test.reason:
        found.append(f"reason: {test.reason}")
    return found


class TestDetailScreen(Screen[None]):
    __test__ = False  # not a pytest test class, despite the name
    # A traceback is longer than the screen: up, pagedown and end scroll it. (The app has
    # no AUTO_FOCUS; without this no key reached the scroll and only a mouse could.)
    AUTO_FOCUS = "#detail"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", tooltip="back to the panes"),
        Binding(
            "y",
            "copy_traceback",
            "Copy traceback",
            tooltip="copy the traceback (tmux buffer or OSC 52, and a file)",
        ),
        Binding("n", "step(1)", "Next failure", tooltip="next/previous failure"),
        Binding(
            "N", "step(-1)", "Previous failure", key_display="N", tooltip="next/previous failure"
        ),
    ]

    @dataclass
    class Step(Message):
        """Show the next (1) or previous (-1) failure instead of this test."""

        nodeid: str
        direction: int

    def __init__(
        self,
        test: TestState,
        state_dir: Path,
        recent: list[float] | None = None,
        *,
        captured: TraceRows | None = None,
        view: DatabaseView | None = None,
    ) -> None:
        """`captured`: the rows read when the test failed; else `view`, when its database
        holds traced rows, is read for them now (neither: no "What this test did")."""
        super().__init__()
        self.test = test
        self.state_dir = state_dir  # where `y` saves what it copies
        self.recent = recent or []
        self.captured = captured
        self.view = view if test.trace_id else None

    @property
    def traceback(self) -> str:
        return self.test.longrepr

    def compose(self) -> ComposeResult:
        test = self.test
        icon, style = ICONS[test.status]
        title = Text.assemble((f"{icon} {test.status.upper()}", style), "  ", test.nodeid)
        with VerticalScroll(id="detail"):
            yield Static(title, id="detail-title")
            yield Static(" · ".join(facts(test)), id="detail-facts")
            crash = test.crash
            if crash is not None:
                where = f"{crash.path}:{crash.lineno}" if crash.lineno else crash.path
                yield Static(Text(f"{crash.message}\n  at {where}", style="red"), id="crash")
            steps = "\n".join(step.message for step in test.steps)
            yield from section("Steps", Text(steps, style="green") if steps else "")
            yield from section("Traceback", Text(self.traceback), classes="traceback")
            if self.captured is not None or self.view is not None:
                yield WhatItDid(test, id="did")
            yield from section("Captured stdout", Text(test.stdout))
            yield from section("Captured stderr", Text(test.stderr))
            yield from section("Captured log", Text(test.log))
            durations = ", ".join(duration(d) for d in self.recent)
            yield from section("Recent durations (newest first)", durations)
        yield Footer()

    def on_mount(self) -> None:
        if self.captured is not None:
            self.query_one(WhatItDid).show(self.captured, captured=True)
        elif self.view is not None:
            self._read_rows(self.view, self.test.trace_id)

    @work(thread=True, exclusive=True, group="test-rows", exit_on_error=False)
    def _read_rows(self, view: DatabaseView, trace_id: str) -> None:
        self.app.call_from_thread(self._show_rows, view.trace_rows([trace_id]))

    def _show_rows(self, rows: TraceRows) -> None:
        self.query_one(WhatItDid).show(rows, captured=False)

    def action_step(self, direction: int) -> None:
        self.post_message(self.Step(self.test.nodeid, direction))

    def action_copy_traceback(self) -> None:
        if not self.traceback:
            self.notify("This test has no traceback to copy.", severity="warning")
            return
        self.app.copy_to_clipboard(self.traceback)  # the app's copy, and OSC 52 on a terminal
        self._save(self.traceback, osc52_sent=not self.app.is_headless)

    @work(thread=True, exclusive=True, group="copy", exit_on_error=False)
    def _save(self, text: str, *, osc52_sent: bool) -> None:
        copied = copy_text(text, self.state_dir, osc52_sent=osc52_sent)
        lines = len(text.splitlines())
        self.app.call_from_thread(self.notify, copied.message(f"the traceback ({lines} lines)"))
