"""Which tests the panes show: the `/` filter and `o` (only failures), one rule for every widget."""

from __future__ import annotations

from dataclasses import dataclass

from mcp_dashboard.state import TestState


@dataclass(frozen=True, slots=True)
class TestFilter:
    __test__ = False  # not a pytest test class

    text: str = ""  # lower case; a test matches when its node id contains it
    failures_only: bool = False

    @property
    def active(self) -> bool:
        return bool(self.text) or self.failures_only

    def shows(self, test: TestState) -> bool:
        if self.failures_only and not test.failed:
            return False
        return not self.text or self.text in test.nodeid.lower()

    def describe(self) -> str:
        """What the indicator line says: `filter "xfail" · only failures`."""
        parts = []
        if self.text:
            parts.append(f'filter "{self.text}"')
        if self.failures_only:
            parts.append("only failures")
        return " · ".join(parts)
