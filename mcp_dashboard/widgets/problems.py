"""pytest's own complaints, where the user looks: collection errors (file, line, message),
usage and internal errors, and "no tests collected", each with pytest's text."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from mcp_dashboard.state import RunState
from mcp_dashboard.summary import collection_headline, plural, pytest_complaint


def problems_text(state: RunState, paths: list[str]) -> Text | None:
    """What went wrong outside the tests, or None when nothing did."""
    text = Text()
    for problem in state.collection_errors:
        text.append(f"ERROR collecting {problem.nodeid}\n", style="bold red")
        text.append(collection_headline(problem) + "\n", style="bold")
    for problem in state.collection_errors:  # then pytest's own words, in full
        text.append(f"\n{problem.longrepr.rstrip()}\n", style="dim")
    if (state.finished and state.exit_status in (3, 4)) or (
        state.finished and state.started_at is None and state.exit_status
    ):
        title = {3: "pytest hit an internal error", 4: "pytest refused its arguments"}
        text.append(
            title.get(state.exit_status or 0, "pytest did not start") + "\n", style="bold red"
        )
        said = (state.output or state.reason).rstrip()
        text.append((pytest_complaint(said) if state.exit_status == 4 else said) + "\n")
    if state.finished and state.exit_status == 5:
        where = " ".join(paths) or state.rootdir or "this directory"
        text.append("No tests collected\n", style="bold yellow")
        found = f"pytest found no tests to run in {where}"
        if state.deselected:
            found += f": {plural(state.deselected, 'test')} deselected by -k, -m or --pattern"
        text.append(found + ".\n")
    return text if text else None


class ProblemsPanel(VerticalScroll, can_focus=True):
    """Hidden while there is nothing to say; scrolls when pytest says a lot."""

    def compose(self) -> ComposeResult:
        yield Static(id="problems-text")

    _shown: RunState | None = None

    def show(self, state: RunState, paths: list[str]) -> None:
        if state is self._shown:
            return
        self._shown = state
        text = problems_text(state, paths)
        self.display = text is not None
        if text is not None:
            self.query_one("#problems-text", Static).update(text)
