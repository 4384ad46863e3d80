"""Suites the dashboard tests generate in a temporary directory and run as real pytest children.

`many_modules`: a project shaped like a third-party one (attrs, say): 30 test
modules in `tests/`, test classes, parametrized tests, no critical_path markers,
its own pyproject.toml with `testpaths`, and its failures in the last module,
so a layout that lists groups in collection order would hide them below the fold.
"""

from __future__ import annotations

from pathlib import Path

PYPROJECT = """\
[project]
name = "thirdparty"
version = "1.0"

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-p no:cacheprovider"
"""

MODULE = """\
import pytest


class TestShapes{n}:
    @pytest.mark.parametrize("case", range({params}))
    def test_parametrized_case_with_a_long_descriptive_name(self, case):
        assert case >= 0

    def test_plain(self):
        assert True


def test_module_level_{n}():
    assert "module" in __name__ or True
"""

FAILING = """\


class TestBroken:
    def test_fails_on_purpose(self):
        assert 1 + 1 == 3, "arithmetic is broken"

    @pytest.mark.parametrize("value", ["a", "b"])
    def test_fails_with_a_parameter(self, value):
        assert value == "c"
"""


def many_modules(root: Path, *, modules: int = 30, params: int = 4, failing: bool = True) -> Path:
    """Write the project; returns its directory. Tests per module: `params` + 2 (+3 failing
    in the last module when `failing`)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    tests = root / "tests"
    tests.mkdir(exist_ok=True)
    for n in range(modules):
        source = MODULE.format(n=n, params=params)
        if failing and n == modules - 1:
            source += FAILING
        (tests / f"test_module_{n:02d}.py").write_text(source)
    return root


def count_tests(modules: int = 30, params: int = 4, failing: bool = True) -> int:
    return modules * (params + 2) + (3 if failing else 0)
