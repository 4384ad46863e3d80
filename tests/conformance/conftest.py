"""The official MCP conformance suite against a real `mcp-service serve --transport http`."""

from __future__ import annotations

import pytest

from tests.conformance.npm_suite import Suite, SuiteUnavailable, locate
from tests.integration.conftest import raw_db as raw_db
from tests.integration.conftest import service as service


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance: runs the official MCP conformance suite (npm; Node 22 is installed once "
        "into build/conformance)",
    )


@pytest.fixture(scope="session")
def conformance_suite() -> Suite:
    """The npm package, from the cache (installed there on first use)."""
    try:
        return locate()
    except SuiteUnavailable as exc:
        reason = str(exc)
    pytest.fail(f"the MCP conformance suite is unavailable: {reason}", pytrace=False)
