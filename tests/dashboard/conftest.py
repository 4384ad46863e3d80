"""Fixtures for the dashboard tests (helpers live in tests/dashboard/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A scratch working directory: the runs' .mcp-dashboard/ and reports land here."""
    path = tmp_path / "work"
    path.mkdir()
    return path
