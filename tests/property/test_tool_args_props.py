"""Every tool, any arguments: a result or a typed error, and always exactly one complete row.

Why: `execute_tool` promises that whatever happens, exactly one
tool_executions row records the call, the session's count moves with it, and a
writing tool that fails leaves nothing behind. Arguments come from MCP clients
and Python callers alike, so they are generated both schema-shaped and arbitrary.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from mcp_service.errors import MCPServiceError, NotFoundError, PermissionDeniedError
from mcp_service.models import ExecutionStatus
from mcp_service.tools import default_registry
from mcp_service.tools.arguments import RECORD_MAX_CHARACTERS, RECORD_MAX_VALUES
from tests.property.conftest import Harness
from tests.property.strategies import ANY_TEXT, ANYTHING, JSON_LIKE, SQL_LOOKING, any_text, nested

TOOLS = {tool.name: tool for tool in default_registry()}
STATUSES = [s.value for s in ExecutionStatus]
SAMPLES = st.lists(
    st.fixed_dictionaries(
        {"latency_ms": st.floats(min_value=0, max_value=1e6)},
        optional={"cost": st.floats(min_value=0, max_value=100)},
    ),
    min_size=1,
    max_size=20,
)
SHAPED = {
    "echo": st.fixed_dictionaries({"message": any_text(max_size=50)}),
    "analyze_workload": st.fixed_dictionaries({"samples": SAMPLES}),
    "analyze_workload_batches": st.fixed_dictionaries(
        {"samples": SAMPLES}, optional={"batch_size": st.integers(1, 30)}
    ),
    "corpus_add": st.fixed_dictionaries(
        {
            "title": st.one_of(any_text(min_size=1, max_size=50), SQL_LOOKING),
            "body": st.one_of(any_text(min_size=1, max_size=200), SQL_LOOKING),
        },
        optional={"tags": st.lists(st.text(min_size=1, max_size=10), max_size=3, unique=True)},
    ),
    "corpus_search": st.fixed_dictionaries(
        {"query": st.one_of(any_text(min_size=1, max_size=60), SQL_LOOKING)},
        optional={"limit": st.integers(1, 100)},
    ),
    "list_executions": st.fixed_dictionaries(
        {},
        optional={
            "limit": st.integers(1, 100),
            "tool": st.one_of(st.text(min_size=1, max_size=100), SQL_LOOKING),
            "status": st.sampled_from(STATUSES),
        },
    ),
    "revoke_client": st.fixed_dictionaries({"client_id": any_text(min_size=1)}),
}
assert set(SHAPED) == set(TOOLS), "a new tool needs a strategy here"


def near_miss(name: str) -> st.SearchStrategy[dict[Any, Any]]:
    """The tool's own property names with any values, plus stray keys."""
    names = sorted(TOOLS[name].input_schema.get("properties", {}))
    keys = st.one_of(st.sampled_from(names), ANY_TEXT) if names else ANY_TEXT
    return st.dictionaries(keys, st.one_of(JSON_LIKE, ANYTHING), max_size=4)


@dataclass(frozen=True)
class Caller:
    client_id: str
    session_id: str


@pytest.fixture(scope="module")
def admin(harness: Harness) -> Caller:
    registered = harness.run(harness.service.register_client("tool props admin", "admin"))
    session = harness.run(harness.service.create_session(registered.client_id))
    return Caller(registered.client_id, session.session_id)


@pytest.fixture(scope="module")
def reader(harness: Harness) -> Caller:
    registered = harness.run(harness.service.register_client("tool props reader", "readonly"))
    session = harness.run(harness.service.create_session(registered.client_id))
    return Caller(registered.client_id, session.session_id)


def sizes(value: Any) -> tuple[int, int]:
    """(JSON values, characters in strings) of plain JSON, counted independently of the service."""
    if isinstance(value, str):
        return 1, len(value)
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    counted = [sizes(child) for child in children]
    return 1 + sum(c[0] for c in counted), sum(c[1] for c in counted)


def recorded_form(arguments: dict[str, Any]) -> dict[str, Any]:
    """What an execution row keeps of successful arguments: a copy, or their size when large."""
    values, characters = sizes(arguments)
    if values > RECORD_MAX_VALUES or characters > RECORD_MAX_CHARACTERS:
        return {"_truncated": True, "values": values, "characters": characters}
    copied: dict[str, Any] = json.loads(json.dumps(arguments))
    return copied


