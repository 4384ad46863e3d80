"""Which test files a change affects: a static import graph of the project.

Every `.py` file under the project root is parsed once (`ast`, no import runs)
for the modules it imports; the results are cached in the state directory, keyed
by each file's mtime and size, so a restart reparses only what changed, and a
watched change reparses only the files it names.

import_names.py reads the dotted names a file imports and derives, from its
path, the names it answers to; an edge joins an importer to every file that
answers to a name it imports. Unresolved names are kept too, so a module created later
links to the tests that already import it.

What a change affects, by walking "imported by" edges from each changed file:
the test files reached (a changed test file is itself one), and for each
`conftest.py` reached, every test file under its directory. A deleted file
affects the tests that imported it (they now fail to import: rerun them).
Over-selection (two files answering to one name) is accepted; missing a test
is not.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatch
from pathlib import Path

from mcp_dashboard.import_names import names_of, parse_imports

CACHE_FILE = "import-graph.json"
CACHE_VERSION = 1
# pytest's default `python_files` (watch.py passes the project's: pytest_config.py).
TEST_PATTERNS = ("test_*.py", "*_test.py")
# Never part of the project's code: version control, caches, environments, our state.
IGNORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        "node_modules",
        ".mcp-dashboard",  # runner.STATE_DIR (not imported: this module stays dependency-free)
    }
)
VENV_MARKER = "pyvenv.cfg"  # a virtual environment, whatever its directory is called


class ChangeKind(StrEnum):
    CHANGED = "changed"
    ADDED = "added"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Effect:
    """One changed file and the test files it affects (paths relative to the root, '/')."""

    path: str
    kind: ChangeKind
    tests: tuple[str, ...]
    is_test: bool = False
    conftest_dir: str | None = None  # a conftest.py's directory ('' for the root)


@dataclass(frozen=True, slots=True)
class Impact:
    """What a batch of changes affects: each project file's effect, and their union."""

    effects: tuple[Effect, ...] = ()

    @property
    def tests(self) -> tuple[str, ...]:
        return tuple(sorted({t for e in self.effects for t in e.tests}))


@dataclass(frozen=True, slots=True)
class _Entry:
    mtime_ns: int
    size: int
    imports: tuple[str, ...]


