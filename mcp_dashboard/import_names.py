"""The dotted names a Python file imports, and the names it answers to: read with `ast`.

A file answers to two names: its path from the project root (`tests.unit.test_x`,
`src.pkg.mod`), and its package name (the chain of directories holding an
`__init__.py`: `pkg.mod` in a src layout, `test_x` in a test directory without
one, as pytest's rootdir-relative import puts it on `sys.path`). An import names
candidates: `import a.b` is `a.b` and `a` (Python runs `a/__init__.py` first),
`from a import b` adds `a.b` (b may be a module); relative imports resolve against
the file's directory; `pytest_plugins = [...]` counts as imports. Nothing is run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path


def names_of(path: str, packages: set[str]) -> tuple[str, ...]:
    """The dotted names a file answers to: its path from the root, and its package chain
    (from the first directory above it, going up, that holds no `__init__.py`)."""
    module = path[: -len(".py")].split("/")
    directories = module[:-1]
    if module[-1] == "__init__":
        module = directories  # a package's __init__ is the package
    if not module:
        return ()
    packaged = 0
    while (
        packaged < len(directories)
        and "/".join(directories[: len(directories) - packaged]) in packages
    ):
        packaged += 1
    return tuple(sorted({".".join(module), ".".join(module[len(directories) - packaged :])} - {""}))


def parse_imports(file: Path, rel: str) -> tuple[str, ...] | None:
    """Every module name a file imports (anywhere in it), parents included; None if the
    file cannot be read or parsed."""
    try:
        tree = ast.parse(file.read_bytes(), filename=rel)
    except (OSError, SyntaxError, ValueError):
        return None
    directory = rel.split("/")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.update(_with_parents(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, directory)
            if base is None:
                continue
            found.update(_with_parents(base))
            for alias in node.names:
                if alias.name != "*":
                    found.add(f"{base}.{alias.name}" if base else alias.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            found.update(_pytest_plugins(node))
    found.discard("")
    return tuple(sorted(found))


def _from_base(node: ast.ImportFrom, directory: list[str]) -> str | None:
    """The module of `from X import …`; a relative one resolved against the file's directory."""
    if not node.level:
        return node.module or None
    up = node.level - 1
    if up > len(directory):
        return None  # beyond the root: not a project module
    base = directory[: len(directory) - up]
    return ".".join([*base, *([node.module] if node.module else [])])


def _with_parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        yield ".".join(parts[:end])


def _pytest_plugins(node: ast.Assign | ast.AnnAssign) -> Iterator[str]:
    """`pytest_plugins = ["a.b", …]` in a conftest: plugins are imports too."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if not any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in targets):
        return
    value = node.value
    items = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
    for item in items:
        if isinstance(item, ast.Constant) and isinstance(item.value, str):
            yield from _with_parents(item.value)
