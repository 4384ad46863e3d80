"""stdin lines the SDK's JSON parser refuses still get an answer.

The SDK parses each stdio line with pydantic's strict JSON parser. A request
whose text holds a lone surrogate (`"\\ud800"`, valid JSON syntax that no
Unicode text can hold) fails there, and the SDK drops the line: the client got no
answer at all. Here such a line is parsed again with Python's json, which keeps
the surrogate, so the request reaches the pipeline and is refused like on every
other path (`invalid_input`); a line that is not JSON-RPC at all is answered
with the JSON-RPC error the spec asks for (-32700 or -32600).
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import mcp_types as types
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError as PydanticError


def _unparsed_line(item: object) -> str | None:
    """The raw line of the SDK's "invalid JSON" error, or None for anything else."""
    if not isinstance(item, PydanticError):
        return None
    for error in item.errors(include_url=False):
        if error.get("type") == "json_invalid" and isinstance(error.get("input"), str):
            line: str = error["input"]
            return line
    return None


def _reparse(line: str) -> SessionMessage | JSONRPCError:
    """The message of a line Python's json can read, else the error to answer with."""
    try:
        decoded: Any = json.loads(line)
    except ValueError:
        return JSONRPCError(
            jsonrpc="2.0", id=None, error=ErrorData(code=PARSE_ERROR, message="Parse error")
        )
    try:
        message = types.jsonrpc_message_adapter.validate_python(decoded, by_name=False)
    except PydanticError:
        request_id = decoded.get("id") if isinstance(decoded, dict) else None
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            request_id = None
        return JSONRPCError(
            jsonrpc="2.0",
            id=request_id,
            error=ErrorData(code=INVALID_REQUEST, message="Invalid request"),
        )
    return SessionMessage(message)


async def forward_lenient(
    source: ReadStream[SessionMessage | Exception],
    target: anyio.abc.ObjectSendStream[SessionMessage | Exception],
    replies: WriteStream[SessionMessage],
) -> None:
    """Copy `source` to `target`, turning the lines the SDK refused into messages or answers."""
    async with target:
        async for item in source:
            line = _unparsed_line(item)
            if line is None:
                await target.send(item)
                continue
            recovered = _reparse(line)
            if isinstance(recovered, SessionMessage):
                await target.send(recovered)
            else:
                await replies.send(SessionMessage(recovered))
