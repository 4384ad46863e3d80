"""Tool arguments: plain, bounded JSON that matches the tool's schema, checked in linear time.

Why it is built this way: jsonschema's `uniqueItems` compares every pair of
unhashable items and `iter_errors` makes one error object per failing item, so a
31 KB `corpus_add` once held the event loop for 10 s and a 4 MB `analyze_workload`
took the process to 3.6 GB. Here:

- every tool schema must bound its input (`schema_bounds` refuses, at registration,
  an array without `maxItems`, a string without `maxLength` or `enum`, an object
  that accepts unlisted properties), so the largest argument a tool can receive is
  known before any call;
- each call's arguments are walked once, iteratively, against those bounds before
  any other keyword runs (`inspect`): an array longer than its `maxItems` is refused
  after one `len()`, a value nested too deeply or text no database can store (NUL, a
  lone surrogate) is refused where it is found, and the walk never recurses;
- only then does jsonschema-rs (a Rust implementation of the same drafts, about 200x
  faster than jsonschema on a 100,000-item array here) check the remaining keywords,
  stopping at the first error.

The walk also decides what the execution row keeps of the arguments: a copy when
they are small, their size when they are not.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from mcp_service.errors import ValidationError

# Deeper than any tool needs, far below what json or jsonschema-rs would recurse into.
MAX_DEPTH = 32
# Integers beyond 64 bits do not round-trip through every engine's JSON.
MAX_INTEGER = 2**63 - 1
# What the execution row keeps verbatim; beyond either bound it keeps the sizes only.
RECORD_MAX_VALUES = 4_096
RECORD_MAX_CHARACTERS = 65_536
# Arguments with more top-level items than this are checked in a worker thread.
INLINE_MAX_ITEMS = 2_048
_FLOOR_VALUES = 256
_FLOOR_CHARACTERS = 65_536
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_MESSAGE_LIMIT = 300


class UnboundedSchemaError(ValueError):
    """A tool schema that would let one call carry unbounded work."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """The most a schema lets an instance hold."""

    values: int  # JSON values (objects, arrays and scalars)
    characters: int  # characters in string values
    depth: int  # nesting below the root


def schema_bounds(schema: Mapping[str, Any], where: str = "(root)") -> Bounds:
    """The bounds of `schema`, or UnboundedSchemaError naming the unbounded part."""
    if "enum" in schema or "const" in schema:
        options = [_count(o) for o in (schema["enum"] if "enum" in schema else [schema["const"]])]
        return Bounds(*(max(o[i] for o in options) for i in range(3)))
    kind = schema.get("type")
    if kind == "object":
        if schema.get("additionalProperties") is not False:
            raise UnboundedSchemaError(f"{where}: an object must set additionalProperties: false")
        parts = [
            schema_bounds(sub, f"{where}/{name}")
            for name, sub in schema.get("properties", {}).items()
        ]
        return Bounds(
            1 + sum(p.values for p in parts),
            sum(p.characters for p in parts),
            1 + max((p.depth for p in parts), default=0),
        )
    if kind == "array":
        if "maxItems" not in schema or "items" not in schema:
            raise UnboundedSchemaError(f"{where}: an array must set maxItems and items")
        n = int(schema["maxItems"])
        item = schema_bounds(schema["items"], f"{where}/items")
        return Bounds(1 + n * item.values, n * item.characters, 1 + item.depth)
    if kind == "string":
        if "maxLength" not in schema:
            raise UnboundedSchemaError(f"{where}: a string must set maxLength (or enum)")
        return Bounds(1, int(schema["maxLength"]), 0)
    if kind in ("number", "integer", "boolean", "null"):
        return Bounds(1, 0, 0)
    raise UnboundedSchemaError(f"{where}: give a single JSON type (got {kind!r})")


def _count(value: object) -> tuple[int, int, int]:
    """(values, characters, depth) of a small literal from a schema (enum, const)."""
    if isinstance(value, str):
        return 1, len(value), 0
    if isinstance(value, list):
        parts = [_count(v) for v in value]
    elif isinstance(value, dict):
        parts = [_count(v) for v in value.values()]
    else:
        return 1, 0, 0
    return (
        1 + sum(p[0] for p in parts),
        sum(p[1] for p in parts),
        1 + max((p[2] for p in parts), default=0),
    )


@dataclass(frozen=True, slots=True)
class Inspection:
    """What the walk found: the arguments' size, and what their execution row keeps."""

    values: int
    characters: int
    record: dict[str, Any]


