"""The suite runs from any directory, beside any other `tests` package.

`tests/` is a regular package whose modules import each other as `tests.…`;
pytest puts the repository first on `sys.path` (rootdir from pyproject.toml), so
neither a `tests` package in the working directory nor one installed in the
environment (here: earlier on PYTHONPATH than site-packages) is imported instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.toolkit import Step

ROOT = Path(__file__).resolve().parents[2]
# Imports tests.toolkit, tests.integration.conftest (and so tests.databases) and mcp_peers.
SAMPLE = ROOT / "tests" / "integration" / "test_protocol_in_memory.py"
SAMPLE_TEST = "test_the_stdio_key_check_names_what_is_wrong_and_never_echoes_the_key"
# By node id: the outcome is "1 passed" however many tests the module gains.
SAMPLE_ID = f"{SAMPLE}::{SAMPLE_TEST}"
SHADOW = 'raise ImportError("the wrong tests package was imported")\n'


@pytest.fixture
def elsewhere(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A working directory and an environment that each hold a `tests` package of their own."""
    cwd = tmp_path / "other-project"
    installed = tmp_path / "site"
    for root in (cwd, installed):
        (root / "tests").mkdir(parents=True)
        (root / "tests" / "__init__.py").write_text(SHADOW)
    env = {**os.environ, "PYTHONPATH": str(installed)}
    env.pop("PYTEST_ADDOPTS", None)
    return cwd, env


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def outcome(done: subprocess.CompletedProcess[str]) -> str:
    """The closing line's outcome, without its duration: "1 passed" of "1 passed in 1.17s"."""
    last = done.stdout.splitlines()[-1]
    counts, took = last.rsplit(" in ", 1)
    assert re.fullmatch(r"\d+\.\d+s", took), last
    return counts


def test_pytest_started_in_another_project_runs_our_suite(
    elsewhere: tuple[Path, dict[str, str]], step: Step
) -> None:
    cwd, env = elsewhere
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", SAMPLE_ID]
    done = run(command, cwd, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert outcome(done) == "1 passed"
    step("pytest from another directory, with two other `tests` packages about: 1 passed")


def test_the_dashboard_started_in_another_project_runs_our_suite(
    elsewhere: tuple[Path, dict[str, str]], step: Step
) -> None:
    cwd, env = elsewhere
    dashboard = Path(sys.executable).with_name("mcp-dashboard")
    done = run([str(dashboard), "--ci", SAMPLE_ID], cwd, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert outcome(done) == "1 passed"
    step("mcp-dashboard --ci from another directory: the same test, the same count")
