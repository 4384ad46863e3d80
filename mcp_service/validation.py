"""Input checks shared by registration and tools: clear messages, nothing half-stored."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from mcp_service.errors import ValidationError

MAX_NAME_LENGTH = 200
MAX_TYPE_LENGTH = 50
MAX_METADATA_BYTES = 16_384


def clean_text(value: object, field: str, *, max_length: int) -> str:
    """A non-empty single-line string without control characters, stripped."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}")
    cleaned = value.strip()
    if not cleaned:
        raise ValidationError(f"{field} must not be empty")
    if len(cleaned) > max_length:
        raise ValidationError(f"{field} is {len(cleaned)} characters; the limit is {max_length}")
    if any(unicodedata.category(ch) == "Cc" for ch in cleaned):
        raise ValidationError(f"{field} must not contain control characters")
    return cleaned


def clean_metadata(value: object, field: str = "metadata") -> dict[str, Any]:
    """A JSON object of bounded size; a copy, so later changes by the caller don't leak in."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{field} must be an object, got {type(value).__name__}")
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{field} must be JSON-serialisable: {exc}") from None
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        raise ValidationError(f"{field} is larger than {MAX_METADATA_BYTES} bytes")
    return json.loads(encoded)
