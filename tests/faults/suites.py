"""Small pytest suites the fault tests write to a temporary directory and run as real children.

They live in strings, not in tests/fixtures, because each fault test needs its
own copy: a marker file beside the suite decides whether a test hangs, and the
run's state (.mcp-dashboard, reports) lands next to it.
"""

from __future__ import annotations

from pathlib import Path

PYTEST_INI = """\
[pytest]
markers =
    critical_path(name): the critical path a test proves
addopts = -p no:cacheprovider
"""

CONFTEST = """\
import logging

import pytest


@pytest.fixture
def step():
    def report(message):
        logging.getLogger("mcp.steps").info(f"✓ {message}")

    return report
"""

# `test_hangs_while_blocked[n]` reports its process ids, then hangs while the file
# `block` exists: the outer test kills pytest there. FAULT_HANGING says how many.
BLOCKING = """\
import os
import time
from pathlib import Path

import pytest

BLOCK = Path(__file__).with_name("block")
HANGING = int(os.environ.get("FAULT_HANGING", "1"))


@pytest.mark.critical_path("faults")
def test_passes_first(step):
    step("first test done")


@pytest.mark.critical_path("faults")
@pytest.mark.parametrize("n", range(HANGING))
def test_hangs_while_blocked(n, step):
    step(f"running pid={os.getpid()} ppid={os.getppid()}")
    if BLOCK.exists():
        time.sleep(120)  # a hung test; the outer test kills pytest long before
    step("done")


@pytest.mark.critical_path("faults")
def test_after_the_hang():
    pass
"""

# Damages the event stream: garbage, two 10 MB lines (one of them a well-formed event
# written in 1 MB pieces, as a slow writer would), then a step that must still arrive.
# The last test leaves a half-written line and SIGKILLs its own pytest.
DAMAGING = """\
import json
import os
import signal

import pytest

TEN_MB = 10 * 1024 * 1024


def append(request, *chunks):
    fd = os.open(request.config.getoption("mcp_events"), os.O_WRONLY | os.O_APPEND)
    try:
        for chunk in chunks:
            os.write(fd, chunk)
    finally:
        os.close(fd)


@pytest.mark.critical_path("faults")
def test_writes_garbage_and_huge_lines(request, step):
    append(request, b"\\x00\\xff garbage \\xfe\\n", b"{not json\\n")
    append(request, b"z" * TEN_MB + b"\\n")
    huge = json.dumps({"v": 1, "type": "step", "time": 1.0, "nodeid": "x", "index": 0,
                       "message": "m" * TEN_MB}).encode() + b"\\n"
    append(request, *(huge[i : i + (1 << 20)] for i in range(0, len(huge), 1 << 20)))
    step("after the damage")


@pytest.mark.critical_path("faults")
def test_still_reported(step):
    step("still streaming")


@pytest.mark.critical_path("faults")
def test_dies_mid_line(request):
    append(request, b'{"v": 1, "type": "step", "time": 1.0, "nodeid": "x", "ind')
    os.kill(os.getpid(), signal.SIGKILL)
"""


def write_suite(directory: Path, name: str, source: str) -> Path:
    """A runnable suite in `directory`: its own rootdir (pytest.ini), `step`, and one test file."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pytest.ini").write_text(PYTEST_INI)
    (directory / "conftest.py").write_text(CONFTEST)
    (directory / f"test_{name}.py").write_text(source)
    return directory