def call_and_check(
    harness: Harness, caller: Caller, session_id: Any, tool: Any, arguments: Any
) -> str:
    """The property for one call; returns the outcome ("success" or the error code)."""
    counts = (
        "SELECT (SELECT count(*) FROM tool_executions WHERE client_id = :c), "
        "(SELECT count(*) FROM documents WHERE client_id = :c), "
        "(SELECT request_count FROM sessions WHERE id = :s)"
    )
    params = {"c": caller.client_id, "s": caller.session_id}
    rows_before, documents_before, requests_before = harness.db.execute(counts, params).fetchone()
    service = harness.service
    try:
        record = harness.run(
            service.execute_tool(session_id, tool, arguments, client_id=caller.client_id)
        )
    except MCPServiceError as exc:
        outcome, execution_id, status = exc.code, exc.execution_id, None
        assert execution_id is not None, f"{exc.code}: the refused call was not recorded"
    else:
        outcome, execution_id, status = "success", record.execution_id, record.status
        assert status == "success"
    if currently_in_test_context():  # statistics, for --hypothesis-show-statistics
        event(f"{tool if isinstance(tool, str) and tool in TOOLS else '?'}: {outcome}")

    rows_after, documents_after, requests_after = harness.db.execute(counts, params).fetchone()
    assert rows_after == rows_before + 1, "exactly one row per call"
    [row] = harness.rows("SELECT * FROM tool_executions WHERE id = ?", execution_id)
    assert row["client_id"] == caller.client_id
    assert row["duration_ms"] >= 0 and row["started_at"] <= row["finished_at"]
    assert isinstance(json.loads(row["arguments"]), dict)
    if outcome == "success":
        assert (row["status"], row["error_message"]) == ("success", None)
        # The row holds the JSON of the result (a surrogate pair given as two code points
        # comes back as one character, as any JSON reader would see it).
        assert json.loads(row["result"]) == json.loads(json.dumps(record.result))
        called_with = {} if arguments is None else arguments  # None means no arguments
        assert json.loads(row["arguments"]) == recorded_form(called_with)
    else:
        assert row["status"] in ("error", "denied", "timeout", "rate_limited")
        assert row["error_message"]
    wrote = tool == "corpus_add" and outcome == "success"
    assert documents_after == documents_before + wrote, "a failed write left a document"
    counted = row["session_id"] == caller.session_id
    assert requests_after == requests_before + counted
    return outcome


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_any_arguments_give_one_complete_row(harness: Harness, admin: Caller, tool: str) -> None:
    @settings(max_examples=40)
    @given(arguments=st.one_of(SHAPED[tool], near_miss(tool), ANYTHING))
    def check(arguments: Any) -> None:
        call_and_check(harness, admin, admin.session_id, tool, arguments)

    check()


@settings(max_examples=40)
@given(tool=st.sampled_from(sorted(TOOLS)), data=st.data())
def test_readonly_caller_is_denied_every_tool_above_read(
    harness: Harness, reader: Caller, tool: str, data: st.DataObject
) -> None:
    arguments = data.draw(SHAPED[tool])
    outcome = call_and_check(harness, reader, reader.session_id, tool, arguments)
    if TOOLS[tool].permission.value != "read":
        assert outcome == PermissionDeniedError.code


@settings(max_examples=40)
@given(tool=st.one_of(ANY_TEXT, ANYTHING))
@example(tool="no_such_tool")
@example(tool="lone \ud800 surrogate")
def test_any_tool_name_gives_one_error_row(harness: Harness, admin: Caller, tool: Any) -> None:
    if isinstance(tool, str) and tool in TOOLS:
        return
    assert call_and_check(harness, admin, admin.session_id, tool, {}) == NotFoundError.code


@settings(max_examples=40)
@given(session_id=st.one_of(ANY_TEXT, ANYTHING))
@example(session_id="lone \udcff surrogate")
def test_any_session_id_gives_one_denied_row(
    harness: Harness, admin: Caller, session_id: Any
) -> None:
    outcome = call_and_check(harness, admin, session_id, "echo", {"message": "m"})
    assert outcome == NotFoundError.code


