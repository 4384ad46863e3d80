"""One pane per critical path: its status and counts, and a live tree of tests and steps.

The pane is told which tests changed and touches only their nodes, so a
5,000-test run costs a label update per changed test, not a redraw of all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from mcp_dashboard.state import PathStats, TestState
from mcp_dashboard.widgets.labels import FAILED, ICONS, seconds, test_label

Visible = Callable[[TestState], bool]


def pane_status(stats: PathStats, run_active: bool) -> str:
    counts = stats.counts
    if counts.failed or counts.error:
        return "failed"
    if counts.running or (run_active and counts.pending):
        return "running"
    if counts.total and counts.done == counts.total:
        return "passed"
    return "pending"


def pane_title(stats: PathStats, status: str) -> Text:
    icon, style = ICONS.get(status, ("·", "dim"))
    counts = stats.counts
    title = Text.assemble((f"{icon} {stats.name}", style), "  ")
    title.append(f"{counts.done}/{counts.total}", style="bold")
    for name in ("passed", "failed", "error", "skipped", "xfailed", "xpassed"):
        value = getattr(counts, name)
        if value:
            title.append(f"  {value} {name}", style=ICONS[name][1])
    if stats.duration:
        title.append(f"  {seconds(stats.duration)}", style="dim")
    return title


class TestTree(Tree[str]):
    """Tests (data: node id) with their step lines as children (data: None)."""

    ICON_NODE = ""
    ICON_NODE_EXPANDED = ""


class PathPane(Vertical):
    @dataclass
    class TestChosen(Message):
        """The user pressed Enter on a test."""

        nodeid: str

    def __init__(self, path: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.path = path
        self._test_nodes: dict[str, TreeNode[str]] = {}
        self._steps_shown: dict[str, int] = {}
        self._status: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static(Text(self.path), classes="pane-title")
        tree = TestTree(self.path)
        tree.show_root = False
        tree.guide_depth = 2
        tree.auto_expand = False  # Enter opens the test; space folds it
        yield tree

    @property
    def tree(self) -> TestTree:
        return self.query_one(TestTree)

    def show_stats(self, stats: PathStats, run_active: bool) -> None:
        status = pane_status(stats, run_active)
        self.set_classes(f"pane-{status}")
        self.query_one(".pane-title", Static).update(pane_title(stats, status))

    def sync(self, tests: Iterable[TestState], visible: Visible) -> None:
        """Bring the nodes of these (changed) tests up to date."""
        for test in tests:
            if visible(test):
                self._show(test)
            elif test.nodeid in self._test_nodes:
                self._test_nodes.pop(test.nodeid).remove()
                self._steps_shown.pop(test.nodeid, None)
                self._status.pop(test.nodeid, None)

    def rebuild(self, tests: Iterable[TestState], visible: Visible) -> None:
        """Start again from scratch (the filter changed)."""
        self.tree.clear()
        self._test_nodes.clear()
        self._steps_shown.clear()
        self._status.clear()
        self.sync(tests, visible)

    def _show(self, test: TestState) -> None:
        node = self._test_nodes.get(test.nodeid)
        if node is None:
            node = self.tree.root.add(test_label(test), data=test.nodeid, expand=True)
            self._test_nodes[test.nodeid] = node
        else:
            node.set_label(test_label(test))
        shown = self._steps_shown.get(test.nodeid, 0)
        for step in test.steps[shown:]:
            node.add_leaf(Text(step.message, style="green"))
        self._steps_shown[test.nodeid] = len(test.steps)
        # Fold a test away when it passes; leave the user's own folding alone otherwise.
        if self._status.get(test.nodeid) != test.status:
            self._status[test.nodeid] = test.status
            if test.finished and test.status not in FAILED:
                node.collapse()
            else:
                node.expand()

    @on(Tree.NodeSelected)
    def _chosen(self, event: Tree.NodeSelected[str]) -> None:
        event.stop()
        nodeid = event.node.data or (event.node.parent.data if event.node.parent else None)
        if nodeid:
            self.post_message(self.TestChosen(nodeid))
