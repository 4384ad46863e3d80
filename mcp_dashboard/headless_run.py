"""One `--ci` run's event loop: each event folded into the state, then drawn by the printer.

Shared by `--ci` (cli.drive) and `--watch --ci` (watch_ci), which start and cancel
their runs differently but must print them the same way.
"""

from __future__ import annotations

from mcp_dashboard.headless import HeadlessPrinter
from mcp_dashboard.runner import Run
from mcp_dashboard.state import RunState, reduce


async def fold(run: Run, printer: HeadlessPrinter) -> RunState:
    """Every event of a started run folded into the state; the printer draws each change."""
    state = RunState()
    async for event in run:
        new = reduce(state, event)
        printer.update(state, new, getattr(event, "nodeid", None))
        state = new
    return state