class ImportGraph:
    """The project's import graph. `scan()` once, then `update(paths)` per change batch.

    `parsed` counts the files parsed since this object was made; `last_parsed` names
    those of the last `scan` or `update` (the cache's own bookkeeping, for tests and logs).
    """

    def __init__(
        self,
        root: Path,
        cache: Path | None = None,
        *,
        ignored: Iterable[Path] = (),
        test_patterns: tuple[str, ...] = TEST_PATTERNS,
    ) -> None:
        self.root = root.resolve()
        self.cache = cache
        self.ignored = tuple(p.resolve() for p in ignored)
        self.test_patterns = test_patterns
        self.parsed = 0
        self.last_parsed: tuple[str, ...] = ()
        self._entries: dict[str, _Entry] = self._load()
        self._dirty = False
        self._names: dict[str, tuple[str, ...]] = {}  # file -> the names it answers to
        self._importers: dict[str, set[str]] = {}
        self._index()

    # -- what is in the project ---------------------------------------------------

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))

    def is_test(self, path: str) -> bool:
        """Whether pytest collects `path` as a test file: its `python_files` patterns,
        matched as pytest's `fnmatch_ex` does (a pattern with a '/' against the path)."""
        name = path.rsplit("/", 1)[-1]
        return any(
            fnmatch(name, pattern)
            if "/" not in pattern
            else fnmatch(
                f"{self.root}/{path}", pattern if pattern.startswith("/") else "*/" + pattern
            )
            for pattern in self.test_patterns
        )

    def imports(self, path: str) -> tuple[str, ...]:
        """The dotted names a file imports (resolved, parents included)."""
        entry = self._entries.get(path)
        return () if entry is None else entry.imports

    def relative(self, path: Path | str) -> str | None:
        """`path` relative to the root with '/', or None if it is not part of the project."""
        return project_relative(self.root, path, self.ignored)

    # -- keeping it current --------------------------------------------------------

    def scan(self) -> Impact:
        """Walk the whole project: parse new files and files whose mtime or size changed."""
        found = dict(self._walk(self.root))
        changed = [(p, st) for p, st in found.items() if _stale(self._entries.get(p), st)]
        deleted = [p for p in self._entries if p not in found]
        return self._apply(changed, deleted)

    def update(self, paths: Iterable[Path | str]) -> Impact:
        """Changes the watcher saw: reparse these files (a directory: the files under it);
        a path that is gone takes every known file at or under it out of the graph."""
        changed: dict[str, os.stat_result] = {}
        deleted: set[str] = set()
        for path in paths:
            rel = self.relative(path)
            if rel is None:
                continue
            absolute = self.root / rel
            try:
                st = absolute.stat()
            except OSError:
                deleted.update(p for p in self._entries if p == rel or p.startswith(rel + "/"))
                continue
            if absolute.is_dir():
                changed.update(
                    (p, s) for p, s in self._walk(absolute) if _stale(self._entries.get(p), s)
                )
            elif rel.endswith(".py"):
                changed[rel] = st
        return self._apply(list(changed.items()), sorted(deleted))

    def _apply(self, changed: list[tuple[str, os.stat_result]], deleted: list[str]) -> Impact:
        old_names = {p: self._names.get(p, ()) for p in deleted}
        parsed = []
        kinds: dict[str, ChangeKind] = {}
        for rel, st in sorted(changed, key=lambda change: change[0]):
            previous = self._entries.get(rel)
            kinds[rel] = ChangeKind.ADDED if previous is None else ChangeKind.CHANGED
            imports = parse_imports(self.root / rel, rel)
            if imports is None:  # mid-edit syntax error: keep what it imported before
                imports = previous.imports if previous else ()
            self._entries[rel] = _Entry(st.st_mtime_ns, st.st_size, imports)
            parsed.append(rel)
        for rel in deleted:
            self._entries.pop(rel, None)
            kinds[rel] = ChangeKind.DELETED
        self.parsed += len(parsed)
        self.last_parsed = tuple(parsed)
        if kinds:
            self._dirty = True
            self._index()
            self.save()
        return Impact(
            tuple(
                self._effect(rel, kind, old_names.get(rel)) for rel, kind in sorted(kinds.items())
            )
        )

    # -- what a change affects -------------------------------------------------------

    def _effect(self, rel: str, kind: ChangeKind, old_names: tuple[str, ...] | None) -> Effect:
        names = old_names if old_names is not None else self._names.get(rel, ())
        tests = self._reach(rel, names)
        conftest = _conftest_dir(rel)
        return Effect(rel, kind, tuple(sorted(tests)), self.is_test(rel), conftest)

    def _reach(self, start: str, names: tuple[str, ...]) -> set[str]:
        """Test files reached from `start` along "imported by" edges (conftests: their tree)."""
        tests: set[str] = set()
        seen = {start}
        queue: deque[tuple[str, tuple[str, ...]]] = deque([(start, names)])
        while queue:
            path, path_names = queue.popleft()
            tests.update(self._tests_of(path))
            for name in path_names:
                for importer in self._importers.get(name, ()):
                    if importer not in seen:
                        seen.add(importer)
                        queue.append((importer, self._names.get(importer, ())))
        return tests

    def _tests_of(self, path: str) -> Iterator[str]:
        """The tests a file stands for: itself if it is one, a conftest's whole tree."""
        if path not in self._entries:
            return
        if self.is_test(path):
            yield path
        directory = _conftest_dir(path)
        if directory is not None:
            prefix = directory + "/" if directory else ""
            yield from (p for p in self._entries if p.startswith(prefix) and self.is_test(p))

    # -- the indexes -------------------------------------------------------------------

    def _index(self) -> None:
        """The names each file answers to, the importers of each name: linear in size."""
        packages = {p.rsplit("/", 1)[0] for p in self._entries if p.endswith("/__init__.py")}
        self._names = {p: names_of(p, packages) for p in self._entries}
        self._importers = defaultdict(set)
        for path, entry in self._entries.items():
            for name in entry.imports:
                self._importers[name].add(path)

    def _walk(self, top: Path) -> Iterator[tuple[str, os.stat_result]]:
        for directory, dirs, files in os.walk(top):
            here = Path(directory)
            dirs[:] = sorted(
                d
                for d in dirs
                if not _ignored_dir(d)
                and not (here / d / VENV_MARKER).exists()
                and (here / d).resolve() not in self.ignored
            )
            for name in files:
                if name.endswith(".py"):
                    rel = self.relative(here / name)
                    if rel is not None:
                        with contextlib.suppress(OSError):
                            yield rel, (here / name).stat()

    # -- the cache file ------------------------------------------------------------------

    def _load(self) -> dict[str, _Entry]:
        if self.cache is None:
            return {}
        try:
            data = json.loads(self.cache.read_text(encoding="utf-8"))
            if data.get("version") != CACHE_VERSION or data.get("root") != str(self.root):
                return {}
            return {
                path: _Entry(int(mtime), int(size), tuple(str(n) for n in imports))
                for path, (mtime, size, imports) in data["files"].items()
            }
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}  # no cache, or an unreadable one: parse everything again

    def save(self) -> None:
        """Write the cache if it changed (atomically: a reader never sees half a file)."""
        if self.cache is None or not self._dirty:
            return
        data = {
            "version": CACHE_VERSION,
            "root": str(self.root),
            "files": {p: [e.mtime_ns, e.size, list(e.imports)] for p, e in self._entries.items()},
        }
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        partial = self.cache.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(partial, self.cache)
        self._dirty = False


def project_relative(root: Path, path: Path | str, ignored: tuple[Path, ...] = ()) -> str | None:
    """`path` relative to the (resolved) root with '/'; None outside the project, in a
    venv, a cache, .git, the state directory or one of the `ignored` directories."""
    absolute = Path(os.path.abspath(root / path))
    try:
        parts = absolute.relative_to(root).parts
    except ValueError:
        return None
    if not parts or any(_ignored_dir(p) for p in parts):
        return None
    if any(absolute == p or p in absolute.parents for p in ignored):
        return None
    here = root
    for part in parts[:-1]:
        here = here / part
        if (here / VENV_MARKER).exists():
            return None
    return "/".join(parts)


def _ignored_dir(name: str) -> bool:
    return name in IGNORED_DIRS or name.endswith(".egg-info")


def _stale(entry: _Entry | None, st: os.stat_result) -> bool:
    return entry is None or (entry.mtime_ns, entry.size) != (st.st_mtime_ns, st.st_size)


def _conftest_dir(path: str) -> str | None:
    if path == "conftest.py":
        return ""
    if path.endswith("/conftest.py"):
        return path.rsplit("/", 1)[0]
    return None
