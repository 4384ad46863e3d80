"""Permission tiers and the named permissions each tool requires.

Unknown names are errors: a typo must never quietly mean "denied" (or "allowed").
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from mcp_service.errors import PermissionDeniedError, UnknownPermissionError, UnknownTierError


class Permission(StrEnum):
    READ = "read"  # look at one's own data: search, list executions, echo
    EXECUTE = "execute"  # run compute tools
    WRITE = "write"  # store data
    ADMIN = "admin"  # manage other clients


class Tier(StrEnum):
    ADMIN = "admin"
    BASIC = "basic"
    READONLY = "readonly"


TIER_PERMISSIONS: dict[Tier, frozenset[Permission]] = {
    Tier.READONLY: frozenset({Permission.READ}),
    Tier.BASIC: frozenset({Permission.READ, Permission.EXECUTE, Permission.WRITE}),
    Tier.ADMIN: frozenset(Permission),
}


def parse_tier(value: object) -> Tier:
    try:
        return Tier(value) if isinstance(value, str) else Tier("")
    except ValueError:
        known = ", ".join(t.value for t in Tier)
        raise UnknownTierError(f"unknown tier {value!r}; expected one of: {known}") from None


def parse_permission(value: object) -> Permission:
    try:
        return Permission(value) if isinstance(value, str) else Permission("")
    except ValueError:
        known = ", ".join(p.value for p in Permission)
        raise UnknownPermissionError(
            f"unknown permission {value!r}; expected one of: {known}"
        ) from None


def permissions_for(tier: object) -> list[str]:
    """The stored, sorted permission names of a tier."""
    return sorted(p.value for p in TIER_PERMISSIONS[parse_tier(tier)])


def has_permission(granted: Iterable[str], required: object) -> bool:
    needed = parse_permission(required)
    return needed in {parse_permission(p) for p in granted}


def require_permission(granted: Iterable[str], required: object, *, who: str) -> None:
    if not has_permission(granted, required):
        raise PermissionDeniedError(f"client {who} lacks the {required!s} permission")
