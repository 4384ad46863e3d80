"""The tool registry: each tool declares its JSON Schema, its permission and whether it writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from mcp_service.deadlines import Deadline
from mcp_service.errors import NotFoundError
from mcp_service.permissions import Permission, parse_permission
from mcp_service.tools.arguments import ArgumentChecker, Inspection

if TYPE_CHECKING:
    from mcp_service.service import MCPService


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
    session: AsyncSession | None  # None for a tool that declared `uses_database=False`
    services: MCPService  # for tools that use the service itself (clients, the database)
    reporter: ToolReporter = SILENT
    # The call's deadline: the database already honours it; a tool with a long loop of its
    # own checks `deadline.passed` between steps.
    deadline: Deadline | None = None

    @property
    def db(self) -> AsyncSession:
        """The call's database session (a tool that said it uses none has none)."""
        if self.session is None:
            raise RuntimeError("this tool declared uses_database=False: it has no session")
        return self.session


ToolHandler = Callable[[ToolContext, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    permission: Permission
    handler: ToolHandler
    writes: bool = False
    # A tool that never touches `ctx.db` says so: it runs in the calling task, which costs
    # less (database tools run in a task of their own, see pipeline._run_to_deadline).
    uses_database: bool = True
    checker: ArgumentChecker = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A schema that does not bound its input is refused here, at registration.
        object.__setattr__(self, "checker", ArgumentChecker(self.name, self.input_schema))
        object.__setattr__(self, "permission", parse_permission(self.permission))

    def validate(self, arguments: object, deadline: float | None = None) -> Inspection:
        """Check `arguments` against the tool's bounds and schema (ValidationError if not)."""
        return self.checker.check(arguments, deadline)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
            "permission": self.permission.value,
        }


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def find(self, name: object) -> Tool | None:
        return self._tools.get(name) if isinstance(name, str) else None

    def get(self, name: object) -> Tool:
        tool = self._tools.get(name) if isinstance(name, str) else None
        if tool is None:
            raise NotFoundError(f"unknown tool {name!r}; available: {', '.join(self.names())}")
        return tool

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._tools)
