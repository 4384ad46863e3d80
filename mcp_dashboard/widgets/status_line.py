"""The line under the panes: the tests running now (as cargo-nextest shows them), or, after the
run, the full node id of the test under the cursor, which a pane may have had to shorten."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from mcp_dashboard.state import RunState, TestState
from mcp_dashboard.status import RunStatus, TestStatus
from mcp_dashboard.widgets.labels import ICONS, duration, fit, test_name

HINT = "enter open · n/N next/previous failure · f rerun failed · ? every key"


def running_line(state: RunState, now: float, width: int) -> Text:
    """`◌ 3 running: test_a 4.1s · test_b 0.3s · +1 more`, longest running first."""
    running = sorted(
        (t for t in state.tests.values() if t.status == TestStatus.RUNNING),
        key=lambda t: t.started_at if t.started_at is not None else now,
    )
    icon, style = ICONS[TestStatus.RUNNING]
    if not running:
        word = "collecting" if not state.collection_complete else "starting"
        return Text(f"{icon} {word}…", style="dim")
    line = Text.assemble((f"{icon} {len(running)} running: ", style))
    for index, test in enumerate(running):
        since = now - test.started_at if test.started_at is not None else 0.0
        part = f"{test_name(test)} {duration(max(0.0, since))}"
        left = len(running) - index - 1
        more = f" · +{left} more" if left else ""
        room = width - line.cell_len - (3 if index else 0) - len(more)
        if room < 12:  # the part before kept room for this
            line.append(f" · +{len(running) - index} more", style="dim")
            break
        if index:
            line.append(" · ", style="dim")
        line.append(fit(part, room))
    line.truncate(width)
    return line


def selection_line(test: TestState | None, width: int) -> Text:
    if test is None:
        return Text(fit(HINT, width), style="dim")
    icon, style = ICONS[test.status]
    line = Text.assemble((icon, style), " ", test.nodeid)
    if test.finished:
        line.append(f"  {duration(test.duration)}", style="dim")
    if len(line) > width:
        line = Text.assemble((icon, style), " ", fit(test.nodeid, max(1, width - 2)))
    return line


class StatusLine(Widget):
    DEFAULT_CSS = "StatusLine { height: 1; padding: 0 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = RunState()
        self.selected: TestState | None = None
        self.now = 0.0

    def show(self, state: RunState, selected: TestState | None, now: float) -> None:
        self.state, self.selected, self.now = state, selected, now
        self.refresh()

    def render(self) -> Text:
        width = self.content_region.width
        if self.state.active and self.state.status != RunStatus.PENDING:
            return running_line(self.state, self.now, width)
        return selection_line(self.selected, width)
