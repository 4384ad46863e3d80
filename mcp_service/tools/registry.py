"""The tool registry: each tool declares its JSON Schema, its permission and whether it writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from jsonschema import Draft202012Validator
from jsonschema import ValidationError as SchemaError
from sqlalchemy.ext.asyncio import AsyncSession

from mcp_service.errors import NotFoundError, ValidationError
from mcp_service.permissions import Permission, parse_permission


class ToolReporter(Protocol):
    """Where a long tool sends progress and log lines (the MCP front relays them to the client).

    Best effort: a reporter never raises into the tool.
    """

    async def progress(
        self, done: float, total: float | None = None, message: str | None = None
    ) -> None: ...

    async def log(self, level: str, message: str) -> None: ...


class SilentReporter:
    """The default reporter: calls from Python code have nobody to tell."""

    async def progress(
        self, done: float, total: float | None = None, message: str | None = None
    ) -> None:
        return None

    async def log(self, level: str, message: str) -> None:
        return None


SILENT = SilentReporter()


@dataclass(frozen=True)
class ToolContext:
    """What a running tool may use: its caller, a database session and a progress reporter.

    Writing tools get the write transaction that will also hold their execution
    row, so a tool's writes and the record of the call commit together or not at all.
    """

    client_id: str
    session_id: str
    db: AsyncSession
    services: Any  # the MCPService, for tools that manage clients
    reporter: ToolReporter = SILENT


ToolHandler = Callable[[ToolContext, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    permission: Permission
    handler: ToolHandler
    writes: bool = False
    validator: Draft202012Validator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        Draft202012Validator.check_schema(self.input_schema)
        object.__setattr__(self, "permission", parse_permission(self.permission))
        object.__setattr__(self, "validator", Draft202012Validator(self.input_schema))

    def validate(self, arguments: object) -> dict[str, Any]:
        if not isinstance(arguments, dict):
            raise ValidationError(
                f"arguments for {self.name} must be an object, got {type(arguments).__name__}"
            )
        errors = sorted(self.validator.iter_errors(arguments), key=lambda e: list(e.path))
        if errors:
            raise ValidationError(f"invalid arguments for {self.name}: {_describe(errors[0])}")
        return arguments

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
            "permission": self.permission.value,
        }


def _describe(error: SchemaError) -> str:
    """jsonschema's message, with a long offending value replaced by a short description."""
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    message = error.message
    shown = repr(error.instance)
    if len(shown) > 60:
        size = f" of {len(error.instance)}" if hasattr(error.instance, "__len__") else ""
        message = message.replace(shown, f"<{type(error.instance).__name__}{size}>")
    if len(message) > 300:
        message = message[:300] + "…"
    return f"{where}: {message}"


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def get(self, name: object) -> Tool:
        tool = self._tools.get(name) if isinstance(name, str) else None
        if tool is None:
            raise NotFoundError(f"unknown tool {name!r}; available: {', '.join(self.names())}")
        return tool

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __iter__(self):
        return iter(self._tools[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._tools)
