"""The smaller findings: odd text on every path, servers with other timeouts, wrong-key floods.

Before: a lone surrogate or NUL came back as `tool_error` on the 2026-07-28 path
and got no answer at all over stdio; a server with a 15 s idle timeout expired a
1,800 s server's sessions on the same database; a flood of wrong keys (7 ms of
hashing each) pushed a legitimate client's p50 from 2.4 to 9.8 ms.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mcp_service import MCPService
from tests.adversarial.conftest import ENVELOPE, Register, StartServer, post_raw, rpc
from tests.adversarial.leaks import heard, mcp_client, watch
from tests.adversarial.test_session_exhaustion import INITIALIZE
from tests.faults.processes import CLI, ROOT, service_env
from tests.integration.conftest import make_settings
from tests.toolkit import Step, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("hostile clients")]

# Escaped in JSON, as a client that is not Python can send them.
ODD_TEXT = {
    "a lone surrogate": ('"a\\ud800b"', "a lone surrogate"),
    "a NUL": ('"a\\u0000b"', "a NUL character"),
}


def odd_call(escaped: str, *, modern: bool, request_id: int = 1) -> bytes:
    params: dict[str, Any] = {"name": "echo", "arguments": {"message": "__ODD__"}}
    if modern:
        params["_meta"] = ENVELOPE
    raw = json.dumps(rpc("tools/call", params, request_id))
    return raw.replace('"__ODD__"', escaped).encode()


def refusal(what: str) -> str:
    return (
        "invalid_input: invalid arguments for echo: message: text must be valid Unicode "
        f"without NUL ({what})"
    )


def result_of(body: str) -> dict[str, Any]:
    """The JSON-RPC result of a response body, plain JSON or one SSE event."""
    for line in body.splitlines():
        if line.startswith("data: "):
            body = line.removeprefix("data: ")
    decoded = json.loads(body)
    assert "result" in decoded, decoded
    found: dict[str, Any] = decoded["result"]
    return found


@pytest.mark.parametrize("odd", sorted(ODD_TEXT))
async def test_odd_text_is_invalid_input_over_http_on_both_protocols(
    register: Register, serve: StartServer, odd: str, step: Step
) -> None:
    client = await register(f"odd {odd}", "basic")
    escaped, what = ODD_TEXT[odd]
    server = serve()
    modern = await post_raw(
        server.url,
        client.api_key,
        odd_call(escaped, modern=True),
        modern=True,
        extra={"mcp-method": "tools/call", "mcp-name": "echo"},
    )
    assert modern.status_code == 200, modern.text
    answer = result_of(modern.text)
    assert (answer["isError"], answer["content"][0]["text"]) == (True, refusal(what))
    step(f"{odd} on the 2026-07-28 protocol: invalid_input")

    opened = await post_raw(server.url, client.api_key, json.dumps(INITIALIZE).encode())
    session = opened.headers["mcp-session-id"]
    legacy = await post_raw(
        server.url,
        client.api_key,
        odd_call(escaped, modern=False, request_id=2),
        session=session,
    )
    if odd == "a lone surrogate":
        # The SDK's handshake transport parses with pydantic's strict JSON parser, which
        # refuses the text before the service sees it: a parse error, HTTP 400.
        assert legacy.status_code == 400
        assert legacy.json()["error"] == {
            "code": -32700,
            "message": "Parse error: unexpected end of hex escape at line 1 column 113",
        }
    else:
        answer = result_of(legacy.text)
        assert (answer["isError"], answer["content"][0]["text"]) == (True, refusal(what))
    step(f"{odd} on the handshake protocol: refused, with an answer")


@pytest.mark.parametrize("odd", sorted(ODD_TEXT))
async def test_odd_text_over_stdio_is_answered(
    register: Register, database_url: str, tmp_path: Path, odd: str, step: Step
) -> None:
    client = await register(f"stdio odd {odd}", "basic")
    escaped, what = ODD_TEXT[odd]
    log = tmp_path / "stdio-server.log"
    watch().log(log)
    with log.open("wb") as stderr:
        server = subprocess.Popen(
            [*CLI, "serve"],
            cwd=ROOT,
            env=service_env(database_url, MCP_API_KEY=client.api_key),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    assert server.stdin is not None and server.stdout is not None
    lines = [
        json.dumps(INITIALIZE).encode(),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode(),
        odd_call(escaped, modern=False, request_id=2),
    ]
    server.stdin.write(b"\n".join(lines) + b"\n")
    server.stdin.flush()
    answers = {}
    while 2 not in answers:
        line = await asyncio.to_thread(server.stdout.readline)
        assert line, "the server closed stdout without answering"
        heard("the stdio server's stdout", line)
        message = json.loads(line)
        if "id" in message:
            answers[message["id"]] = message
    server.stdin.close()
    assert server.wait(timeout=60) == 0
    answer = answers[2]["result"]
    assert (answer["isError"], answer["content"][0]["text"]) == (True, refusal(what))
    step(f"{odd} over stdio: answered, invalid_input")


async def test_servers_with_other_idle_timeouts_never_expire_each_others_sessions(
    database_url: str, step: Step
) -> None:
    hasty = MCPService(make_settings(database_url, session_idle_timeout=0.5, expiry_interval=0.1))
    patient = MCPService(make_settings(database_url, session_idle_timeout=3600))
    await hasty.initialize()
    await patient.initialize()
    try:
        client = (await patient.register_client("two timeouts", "basic")).client
        long_lived = await patient.create_session(client.client_id)
        short_lived = await hasty.create_session(client.client_id)

        async def expired() -> bool:
            return (await hasty.get_session(short_lived.session_id)).status == "expired"

        await until(expired, "the hasty server's own session to expire")
        assert (await patient.get_session(long_lived.session_id)).status == "open"
        called = await patient.execute_tool(
            long_lived.session_id, "echo", {"message": "alive"}, client_id=client.client_id
        )
        assert called.status == "success"
    finally:
        await hasty.shutdown()
        await patient.shutdown()
    step("A 0.5 s server expired its own session, not the 3,600 s server's, which still serves")


async def test_a_flood_of_wrong_keys_is_held_back_and_a_known_client_is_served(
    register: Register, serve: StartServer, step: Step
) -> None:
    good = await register("known client", "readonly")
    # 0.01 new keys per second: the bucket is its burst of 10, nothing refills during the test.
    server = serve(MCP_AUTH_FAILURES_PER_SECOND="0.01")
    async with mcp_client(server.url, good.api_key) as known:
        assert not (await known.call_tool("echo", {"message": "warm"})).is_error
        statuses = []
        for n in range(60):
            wrong = f"mcp_{n:016x}_{'x' * 43}"
            response = await post_raw(server.url, wrong, json.dumps(INITIALIZE).encode())
            statuses.append(response.status_code)
            assert not (await known.call_tool("echo", {"message": str(n)})).is_error
    assert statuses == [401] * 10 + [429] * 50
    step("60 wrong keys from one address: 10 were checked (401), 50 held back (429)")
    step("A client whose key this server already knew was served between every one of them")
