"""The collector is held off only inside the block, and left as it was found."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest

from mcp_dashboard.gc_pause import gc_paused


@pytest.fixture
def collector() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def test_the_collector_is_off_inside_and_back_after(collector: None) -> None:
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("a failed finish")
    assert gc.isenabled()


def test_a_collector_someone_turned_off_stays_off(collector: None) -> None:
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_the_command_ends_without_a_last_collection() -> None:
    """`mcp-dashboard` (cli.console) leaves what is alive at its end out of the exit's
    collection; in a process of its own, as the command runs."""
    code = (
        "import gc, mcp_dashboard.cli as cli; cli.main = lambda: 7; "
        "print(cli.console(), gc.get_freeze_count() > 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["7", "True"]
