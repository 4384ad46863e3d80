"""No widget, screen or app of the dashboard reuses a name Textual already gives a meaning.

The type checker found three: `DashboardApp.visible(test)` hid `DOMNode.visible` (a
property Textual reads to decide what is shown), `PathPane.tree` hid `DOMNode.tree`,
and a page start called `offset` would have moved the table on screen (`Widget.offset`
is its position). This test reads every class of the package and every `self.<name> =`
in it, so a new clash fails here even where the types happen to agree.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
from pathlib import Path

from textual.dom import DOMNode

import mcp_dashboard

# Names Textual asks subclasses to set or override.
HOOKS = {
    "BINDINGS",
    "CSS",
    "CSS_PATH",
    "DEFAULT_CSS",
    "COMPONENT_CLASSES",
    "TITLE",
    "AUTO_FOCUS",
    "can_focus",
}
# Textual's own properties that a widget sets on purpose, meaning Textual's meaning.
INTENDED = {"display", "tooltip"}


def our_textual_classes() -> list[type]:
    found = []
    root = Path(mcp_dashboard.__file__).parent
    for info in pkgutil.walk_packages([str(root)], prefix="mcp_dashboard."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, DOMNode):
                found.append(cls)
    return found


def assigned_names(cls: type) -> set[str]:
    """Names the class's own source defines: its methods and class attributes, and every
    `self.<name> = …` in its methods."""
    [body] = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
    assert isinstance(body, ast.ClassDef)
    names = set()
    for item in body.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(item.name)
        elif isinstance(item, ast.Assign):
            names |= {t.id for t in item.targets if isinstance(t, ast.Name)}
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.add(item.target.id)
    names = {n for n in names if not n.startswith("__")}
    for node in ast.walk(body):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        for target in targets:
            parts = target.elts if isinstance(target, ast.Tuple) else [target]
            for part in parts:
                if (
                    isinstance(part, ast.Attribute)
                    and isinstance(part.value, ast.Name)
                    and part.value.id == "self"
                ):
                    names.add(part.attr)
    return names


def clashes(cls: type) -> list[str]:
    textual = [b for b in cls.__mro__ if b.__module__.startswith("textual.")]
    found = []
    for name in sorted(assigned_names(cls) - HOOKS - INTENDED):
        for base in textual:
            if name not in vars(base):
                continue
            theirs, ours = vars(base)[name], inspect.getattr_static(cls, name, None)
            overriding_a_method = (
                inspect.isfunction(theirs) and ours is not None and inspect.isfunction(ours)
            )
            if not overriding_a_method:
                found.append(f"{cls.__qualname__}.{name} hides {base.__qualname__}.{name}")
            break
    return found


def test_the_package_has_textual_classes_to_check() -> None:
    names = {cls.__name__ for cls in our_textual_classes()}
    assert {"DashboardApp", "MonitorApp", "PaneGrid", "PathPane", "TestList"} <= names


def test_no_widget_reuses_a_name_textual_gives_a_meaning() -> None:
    assert [c for cls in our_textual_classes() for c in clashes(cls)] == []


def test_the_check_finds_the_clashes_it_was_written_for() -> None:
    from textual.widget import Widget

    class Shadowing(Widget):
        def visible(self, test: object) -> bool:  # type: ignore[override]  # the defect
            return True

        def start(self) -> None:
            self.offset = 3  # type: ignore[assignment]  # the page start that moved a table

    assert clashes(Shadowing) == [
        "test_the_check_finds_the_clashes_it_was_written_for.<locals>.Shadowing.offset "
        "hides Widget.offset",
        "test_the_check_finds_the_clashes_it_was_written_for.<locals>.Shadowing.visible "
        "hides DOMNode.visible",
    ]
