"""The header: run status, elapsed time, progress bar and counts."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from mcp_dashboard.state import RunState
from mcp_dashboard.widgets.labels import ICONS, RUN_STYLES

SHOWN_COUNTS = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "running")


def elapsed(state: RunState, now: float | None = None) -> float:
    """Seconds since the run started; a finished run's length never changes."""
    if state.started_at is None:
        return 0.0
    end = state.finished_at if state.finished_at is not None else (now or time.time())
    return max(0.0, end - state.started_at)


def status_text(state: RunState) -> Text:
    text = Text(state.status.upper(), style=RUN_STYLES.get(state.status, ""))
    if state.reason and state.status not in ("running", "pending"):
        text.append(f"  {state.reason}", style="dim")
    return text


def counts_text(state: RunState) -> Text:
    counts = state.counts.as_dict()
    text = Text()
    for name in SHOWN_COUNTS:
        if counts[name]:
            icon, style = ICONS[name]
            text.append(f"{icon} {counts[name]} {name}  ", style=style)
    return text


class RunHeader(Horizontal):
    def compose(self) -> ComposeResult:
        yield Static(id="run-status")
        yield Static(id="run-elapsed")
        yield ProgressBar(show_eta=False, id="run-progress")
        yield Static(id="run-counts")

    def show(self, state: RunState, now: float | None = None) -> None:
        done, total = state.progress
        self.query_one("#run-status", Static).update(status_text(state))
        self.query_one("#run-elapsed", Static).update(f"{elapsed(state, now):6.1f}s")
        # Unknown size while collecting: the bar sweeps. Before any run: an empty bar.
        if not total:
            total = None if state.status == "running" else 1
        self.query_one("#run-progress", ProgressBar).update(total=total, progress=done)
        self.query_one("#run-counts", Static).update(counts_text(state))
