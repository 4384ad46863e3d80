"""Tiers map to named permissions; unknown names are errors, never a silent False."""

from __future__ import annotations

import pytest

from mcp_service.errors import PermissionDeniedError, UnknownPermissionError, UnknownTierError
from mcp_service.permissions import has_permission, parse_tier, permissions_for, require_permission
from mcp_service.tools import default_registry


def test_tier_permissions_are_exactly_these() -> None:
    assert permissions_for("admin") == ["admin", "execute", "read", "write"]
    assert permissions_for("basic") == ["execute", "read", "write"]
    assert permissions_for("readonly") == ["read"]


@pytest.mark.parametrize("tier", ["", "Admin", "root", None, 1, "readonly "])
def test_unknown_tiers_are_errors(tier: object) -> None:
    with pytest.raises(UnknownTierError, match="expected one of: admin, basic, readonly"):
        parse_tier(tier)


def test_unknown_required_permission_is_an_error() -> None:
    with pytest.raises(UnknownPermissionError, match="'drop'"):
        has_permission(["read"], "drop")


def test_unknown_granted_permission_is_an_error() -> None:
    with pytest.raises(UnknownPermissionError, match="'superpowers'"):
        has_permission(["read", "superpowers"], "read")


def test_require_permission_denies_with_a_clear_message() -> None:
    require_permission(["read", "write"], "write", who="c1")
    with pytest.raises(PermissionDeniedError, match="client c1 lacks the admin permission"):
        require_permission(["read", "write"], "admin", who="c1")


def test_each_builtin_tool_declares_the_expected_permission() -> None:
    declared = {tool.name: tool.permission.value for tool in default_registry()}
    assert declared == {
        "analyze_workload": "execute",
        "analyze_workload_batches": "execute",
        "corpus_add": "write",
        "corpus_search": "read",
        "echo": "read",
        "list_executions": "read",
        "revoke_client": "admin",
    }
