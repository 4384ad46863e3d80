"""What a run came to, in words: the header's verdict, pytest's closing line, the place of a
collection error. Pure functions over a state built from events."""

from __future__ import annotations

import pytest

from mcp_dashboard.events import CollectReport, Event, WarningRecorded
from mcp_dashboard.state import CollectProblem, reduce_all
from mcp_dashboard.summary import closing_line, collection_headline, verdict, what_happened
from tests.dashboard.builders import began, collected, finish, phases, start

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
    problem = CollectReport(time=1.1, nodeid="bad.py", outcome="failed", longrepr="E boom")
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
