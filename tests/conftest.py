"""Shared test helpers.

`step` is the one way tests report progress ("✓ …" lines). It logs to the
`mcp.steps` logger so a live reporter (the dashboard's pytest plugin) can
stream each line while the test is still running, and prints it so
`pytest -s` shows it too. Never pass it a key or a full hash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

STEP_LOGGER = logging.getLogger("mcp.steps")
STEP_LOGGER.setLevel(logging.INFO)


@pytest.fixture
def step() -> Callable[[str], None]:
    def report(message: str) -> None:
        line = f"✓ {message}"
        STEP_LOGGER.info(line)
        print(line)

    return report
