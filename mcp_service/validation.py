"""Input checks shared by registration and tools: clear messages, nothing half-stored."""

from __future__ import annotations

import json
import reprlib
import unicodedata
from typing import Any

from mcp_service.errors import NotFoundError, ValidationError

MAX_NAME_LENGTH = 200
MAX_TYPE_LENGTH = 50
MAX_METADATA_BYTES = 16_384


def clean_text(value: object, field: str, *, max_length: int) -> str:
    """A non-empty single-line string without control characters, stripped.

    Lone surrogates (what Python makes of bytes that are not UTF-8, e.g. in argv) are
    refused here: no database can store them, and the driver would fail with a
    UnicodeEncodeError instead of a ValidationError.
    """
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}")
    cleaned = value.strip()
    if not cleaned:
        raise ValidationError(f"{field} must not be empty")
    if len(cleaned) > max_length:
        raise ValidationError(f"{field} is {len(cleaned)} characters; the limit is {max_length}")
    categories = {unicodedata.category(ch) for ch in cleaned}
    if "Cc" in categories:
        raise ValidationError(f"{field} must not contain control characters")
    if "Cs" in categories:
        raise ValidationError(f"{field} must be valid Unicode text (it holds a lone surrogate)")
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
    except RecursionError:  # nested deeper than json.dumps can walk: typed, not a crash
        raise ValidationError(f"{field} is nested too deeply") from None
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        raise ValidationError(f"{field} is larger than {MAX_METADATA_BYTES} bytes")
    copied: dict[str, Any] = json.loads(encoded)
    return copied


# An id or a name longer than any column holds is no id at all.
MAX_ID_LENGTH = 255
# A century: any idle timeout longer than this is a typo, and timedelta has limits.
MAX_DURATION_SECONDS = 100 * 365 * 24 * 3600


def is_lookup_text(value: object) -> bool:
    """Whether `value` can name a row: a string every engine can compare.

    Anything else (a list, a lone surrogate, a NUL, which PostgreSQL text refuses)
    cannot match a row, so callers answer "not found" instead of a driver error.
    """
    if not isinstance(value, str) or len(value) > MAX_ID_LENGTH or "\x00" in value:
        return False
    # Every tool call checks two ids: ASCII (every real id) skips the per-character scan.
    return value.isascii() or not any(unicodedata.category(ch) == "Cs" for ch in value)


def require_row_id(value: object, what: str) -> None:
    """NotFoundError for a value no row's id can equal (see `is_lookup_text`)."""
    if not is_lookup_text(value):
        raise NotFoundError(f"{what} {reprlib.repr(value)} not found")


def storable(text: str) -> str:
    """Text any engine stores: lone surrogates and NULs shown as escapes, not refused.

    For text the service records from a caller (a tool name that does not exist,
    an error message quoting it): one call's odd input must not fail the group
    commit that other calls' rows share.
    """
    if text.isascii() and "\x00" not in text:
        return text
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe.replace("\x00", "\\x00")


def clean_duration(value: object, field: str) -> float:
    """A finite number of seconds, 0 to a century (not a bool, not a string)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{field} must be a number of seconds, got {type(value).__name__}")
    if not 0 <= value <= MAX_DURATION_SECONDS:  # NaN fails both comparisons
        raise ValidationError(f"{field} must be between 0 and {MAX_DURATION_SECONDS} seconds")
    return float(value)