def test_arguments_nested_too_deep_for_json_give_one_error_row(
    harness: Harness, admin: Caller
) -> None:
    """Found by the properties above: json.dumps raised RecursionError and nothing was recorded."""
    outcome = call_and_check(harness, admin, admin.session_id, "echo", nested(100_000))
    assert outcome == "invalid_input"


async def _one_bad_among_good(harness: Harness, admin: Caller, bad_name: str) -> list[Any]:
    service = harness.service
    good = [
        service.execute_tool(
            admin.session_id, "echo", {"message": str(n)}, client_id=admin.client_id
        )
        for n in range(20)
    ]
    bad = service.execute_tool(admin.session_id, bad_name, {}, client_id=admin.client_id)
    return await asyncio.gather(*good[:10], bad, *good[10:], return_exceptions=True)


def test_an_unstorable_tool_name_fails_only_its_own_call(harness: Harness, admin: Caller) -> None:
    """Found by the properties above: a tool name with a lone surrogate made the group commit
    of its batch raise UnicodeEncodeError, so concurrent callers' calls failed unrecorded."""
    count = "SELECT count(*) FROM tool_executions WHERE client_id = ?"
    before = harness.value(count, admin.client_id)
    results = harness.run(_one_bad_among_good(harness, admin, "bad \ud800 name"))
    good = ["ExecutionRecord"] * 10
    assert [type(r).__name__ for r in results] == [*good, "NotFoundError", *good]
    assert harness.value(count, admin.client_id) == before + 21


# -- shapes built to be expensive (tests/adversarial has them against real servers) --------

HUGE = st.integers(min_value=10_001, max_value=300_000)
ITEMS: st.SearchStrategy[Any] = st.one_of(st.just(-1), st.just({"k": 0}), st.just([]), st.just("x"))


@settings(max_examples=15)
@given(n=HUGE, item=ITEMS)
def test_a_huge_array_is_refused_at_its_bound(
    harness: Harness, admin: Caller, n: int, item: Any
) -> None:
    outcome = call_and_check(
        harness, admin, admin.session_id, "analyze_workload", {"samples": [item] * n}
    )
    assert outcome == "invalid_input"
    [row] = harness.rows(
        "SELECT arguments, error_message FROM tool_executions WHERE client_id = ? "
        "ORDER BY started_at DESC, rowid DESC LIMIT 1",
        admin.client_id,
    )
    assert row["error_message"] == (
        f"invalid arguments for analyze_workload: samples: {n} items; the limit is 10000"
    )
    # The row keeps no copy of what was sent: the walk stopped where the row's copy would.
    assert json.loads(row["arguments"]) == {"_unrecordable": "arguments hold more than 4096 values"}


@settings(max_examples=15)
@given(n=st.integers(min_value=21, max_value=10_000), item=ITEMS)
def test_more_tags_than_allowed_are_refused_whatever_they_are(
    harness: Harness, admin: Caller, n: int, item: Any
) -> None:
    arguments = {"title": "t", "body": "b", "tags": [item] * n}
    outcome = call_and_check(harness, admin, admin.session_id, "corpus_add", arguments)
    assert outcome == "invalid_input"


@settings(max_examples=10)
@given(
    token=st.text(alphabet="abcxyz", min_size=1, max_size=3),
    repeats=st.integers(min_value=1, max_value=20_000),
    query_repeats=st.integers(min_value=1, max_value=40),
)
def test_repeated_tokens_are_stored_and_searched_in_bounded_time(
    harness: Harness, admin: Caller, token: str, repeats: int, query_repeats: int
) -> None:
    body = " ".join([token] * repeats)
    added = call_and_check(
        harness, admin, admin.session_id, "corpus_add", {"title": "rep", "body": body}
    )
    assert added == "success"
    query = " ".join([token] * query_repeats)
    found = call_and_check(harness, admin, admin.session_id, "corpus_search", {"query": query})
    assert found == "success"


@settings(max_examples=15)
@given(depth=st.integers(min_value=33, max_value=5_000), tool=st.sampled_from(sorted(TOOLS)))
def test_deep_nesting_is_refused_in_any_tool(
    harness: Harness, admin: Caller, depth: int, tool: str
) -> None:
    outcome = call_and_check(harness, admin, admin.session_id, tool, nested(depth))
    assert outcome == "invalid_input"
