"""Watch mode on a temporary project written for real: the import graph's selections, its
incremental cache, the watch plan's queueing, and `mcp-dashboard --watch --ci` end to end."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from mcp_dashboard.import_graph import ChangeKind, Effect, ImportGraph
from mcp_dashboard.options import parse
from mcp_dashboard.pytest_config import python_files
from mcp_dashboard.watch import Outcomes, Phase, ProjectFilter, WatchPlan, WatchSession
from mcp_dashboard.watch_ci import KEYS
from tests.dashboard.watch_child import WatchChild

PROJECT = {
    "pytest.ini": "[pytest]\n",
    "conftest.py": "",
    "pkg/__init__.py": "",
    "pkg/core.py": "def value() -> int:\n    return 1\n",
    "pkg/helpers.py": "from .core import value\n\n\ndef double() -> int:\n    return 2 * value()\n",
    "pkg/other.py": 'def name() -> str:\n    return "old"\n',
    "pkg/sub/__init__.py": "",
    "pkg/sub/deep.py": "from ..helpers import double\n\n\ndef quadruple() -> int:\n"
    "    return 2 * double()\n",
    "tests/conftest.py": "",
    "tests/support.py": "from pkg.other import name\n",
    "tests/test_core.py": "import pkg.core\n\n\ndef test_core():\n"
    "    assert pkg.core.value() == 1\n",
    "tests/test_helpers.py": "from pkg.helpers import double\n\n\ndef test_double():\n"
    "    assert double() == 2\n",
    "tests/test_other.py": "from pkg import other\n\n\ndef test_name():\n"
    '    assert other.name() == "new"\n\n\ndef test_other():\n    pass\n',
    "tests/test_deep.py": "from pkg.sub.deep import quadruple\n\n\ndef test_deep():\n"
    "    assert quadruple() == 4\n",
    "tests/sub/conftest.py": "",
    "tests/sub/test_sub.py": "from tests.support import name\n\n\ndef test_sub():\n"
    "    assert name\n",
    # Not the project's code: a venv (by name, and by its pyvenv.cfg), caches, our state.
    ".venv/pyvenv.cfg": "",
    ".venv/lib/test_venv.py": "import pkg.core\n",
    "env2/pyvenv.cfg": "",
    "env2/test_in_env.py": "import pkg.core\n",
    "pkg/__pycache__/test_cached.py": "import pkg.core\n",
    ".mypy_cache/test_m.py": "import pkg.core\n",
    ".pytest_cache/test_p.py": "import pkg.core\n",
    ".mcp-dashboard/test_state.py": "import pkg.core\n",
    ".git/test_git.py": "import pkg.core\n",
}
PROJECT_FILES = (
    "conftest.py",
    "pkg/__init__.py",
    "pkg/core.py",
    "pkg/helpers.py",
    "pkg/other.py",
    "pkg/sub/__init__.py",
    "pkg/sub/deep.py",
    "tests/conftest.py",
    "tests/sub/conftest.py",
    "tests/sub/test_sub.py",
    "tests/support.py",
    "tests/test_core.py",
    "tests/test_deep.py",
    "tests/test_helpers.py",
    "tests/test_other.py",
)
ALL_TESTS = (
    "tests/sub/test_sub.py",
    "tests/test_core.py",
    "tests/test_deep.py",
    "tests/test_helpers.py",
    "tests/test_other.py",
)


def write_project(root: Path) -> Path:
    for name, text in PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def graph_of(root: Path) -> ImportGraph:
    graph = ImportGraph(root, root / ".mcp-dashboard" / "import-graph.json")
    graph.scan()
    return graph


def selected(graph: ImportGraph, *names: str) -> tuple[str, ...]:
    return graph.update([graph.root / name for name in names]).tests


def test_a_change_selects_exactly_the_tests_that_import_it(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project")
    graph = graph_of(root)
    assert graph.files == PROJECT_FILES  # no venv, cache, state or .git file
    # `from ..helpers import double` in pkg/sub: resolved against the file's directory.
    assert graph.imports("pkg/sub/deep.py") == ("pkg", "pkg.helpers", "pkg.helpers.double")

    assert selected(graph, "pkg/core.py") == (
        "tests/test_core.py",  # import pkg.core
        "tests/test_deep.py",  # through pkg.sub.deep, then pkg.helpers (relative imports)
        "tests/test_helpers.py",  # through pkg.helpers
    )
    assert selected(graph, "pkg/helpers.py") == ("tests/test_deep.py", "tests/test_helpers.py")
    assert selected(graph, "pkg/sub/deep.py") == ("tests/test_deep.py",)
    # A test helper module is a module like any other: `from pkg import other` reaches
    # pkg/other.py, and tests/support.py carries it to the test that imports it.
    assert selected(graph, "pkg/other.py") == ("tests/sub/test_sub.py", "tests/test_other.py")
    # `import pkg.core` runs pkg/__init__.py first: every test importing from pkg.
    assert selected(graph, "pkg/__init__.py") == ALL_TESTS
    assert selected(graph, "tests/test_core.py") == ("tests/test_core.py",)
    assert selected(graph, "tests/sub/conftest.py") == ("tests/sub/test_sub.py",)
    assert selected(graph, "tests/conftest.py") == ALL_TESTS
    assert selected(graph, "conftest.py") == ALL_TESTS
    assert selected(graph, "tests/support.py") == ("tests/sub/test_sub.py",)

    ignored = [root / n for n in PROJECT if n.endswith(".py") and n not in PROJECT_FILES]
    assert len(ignored) == 7
    outside = tmp_path / "outside.py"
    outside.write_text("import pkg.core\n")
    assert graph.update([*ignored, outside, root / "pytest.ini"]).effects == ()
    assert graph.files == PROJECT_FILES


def test_the_watcher_sees_only_the_project(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project")
    state = root / ".mcp-dashboard"
    own_state = root / "elsewhere"  # a --state-dir of the caller's choosing
    watched = ProjectFilter(root, ignored=[own_state])
    seen = [n for n in PROJECT if watched(None, str(root / n))]
    assert sorted(seen) == sorted(PROJECT_FILES)  # no venv, cache, .git, nor pytest.ini
    assert not watched(None, str(root / "watch.out"))  # its own output, redirected here
    assert not watched(None, str(state / "runs" / "x" / "events.jsonl"))
    assert not watched(None, str(own_state / "history.sqlite3"))
    assert not watched(None, str(tmp_path / "outside.py"))
    assert watched(None, str(root / "pkg" / "new_dir"))  # a directory may hold new files


def test_new_deleted_and_broken_files(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project")
    graph = graph_of(root)

    (root / "tests/test_new.py").write_text("import pkg.core\n\n\ndef test_new():\n    pass\n")
    [added] = graph.update([root / "tests/test_new.py"]).effects
    assert added == Effect("tests/test_new.py", ChangeKind.ADDED, ("tests/test_new.py",), True)
    assert "tests/test_new.py" in selected(graph, "pkg/core.py")

    # A test importing a module that does not exist yet: creating it reruns that test.
    (root / "tests/test_future.py").write_text("from pkg.future import soon\n")
    graph.update([root / "tests/test_future.py"])
    (root / "pkg/future.py").write_text("soon = 1\n")
    assert selected(graph, "pkg/future.py") == ("tests/test_future.py",)

    # Deleted: the tests that imported it, which now fail to import, rerun.
    (root / "pkg/other.py").unlink()
    [deleted] = graph.update([root / "pkg/other.py"]).effects
    assert deleted == Effect(
        "pkg/other.py", ChangeKind.DELETED, ("tests/sub/test_sub.py", "tests/test_other.py")
    )
    assert "pkg/other.py" not in graph.files
    # A whole directory gone (a `git checkout`, an `rm -r`): reported as the directory.
    shutil.rmtree(root / "pkg/sub")
    impact = graph.update([root / "pkg/sub"])
    assert [(e.path, e.kind) for e in impact.effects] == [
        ("pkg/sub/__init__.py", ChangeKind.DELETED),
        ("pkg/sub/deep.py", ChangeKind.DELETED),
    ]
    assert impact.tests == ("tests/test_deep.py",)

    # Half-typed code: the file keeps the imports it had, its importers still rerun.
    (root / "pkg/helpers.py").write_text("from .core import value\n\ndef double(:\n")
    assert selected(graph, "pkg/helpers.py") == ("tests/test_helpers.py",)
    assert graph.imports("pkg/helpers.py") == ("pkg", "pkg.core", "pkg.core.value")


def test_the_cache_reparses_only_what_changed(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project")
    first = graph_of(root)
    assert first.last_parsed == PROJECT_FILES
    assert first.parsed == len(PROJECT_FILES)

    again = graph_of(root)  # a restart: everything from the cache file
    assert (again.parsed, again.last_parsed) == (0, ())
    assert again.imports("pkg/helpers.py") == first.imports("pkg/helpers.py")

    helpers = root / "pkg/helpers.py"
    helpers.write_text(helpers.read_text() + "from pkg import other\n")
    assert again.update([helpers]).tests == ("tests/test_deep.py", "tests/test_helpers.py")
    assert (again.parsed, again.last_parsed) == (1, ("pkg/helpers.py",))
    assert "pkg.other" in again.imports("pkg/helpers.py")
    # The new edge is live: pkg/other.py now reaches the tests of helpers too.
    assert selected(again, "pkg/other.py") == (
        "tests/sub/test_sub.py",
        "tests/test_deep.py",
        "tests/test_helpers.py",
        "tests/test_other.py",
    )

    # Changed while nobody watched: the next start reparses that file alone (mtime, size).
    core = root / "pkg/core.py"
    core.write_text(core.read_text() + "# edited\n")
    restarted = ImportGraph(root, root / ".mcp-dashboard" / "import-graph.json")
    impact = restarted.scan()
    assert restarted.last_parsed == ("pkg/core.py",)
    assert [(e.path, e.kind) for e in impact.effects] == [("pkg/core.py", ChangeKind.CHANGED)]


def test_a_change_during_a_run_queues_one_rerun_with_the_changes_merged(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project")
    graph = graph_of(root)
    plan = WatchPlan()

    first = plan.start()
    assert (first.run_all, first.targets, first.reason) == (True, (), "watch started: all tests")
    assert plan.phase == Phase.RUNNING
    # Three saves while the first run goes: nothing starts, one rerun is queued.
    assert plan.changed(graph.update([root / "pkg/helpers.py"])) is None
    assert plan.changed(graph.update([root / "tests/test_core.py"])) is None
    assert plan.changed(graph.update([root / "pkg/helpers.py"])) is None
    assert plan.pending

    rerun = plan.finished(
        Outcomes(
            passed=("tests/test_core.py::test_core", "tests/test_other.py::test_other"),
            failed=("tests/test_other.py::test_name", "tests/sub/test_sub.py::test_sub"),
            files=ALL_TESTS,
        )
    )
    assert rerun is not None
    assert rerun.tests == ("tests/test_core.py", "tests/test_deep.py", "tests/test_helpers.py")
    assert rerun.failed == ("tests/sub/test_sub.py::test_sub", "tests/test_other.py::test_name")
    assert rerun.targets == rerun.tests + rerun.failed
    assert rerun.reason == (
        "pkg/helpers.py changed: 2 test files import it; tests/test_core.py changed; "
        "2 tests failed last time"
    )
    assert (plan.phase, plan.pending, plan.runs) == (Phase.RUNNING, False, 2)
    # Exactly one: when the rerun ends, nothing else is queued.
    assert plan.finished(Outcomes(passed=("tests/sub/test_sub.py::test_sub",))) is None
    assert (plan.phase, plan.failed) == (Phase.IDLE, {"tests/test_other.py::test_name"})

    # Idle: a change starts a run at once; its failed test is covered by its own file.
    other = plan.changed(graph.update([root / "tests/test_other.py"]))
    assert other is not None
    assert (other.targets, other.reason) == (
        ("tests/test_other.py",),
        "tests/test_other.py changed",
    )
    # `run all` during a run wins over the changes queued with it.
    assert plan.changed(graph.update([root / "pkg/core.py"])) is None
    assert plan.run_all() is None
    everything = plan.finished(Outcomes(passed=("tests/test_other.py::test_name",)))
    assert everything is not None
    assert (everything.run_all, everything.reason) == (True, "run all requested")
    # What pytest collects is the authority on test files: one its configuration leaves
    # out (norecursedirs, -k, -m) is never run by naming it.
    plan.finished(Outcomes(files=tuple(t for t in ALL_TESTS if t != "tests/test_deep.py")))
    helpers = plan.changed(graph.update([root / "pkg/helpers.py"]))
    assert helpers is not None
    assert (helpers.targets, helpers.reason) == (
        ("tests/test_helpers.py",),
        "pkg/helpers.py changed: 2 test files import it",
    )
    plan.finished(Outcomes())

    # A run the front end starts itself (the dashboard's `f`): changes queue behind it.
    plan.began("rerun of 1 failed test")
    assert plan.changed(graph.update([root / "tests/test_core.py"])) is None
    queued = plan.finished(Outcomes(passed=("tests/test_core.py::test_core",)))
    assert queued is not None and queued.targets == ("tests/test_core.py",)
    plan.finished(Outcomes())

    # A change no test imports starts nothing, and says so.
    (root / "pkg/unused.py").write_text("x = 1\n")
    assert plan.changed(graph.update([root / "pkg/unused.py"])) is None
    assert plan.status == "pkg/unused.py added: no test imports it"


def test_the_scope_limits_the_selection_and_a_deleted_file_drops_its_failures(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path / "project")
    graph = graph_of(root)
    plan = WatchPlan(["tests/test_deep.py::test_deep", "./tests/sub"])
    assert plan.start().targets == ("tests/test_deep.py::test_deep", "tests/sub")
    plan.finished(Outcomes(failed=("tests/sub/test_sub.py::test_sub",), files=ALL_TESTS))

    request = plan.changed(graph.update([root / "pkg/core.py"]))
    assert request is not None  # test_core and test_helpers are out of scope
    assert request.targets == ("tests/test_deep.py::test_deep", "tests/sub/test_sub.py::test_sub")
    plan.finished(Outcomes(failed=("tests/sub/test_sub.py::test_sub",)))

    (root / "tests/sub/test_sub.py").unlink()
    assert plan.changed(graph.update([root / "tests/sub/test_sub.py"])) is None
    assert plan.failed == set()  # never passed to pytest again: it would be "not found"


def test_the_watch_option() -> None:
    options = parse(["--watch", "--ci", "tests", "-x"])
    assert (options.watch, options.ci, options.paths, options.pytest_options) == (
        True,
        True,
        ("tests",),
        ("-x",),
    )
    assert not parse([]).watch
    with pytest.raises(SystemExit) as exited:
        parse(["--watch", "--rerun-failed"])  # watch mode reruns failures itself
    assert exited.value.code == 2


def test_watch_ci_reruns_what_each_saved_change_affects(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project")
    with WatchChild(root, tmp_path) as watch:
        watch.after_run(1)
        [(header, tests)] = watch.runs()
        assert header == "watch: run 1: watch started: all tests"
        assert len(tests) == 6 and "FAILED tests/test_other.py::test_name" in tests

        watch.save("pkg/helpers.py", PROJECT["pkg/helpers.py"] + "# saved\n")
        watch.after_run(2)
        assert watch.runs()[1] == (
            "watch: run 2: pkg/helpers.py changed: 2 test files import it; 1 test failed last time",
            [
                "PASSED tests/test_deep.py::test_deep",
                "PASSED tests/test_helpers.py::test_double",
                "FAILED tests/test_other.py::test_name",
            ],
        )

        watch.save(
            "tests/test_core.py",
            PROJECT["tests/test_core.py"] + "\n\ndef test_broken():\n    assert 0\n",
        )
        watch.after_run(3)
        assert watch.runs()[2] == (
            "watch: run 3: tests/test_core.py changed; 1 test failed last time",
            [
                "PASSED tests/test_core.py::test_core",
                "FAILED tests/test_core.py::test_broken",
                "FAILED tests/test_other.py::test_name",
            ],
        )
        watch.child.send_signal(signal.SIGINT)
        assert watch.child.wait(timeout=60) == 1  # the last run's status: it had failures
    assert len(watch.runs()) == 3
    assert KEYS not in watch.output()  # stdin is no terminal: no keys offered


@pytest.mark.parametrize(
    ("files", "args", "patterns"),
    [
        ({}, (), ("test_*.py", "*_test.py")),  # no configuration: pytest's default
        ({"pytest.ini": "[pytest]\npython_files = check_*.py\n"}, (), ("check_*.py",)),
        (  # multi-line, as pytest reads an ini value of type `args`
            {"tox.ini": "[pytest]\npython_files =\n    check_*.py\n    *_spec.py\n"},
            (),
            ("check_*.py", "*_spec.py"),
        ),
        ({"setup.cfg": "[tool:pytest]\npython_files = check_*.py\n"}, (), ("check_*.py",)),
        (
            {"pyproject.toml": '[tool.pytest.ini_options]\npython_files = ["check_*.py"]\n'},
            (),
            ("check_*.py",),
        ),
        (  # pytest.ini wins over pyproject.toml in the same directory, even empty
            {
                "pytest.ini": "[pytest]\n",
                "pyproject.toml": '[tool.pytest.ini_options]\npython_files = "check_*.py"\n',
            },
            (),
            ("test_*.py", "*_test.py"),
        ),
        (  # the PATHS' own directory first: sub/pytest.ini, not the root's
            {
                "pytest.ini": "[pytest]\npython_files = root_*.py\n",
                "sub/pytest.ini": "[pytest]\npython_files = sub_*.py\n",
            },
            (),
            ("sub_*.py",),
        ),
        (  # -c names the file; -o overrides it
            {"other.ini": "[pytest]\npython_files = other_*.py\n"},
            ("-c", "other.ini"),
            ("other_*.py",),
        ),
        (
            {"pytest.ini": "[pytest]\npython_files = check_*.py\n"},
            ("-x", "-o", "python_files=a_*.py b_*.py"),
            ("a_*.py", "b_*.py"),
        ),
        (
            {"pytest.ini": "[pytest]\npython_files = check_*.py\n"},
            ("--override-ini=python_files=a_*.py",),
            ("a_*.py",),
        ),
    ],
)
def test_test_files_are_what_the_projects_python_files_say(
    tmp_path: Path, files: dict[str, str], args: tuple[str, ...], patterns: tuple[str, ...]
) -> None:
    root = tmp_path / "project"
    (root / "sub").mkdir(parents=True)
    for name, text in files.items():
        (root / name).write_text(text)
    paths = ["sub/x.py::test_a"] if "sub/pytest.ini" in files else []
    assert python_files(root, paths, args) == patterns


CHECK_PROJECT = {
    "pyproject.toml": '[tool.pytest.ini_options]\npython_files = ["check_*.py"]\n',
    "calc.py": "def add(a, b):\n    return a + b\n",
    "checks/helper.py": "from calc import add\n\n\ndef three():\n    return add(1, 2)\n",
    "checks/check_x.py": "from checks.helper import three\n\n\ndef test_three():\n"
    "    assert three() == 3\n",
    "checks/check_y.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
    # Not a test file here: pytest does not collect it, watch mode does not run it.
    "checks/test_not_collected.py": "from checks.helper import three\n",
}


def test_a_projects_own_python_files_decide_what_a_save_reruns(tmp_path: Path) -> None:
    root = tmp_path / "project"
    for name, text in CHECK_PROJECT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    session = WatchSession(root, root / ".mcp-dashboard")
    assert session.graph.is_test("checks/check_x.py")
    assert not session.graph.is_test("checks/test_not_collected.py")
    # The graph alone: pkg code reaches check files, never the test_*.py pytest ignores.
    assert session.graph.scan().tests == ("checks/check_x.py", "checks/check_y.py")

    with WatchChild(root, tmp_path) as watch:
        watch.after_run(1)
        assert watch.runs() == [
            (
                "watch: run 1: watch started: all tests",
                ["PASSED checks/check_x.py::test_three", "PASSED checks/check_y.py::test_add"],
            )
        ]
        watch.save("checks/check_x.py", CHECK_PROJECT["checks/check_x.py"] + "# saved\n")
        watch.after_run(2)
        assert watch.runs()[1] == (
            "watch: run 2: checks/check_x.py changed",
            ["PASSED checks/check_x.py::test_three"],
        )
        watch.save("checks/helper.py", CHECK_PROJECT["checks/helper.py"] + "# saved\n")
        watch.after_run(3)
        assert watch.runs()[2] == (
            "watch: run 3: checks/helper.py changed: 1 test file imports it",
            ["PASSED checks/check_x.py::test_three"],
        )
        watch.child.send_signal(signal.SIGINT)
        assert watch.child.wait(timeout=60) == 0
