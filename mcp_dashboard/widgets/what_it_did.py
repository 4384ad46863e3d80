"""A test's detail, "What this test did": the rows its trace left in the service database.

Its tool calls as a timeline (offset from the test's start, a bar placing the call in the
test's time, duration, tool, status), its sessions and clients, and the sessions still
open when it finished, flagged as leaks. A failed test shows its rows as they were read
at the failure (test_rows.py), and says so.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from mcp_dashboard.db_views.queries import short_id, truncate
from mcp_dashboard.db_views.traces import TraceCall, TraceRows, TraceSession
from mcp_dashboard.state import TestState
from mcp_dashboard.widgets.labels import plural

BAR_WIDTH = 24  # cells of a call's bar: the test's time from start to finish
STATUS_STYLES = {"success": "green", "denied": "yellow", "rate_limited": "yellow"}


def summary(rows: TraceRows) -> str:
    """`3 tool calls · 1 session · 1 client`."""
    return " · ".join(
        (
            plural(len(rows.calls), "tool call"),
            plural(len(rows.sessions), "session"),
            plural(len(rows.clients), "client"),
        )
    )


def _bar(call: TraceCall, start: float, span: float) -> str:
    """Where the call falls in the test's time: `··██····`."""
    if span <= 0:
        return "█" * BAR_WIDTH
    first = int((call.started - start) / span * BAR_WIDTH)
    first = max(0, min(BAR_WIDTH - 1, first))
    cells = max(1, round(call.duration_ms / 1000 / span * BAR_WIDTH))
    last = min(BAR_WIDTH, first + cells)
    return "·" * first + "█" * (last - first) + "·" * (BAR_WIDTH - last)


def timeline(test: TestState, calls: tuple[TraceCall, ...]) -> Text:
    """One line per call, oldest first: `+0.012s ··██···· 1.2 ms echo success`."""
    text = Text()
    if not calls:
        return text
    start = test.started_at if test.started_at is not None else calls[0].started
    end = test.finished_at or max(c.started + c.duration_ms / 1000 for c in calls)
    span = max(end - start, 1e-6)
    for call in calls:
        if text:
            text.append("\n")
        text.append(f"{f'+{call.started - start:.3f}s':>9} ", style="dim")
        text.append(_bar(call, start, span), style="cyan")
        text.append(f" {call.duration_ms:9.1f} ms  {truncate(call.tool, 24):<24} ")
        text.append(call.status, style=STATUS_STYLES.get(call.status, "bold red"))
        if call.error:
            text.append(f"  {truncate(call.error, 80)}", style="dim")
    return text


def sessions_text(test: TestState, sessions: tuple[TraceSession, ...]) -> Text:
    """A line per session; those open when the test finished end in `LEAK`."""
    text = Text()
    for session in sessions:
        if text:
            text.append("\n")
        text.append(f"{short_id(session.session_id)}  {truncate(session.client, 24):<24} ")
        text.append(f"{session.status:<8} {plural(session.requests, 'request'):>12}")
        if test.finished_at is not None and session.open_after(test.finished_at):
            text.append(
                "  LEAK: still open after the test finished"
                if session.closed is None
                else "  LEAK: left open by the test (closed later)",
                style="bold red",
            )
    return text


def clients_text(rows: TraceRows) -> Text:
    lines = (
        f"{short_id(c.client_id)}  {truncate(c.name, 24):<24} {c.tier:<9}"
        + (" revoked" if c.revoked else "")
        for c in rows.clients
    )
    return Text("\n".join(line.rstrip() for line in lines))


class WhatItDid(Vertical):
    """The section; empty (and hidden) until `show` is given the rows."""

    def __init__(self, test: TestState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.test = test
        self.rows: TraceRows | None = None
        self.captured = False

    def compose(self) -> ComposeResult:
        yield Static("What this test did", classes="detail-heading")
        yield Static(Text("Reading its rows…", style="dim"), id="did-summary")
        for name in ("calls", "sessions", "clients"):
            yield Static(classes="did-heading", id=f"did-{name}-heading")
            yield Static(classes="detail-body", id=f"did-{name}")

    def show(self, rows: TraceRows, *, captured: bool) -> None:
        """Draw these rows; `captured`: read at the failure and kept since."""
        self.rows, self.captured = rows, captured
        line = Text(summary(rows))
        if captured:
            line.append("  (as they were when it failed)", style="bold")
        if rows.truncated:
            line.append("  (the first ones: it made more)", style="yellow")
        if rows.error is not None:
            line = Text(rows.error, style="bold red")
        self.query_one("#did-summary", Static).update(line)
        parts = {
            "calls": ("Tool calls (offset from the test's start)", timeline(self.test, rows.calls)),
            "sessions": ("Sessions", sessions_text(self.test, rows.sessions)),
            "clients": ("Clients", clients_text(rows)),
        }
        for name, (heading, body) in parts.items():
            self.query_one(f"#did-{name}-heading", Static).update(heading)
            self.query_one(f"#did-{name}", Static).update(body or Text("(none)", style="dim"))
