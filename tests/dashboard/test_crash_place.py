"""Where a failure happened, as the detail screen says it: in the project, not in the
stdlib. A unittest assertion raises inside unittest/case.py; pytest's crash line points
there, and the place people need is the test's own line that called it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_dashboard.events import Crash, TestReport
from tests.dashboard.helpers import record

SUITE = {
    "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n",
    "helpers.py": "def check(value):\n    assert value == 3, 'not three'\n",
    "test_ut.py": """import json
import unittest

from helpers import check


class TestThing(unittest.TestCase):
    def test_equal(self):
        self.assertEqual(1 + 1, 3)

    def test_library_raises(self):
        json.loads("{not json")

    def test_project_helper(self):
        check(2)
""",
}


def write_suite(root: Path) -> Path:
    root.mkdir()
    for name, text in SUITE.items():
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("style", ["auto", "native"])
async def test_a_unittest_failure_is_placed_at_the_projects_last_line(
    workdir: Path, style: str
) -> None:
    suite = write_suite(workdir / "suite").resolve()
    recorded = await record(suite, f"--tb={style}", "-p", "no:randomly")
    crashes = {
        e.nodeid.rpartition("::")[2]: e.crash
        for e in recorded.of(TestReport)
        if e.when == "call" and e.outcome == "failed"
    }
    test_file, helpers = str(suite / "test_ut.py"), str(suite / "helpers.py")
    assert crashes == {
        # The stdlib's unittest/case.py raised: the test's own call instead.
        "test_equal": Crash(path=test_file, lineno=9, message="AssertionError: 2 != 3"),
        # json's decoder raised: the test's line that called it.
        "test_library_raises": Crash(
            path=test_file,
            lineno=12,
            message="json.decoder.JSONDecodeError: Expecting property name enclosed in double "
            "quotes: line 1 column 2 (char 1)",
        ),
        # Raised in the project already: left as pytest says it.
        "test_project_helper": Crash(path=helpers, lineno=2, message="AssertionError: not three"),
    }
