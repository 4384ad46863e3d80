"""The collector is held off only inside the block, and left as it was found."""

from __future__ import annotations

import gc
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