def inspect(
    arguments: object,
    schema: Mapping[str, Any] | None,
    bounds: Bounds,
    *,
    deadline: float | None = None,
) -> Inspection:
    """Walk `arguments` once; ValidationError at the first value out of bounds.

    With a schema, its size keywords are applied as the walk meets them (before
    the children are looked at); `bounds` caps the whole. `deadline`
    (time.monotonic()) stops a long walk with TimeoutError.

    Only containers go on the walk's stack, and a value's path is built only for
    an error message: ~0.5 µs per value here.
    """
    if not isinstance(arguments, dict):
        raise ValidationError(f"arguments must be an object, got {type(arguments).__name__}")
    walk = _Walk(bounds)
    stack: list[tuple[object, Mapping[str, Any] | None, int, _Path]] = [
        (arguments, schema, 0, None)
    ]
    while stack:
        container, rule, depth, path = stack.pop()
        if depth >= MAX_DEPTH:
            raise ValidationError(f"{_where(path)}: nested deeper than {MAX_DEPTH} levels")
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError  # one look per container: ~1 µs against its children's cost
        if isinstance(container, dict):
            children = _object_children(container, rule, path)
            walk.add(len(children), path)
            for key, child_rule in children:
                walk.child(container[key], child_rule, depth + 1, (path, key), stack)
        else:
            assert isinstance(container, list)
            limit = rule.get("maxItems") if rule is not None else None
            if limit is not None and len(container) > limit:
                raise ValidationError(
                    f"{_where(path)}: {len(container)} items; the limit is {limit}"
                )
            walk.add(len(container), path)
            item_rule = rule.get("items") if rule is not None else None
            for index, item in enumerate(container):
                walk.child(item, item_rule, depth + 1, (path, index), stack)
    # Children were pushed in order and popped in reverse: errors name the last bad
    # container first; the schema check that follows reports in document order.
    return Inspection(
        walk.values, walk.characters, _record(arguments, walk.values, walk.characters)
    )


# A value's path as a linked list (parent, key): built for free, spelled out only on error.
_Path = tuple["_Path", object] | None


class _Walk:
    """The running totals of one walk, and the check of each scalar."""

    __slots__ = ("characters", "max_characters", "max_values", "values")

    def __init__(self, bounds: Bounds) -> None:
        self.values = 1
        self.characters = 0
        # Floors: a value of the wrong type (text where a list belongs) is walked anyway,
        # and left to the schema to name; the floors keep the walk's cost small.
        self.max_values = max(bounds.values, _FLOOR_VALUES)
        self.max_characters = max(bounds.characters, _FLOOR_CHARACTERS)

    def add(self, count: int, path: _Path) -> None:
        self.values += count
        if self.values > self.max_values:
            raise ValidationError(f"arguments hold more than {self.max_values} values")

    def child(
        self,
        value: object,
        rule: Mapping[str, Any] | None,
        depth: int,
        path: _Path,
        stack: list[tuple[object, Mapping[str, Any] | None, int, _Path]],
    ) -> None:
        kind = type(value)
        if kind is str:
            assert isinstance(value, str)
            self.characters += len(value)
            if self.characters > self.max_characters and (
                rule is None or len(value) <= rule.get("maxLength", len(value))
            ):
                raise ValidationError(f"arguments hold more than {self.max_characters} characters")
            _check_text(value, rule, path)
        elif kind is float:
            assert isinstance(value, float)
            if not math.isfinite(value):
                raise ValidationError(
                    f"arguments must be plain JSON: {_where(path)} is {value!r}, not a JSON number"
                )
        elif kind is bool or value is None:
            pass
        elif kind is int:
            assert isinstance(value, int)
            if not -MAX_INTEGER <= value <= MAX_INTEGER:
                raise ValidationError(f"{_where(path)}: integer out of range (64 bits)")
        elif kind is dict or kind is list:
            stack.append((value, rule, depth, path))
        else:
            raise ValidationError(
                f"arguments must be plain JSON: {_where(path)} is a {kind.__name__}"
            )


def _check_text(text: str, rule: Mapping[str, Any] | None, path: _Path) -> None:
    limit = rule.get("maxLength") if rule is not None else None
    if limit is not None and len(text) > limit:
        raise ValidationError(f"{_where(path)}: {len(text)} characters; the limit is {limit}")
    bad = _BAD_TEXT.search(text)
    if bad is not None:
        what = "a NUL character" if bad.group() == "\x00" else "a lone surrogate"
        raise ValidationError(f"{_where(path)}: text must be valid Unicode without NUL ({what})")


