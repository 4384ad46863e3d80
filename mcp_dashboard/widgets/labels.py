"""How a status looks, shared by every widget so a failure looks the same everywhere."""

from __future__ import annotations

from rich.text import Text

from mcp_dashboard.state import TestState

ICONS = {
    "pending": ("·", "dim"),
    "running": ("◌", "bold yellow"),
    "passed": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "error": ("E", "bold red"),
    "skipped": ("s", "yellow"),
    "xfailed": ("x", "yellow"),
    "xpassed": ("X", "bold yellow"),
    "interrupted": ("!", "bold magenta"),
}
RUN_STYLES = {
    "pending": "dim",
    "running": "bold yellow",
    "passed": "bold green",
    "failed": "bold red",
    "aborted": "bold magenta",
    "cancelled": "bold magenta",
}
FAILED = frozenset({"failed", "error"})


def short_name(test: TestState) -> str:
    """The test's own name (with its parameters); the detail screen shows the full node id."""
    return test.nodeid.rsplit("::", 1)[-1]


def seconds(value: float) -> str:
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"


def test_label(test: TestState) -> Text:
    icon, style = ICONS.get(test.status, ("?", ""))
    label = Text.assemble((icon, style), " ", short_name(test))
    if test.finished:
        label.append(f"  {seconds(test.duration)}", style="dim")
    if test.flaky:
        label.append("  flaky", style="bold magenta")
    if test.slower:
        label.append("  slower", style="bold yellow")
    return label
