"""What a run came to, in words: the header's verdict, pytest's closing line, the place of a
collection error. Pure functions over a state built from events."""

from __future__ import annotations

import pytest

from mcp_dashboard.events import Event, WarningRecorded
from mcp_dashboard.headless import path_table
from mcp_dashboard.state import CollectProblem, reduce_all
from mcp_dashboard.summary import closing_line, collection_headline, verdict, what_happened
from tests.dashboard.builders import began, collect_report, collected, finish, phases, start

KILLED = "pytest was killed by SIGKILL"


def run(*events: Event) -> list[Event]:
    return [start(1.0), *events]


@pytest.mark.parametrize(
    ("final", "word", "words"),
    [
        (finish(0, t=1.5), "PASSED", "1 passed in 0.50s"),
        (finish(1, t=1.5), "FAILED", "1 passed in 0.50s"),
        (
            finish(3, t=1.5, reason="pytest internal error: boom"),
            "INTERNAL ERROR",
            "1 passed in 0.50s",
        ),
        (finish(4, reason="pytest usage error: bad -m"), "USAGE ERROR", "bad -m"),
        (finish(5), "NO TESTS", "no tests collected"),
        (finish(2, t=1.5), "INTERRUPTED", "1 passed in 0.50s"),
        (
            finish(
                None, t=1.5, aborted=True, reason="pytest was killed by SIGKILL", source="runner"
            ),
            "ABORTED",
            "pytest was killed by SIGKILL: 1 passed in 0.50s",
        ),
    ],
)
def test_the_verdict_says_what_happened(final: Event, word: str, words: str) -> None:
    state = reduce_all(run(collected(("t", "p")), began("t"), *phases("t"), final))
    assert (verdict(state), what_happened(state)) == (word, words)


def test_while_running_the_verdict_is_collecting_then_running() -> None:
    assert verdict(reduce_all([start()])) == "COLLECTING"
    assert verdict(reduce_all([start(), collected(("t", "p"))])) == "RUNNING"


def test_the_closing_line_is_pytests_in_pytests_order() -> None:
    warning = WarningRecorded(time=1.2, message="careful", category="UserWarning")
    problem = collect_report("bad.py", longrepr="E boom", t=1.1)
    state = reduce_all(
        run(
            collected(("a", "p"), ("b", "p"), ("c", "p"), ("d", "p"), deselected=2),
            *phases("a", "failed"),
            *phases("b"),
            *phases("c", None, setup="skipped"),
            *phases("d", "xfailed"),
            warning,
            problem,
            finish(1, t=3.25),
        )
    )
    assert closing_line(state) == (
        "1 failed, 1 passed, 1 skipped, 2 deselected, 1 xfailed, 1 warning, 1 error in 2.25s"
    )


def test_a_collection_error_is_placed_at_its_file_and_line() -> None:
    syntax = CollectProblem(
        "test_syntax.py",
        "failed",
        "/venv/_pytest/python.py:498: in importtestmodule\n    mod = import_path(\n"
        'E     File "/p/test_syntax.py", line 5\nE       def broken(\nE                 ^\n'
        "E   SyntaxError: '(' was never closed",
    )
    assert collection_headline(syntax) == "test_syntax.py:5: SyntaxError: '(' was never closed"
    missing = CollectProblem(
        "broken/test_broken.py",
        "failed",
        "ImportError while importing test module '/p/broken/test_broken.py'.\nTraceback:\n"
        "/usr/lib/importlib/__init__.py:126: in import_module\n    return x\n"
        "broken/test_broken.py:3: in <module>\n    import nowhere\n"
        "E   ModuleNotFoundError: No module named 'nowhere'",
    )
    assert collection_headline(missing) == (
        "broken/test_broken.py:3: ModuleNotFoundError: No module named 'nowhere'"
    )


def test_the_ci_table_fits_80_columns_and_leaves_out_outcomes_nobody_had() -> None:
    """Found on attrs: `--ci`'s table was 130 columns wide (nine count columns, most of them
    all 0, and the slowest test's full name), so an 80-column terminal wrapped every row."""
    slow = "test_a_parametrized_case_with_a_long_name[first-second-third]"
    events = run(
        collected((slow, "tests/test_a.py"), ("test_b", "tests/test_b.py")),
        *phases(slow, duration=1.25),
        *phases("test_b", "failed"),
        finish(1, t=3.0),
    )
    lines = path_table(reduce_all(events))
    assert [" ".join(line.split()) for line in lines] == [
        "group tests passed failed total slowest",
        "tests/test_a.py 1 1 0 1.45s 1.45s test_a_parametrized_case_…",
        "tests/test_b.py 1 0 1 0.30s 0.30s test_b",
        "all 2 1 1 1.75s",
    ]
    assert max(len(line) for line in lines) == 79  # pytest's width, the name cut to it
    # A deep module keeps the end of its path; no room is left for the slowest test.
    deep = "tests/unit/parsers/json/test_a_module_with_a_rather_long_name.py"
    events = run(collected(("test_x", deep)), *phases("test_x"), finish(0, t=2.0))
    lines = path_table(reduce_all(events))
    assert [" ".join(line.split()) for line in lines] == [
        "group tests passed failed total",
        "…est_a_module_with_a_rather_long_name.py 1 1 0 0.30s",
        "all 1 1 0 0.30s",
    ]
