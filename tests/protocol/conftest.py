"""The protocol front's spec behaviour, through the official SDK client."""

from __future__ import annotations

from tests.integration.conftest import raw_db as raw_db
from tests.integration.conftest import service as service