def _object_children(
    value: dict[Any, Any], rule: Mapping[str, Any] | None, path: _Path
) -> list[tuple[str, Mapping[str, Any] | None]]:
    properties: Mapping[str, Any] = rule.get("properties", {}) if rule is not None else {}
    closed = rule is not None and rule.get("additionalProperties") is False
    children: list[tuple[str, Mapping[str, Any] | None]] = []
    for key in value:
        if not isinstance(key, str):
            raise ValidationError(
                f"arguments must be plain JSON: {_where(path)} has a {type(key).__name__} key"
            )
        _check_text(key, None, path)
        child = properties.get(key)
        if child is None and closed:
            raise ValidationError(
                f"{_where(path)}: Additional properties are not allowed ({_shown(key)} was "
                "unexpected)"
            )
        children.append((key, child))
    return children


def _where(path: _Path) -> str:
    """The walk's path for a message: `samples/3/latency_ms`, or (root)."""
    keys: list[object] = []
    while path is not None:
        path, key = path
        keys.append(key)
    return _spell(reversed(keys))


def _spell(keys: Iterable[object]) -> str:
    return "/".join(_shown(k) if isinstance(k, str) else str(k) for k in keys) or "(root)"


def _shown(text: str, limit: int = 60) -> str:
    shown = text if len(text) <= limit else text[:limit] + "…"
    return repr(shown)[1:-1] if shown.isprintable() else repr(shown)


def _record(arguments: dict[str, Any], values: int, characters: int) -> dict[str, Any]:
    """What the execution row keeps: a copy taken now, or the size of what was sent."""
    if values > RECORD_MAX_VALUES or characters > RECORD_MAX_CHARACTERS:
        return {"_truncated": True, "values": values, "characters": characters}
    copied: dict[str, Any] = json.loads(json.dumps(arguments, allow_nan=False))
    return copied


_RECORD_BOUNDS = Bounds(RECORD_MAX_VALUES, RECORD_MAX_CHARACTERS, MAX_DEPTH)


def unchecked_record(arguments: object) -> dict[str, Any]:
    """The row's copy of a refused call's arguments; never raises.

    Walked no further than the row would keep (a few milliseconds at most), so a
    refused call costs little whatever it carried.
    """
    try:
        return inspect(arguments, None, _RECORD_BOUNDS).record
    except ValidationError as exc:
        return {"_unrecordable": exc.message[:_MESSAGE_LIMIT]}


class ArgumentChecker:
    """One tool's compiled check: bounds from its schema, then jsonschema-rs."""

    def __init__(self, name: str, schema: Mapping[str, Any]) -> None:
        try:
            jsonschema_rs.meta.validate(dict(schema))
        except jsonschema_rs.ValidationError as exc:
            raise UnboundedSchemaError(
                f"tool {name}: not a valid JSON Schema: {exc.message}"
            ) from None
        self.name = name
        self.schema = schema
        self.bounds = schema_bounds(schema)
        self._validator = jsonschema_rs.validator_for(dict(schema))

    def in_thread(self, arguments: object) -> bool:
        """Whether checking `arguments` is long enough to leave the event loop for."""
        if self.bounds.values <= INLINE_MAX_ITEMS or not isinstance(arguments, dict):
            return False
        size = 0
        for value in arguments.values():
            if isinstance(value, list | dict | str):
                size += len(value)
        return size > INLINE_MAX_ITEMS

    def check(self, arguments: object, deadline: float | None = None) -> Inspection:
        """The walk, then the schema; ValidationError with the first problem."""
        try:
            inspection = inspect(arguments, self.schema, self.bounds, deadline=deadline)
        except ValidationError as exc:
            raise ValidationError(f"invalid arguments for {self.name}: {exc.message}") from None
        try:
            self._validator.validate(arguments)
        except jsonschema_rs.ValidationError as exc:
            where = _spell(exc.instance_path)
            message = exc.message
            if len(message) > _MESSAGE_LIMIT:
                message = message[:_MESSAGE_LIMIT] + "…"
            raise ValidationError(
                f"invalid arguments for {self.name}: {where}: {message}"
            ) from None
        return inspection
