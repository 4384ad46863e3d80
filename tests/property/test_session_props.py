"""Session operations in any order, on any id, against a model: the rows always agree with it.

Why: sessions are shared by every process reading the database, so each
operation must leave exactly the row the model predicts (status, request
count), and a bad id, a bad timeout or bad metadata must be a typed error
that changes nothing.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from mcp_service.errors import (
    MCPServiceError,
    NotFoundError,
    SessionClosedError,
    ValidationError,
)
from tests.property.conftest import Harness
from tests.property.strategies import ANY_TEXT, ANYTHING, JSON_LIKE, TEXT

# Ids that name no session: random text, surrogates included, and values of other types.
BAD_IDS = st.one_of(ANY_TEXT, st.builds(lambda: str(uuid.uuid4())), ANYTHING)
PLAIN_METADATA = st.dictionaries(TEXT, JSON_LIKE, max_size=3)
METADATA = st.one_of(st.none(), PLAIN_METADATA, ANYTHING)
# Timeouts whose outcome the model can predict: 0 expires every open session, a
# large one none; anything else is refused (negative, NaN, infinite, not a number).
EXPIRE_ALL = st.sampled_from([0, 0.0])
EXPIRE_NONE = st.one_of(st.floats(min_value=1e6, max_value=1e9), st.integers(10**6, 10**9))
BAD_TIMEOUTS = st.one_of(
    st.floats(max_value=-1e-9),
    st.integers(max_value=-1),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, 10**30]),
    TEXT,
    st.lists(st.integers(), max_size=2),
)


@dataclass
class Expected:
    status: str = "open"
    requests: int = 0


def typed_failure(call: Any) -> MCPServiceError:
    """Run a call that must fail, and return its typed error (anything else fails the test)."""
    try:
        call()
    except MCPServiceError as exc:
        return exc
    raise AssertionError("the call succeeded; the model expected a typed error")


class SessionMachine(RuleBasedStateMachine):
    """The model: each session this machine opened, with the status and count it must have."""

    sessions = Bundle("sessions")

    def __init__(self, harness: Harness) -> None:
        super().__init__()
        self.harness = harness
        self.service = harness.service
        self.run = harness.run
        self.model: dict[str, Expected] = {}

    @initialize()
    def clients(self) -> None:
        registered = self.run(self.service.register_client("sessions", "basic"))
        revoked = self.run(self.service.register_client("sessions revoked", "basic"))
        self.run(self.service.revoke_client(revoked.client_id))
        self.client_id, self.revoked_id = registered.client_id, revoked.client_id

    def teardown(self) -> None:
        # Leave no open session behind: the next example's "expire everything" sees only its own.
        for session_id, expected in self.model.items():
            if expected.status == "open":
                self.run(self.service.close_session(session_id))

    @rule(target=sessions, metadata=st.one_of(st.none(), PLAIN_METADATA))
    def create(self, metadata: Any) -> Any:
        opened = self.open_session(metadata)
        return multiple() if opened is None else opened

    @rule(metadata=ANYTHING)
    def create_with_any_metadata(self, metadata: Any) -> None:
        self.open_session(metadata)

    def open_session(self, metadata: Any) -> str | None:
        """A new open session in the model, or None after a typed refusal that left no row."""
        before = self.harness.value("SELECT count(*) FROM sessions")
        try:
            info = self.run(self.service.create_session(self.client_id, metadata))
        except ValidationError:  # NaN, infinity, not an object, not JSON at all
            assert self.harness.value("SELECT count(*) FROM sessions") == before
            return None
        assert (info.status, info.request_count) == ("open", 0)
        event("create: opened")
        self.model[info.session_id] = Expected()
        return info.session_id

    @rule(session_id=sessions)
    def touch(self, session_id: str) -> None:
        expected = self.model.get(session_id)
        if expected is not None and expected.status == "open":
            event("touch: open session")
            info = self.run(self.service.update_session_activity(session_id))
            expected.requests += 1
            assert info.request_count == expected.requests
            return
        error = typed_failure(lambda: self.run(self.service.update_session_activity(session_id)))
        assert isinstance(error, NotFoundError if expected is None else SessionClosedError), error

    @rule(session_id=sessions)
    def close(self, session_id: str) -> None:
        expected = self.model.get(session_id)
        if expected is None:
            self.no_such_session(session_id)
            return
        event(f"close: {expected.status} session")
        closed = self.run(self.service.close_session(session_id))
        assert closed is (expected.status == "open")
        if closed:
            expected.status = "closed"

    @rule(session_id=sessions)
    def get(self, session_id: str) -> None:
        expected = self.model.get(session_id)
        if expected is None:
            self.no_such_session(session_id)
            return
        info = self.run(self.service.get_session(session_id))
        assert (info.status, info.request_count) == (expected.status, expected.requests)

    @rule(session_id=BAD_IDS, metadata=METADATA)
    def no_such_session(self, session_id: Any, metadata: Any = None) -> None:
        """An id that names nothing: NotFoundError from every operation, and no row moves.

        A session for it (as a client id) fails too, as for a revoked client.
        """
        for operation in (
            self.service.get_session,
            self.service.update_session_activity,
            self.service.close_session,
        ):
            error = typed_failure(lambda op=operation: self.run(op(session_id)))
            assert isinstance(error, NotFoundError), error
        before = self.harness.value("SELECT count(*) FROM sessions")
        for client_id in (session_id, self.revoked_id):
            error = typed_failure(
                lambda c=client_id: self.run(self.service.create_session(c, metadata))
            )
            assert isinstance(error, ValidationError | NotFoundError), error
        assert self.harness.value("SELECT count(*) FROM sessions") == before

    @rule(timeout=EXPIRE_ALL)
    def expire_all(self, timeout: float) -> None:
        expired = self.run(self.service.cleanup_inactive_sessions(timeout))
        opened = sorted(s for s, e in self.model.items() if e.status == "open")
        assert expired == opened
        for session_id in opened:
            self.model[session_id].status = "expired"

    @rule(timeout=st.one_of(EXPIRE_NONE, BAD_TIMEOUTS))
    def expire_none(self, timeout: Any) -> None:
        if isinstance(timeout, int | float) and timeout >= 1e6 and timeout <= 1e9:
            assert self.run(self.service.cleanup_inactive_sessions(timeout)) == []
            return
        error = typed_failure(lambda: self.run(self.service.cleanup_inactive_sessions(timeout)))
        assert isinstance(error, ValidationError), error

    @invariant()
    def rows_match_the_model(self) -> None:
        if not self.model:
            return
        rows = self.harness.rows(
            "SELECT id, status, request_count FROM sessions WHERE client_id = ?", self.client_id
        )
        assert {r["id"]: (r["status"], r["request_count"]) for r in rows} == {
            s: (e.status, e.requests) for s, e in self.model.items()
        }


def test_session_operations_match_the_model(harness: Harness) -> None:
    # No shrink phase: every step hits the database, and shrinking a failing run of 25
    # steps took ~40 s here. The failing steps are printed as found; the focused tests
    # below name each bug the machine found.
    quick = settings(
        max_examples=40,
        stateful_step_count=25,
        report_multiple_bugs=False,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )

    class Bound(SessionMachine):
        """The machine on this module's harness (hypothesis builds it from its class)."""

        def __init__(self) -> None:
            super().__init__(harness)

    run_state_machine_as_test(Bound, settings=quick)


@pytest.mark.parametrize("timeout", [math.nan, math.inf, 1e300, "5"], ids=repr)
def test_expiry_with_a_timeout_that_is_not_a_duration_is_refused(
    harness: Harness, timeout: Any
) -> None:
    """Found by the machine above: these raised ValueError, OverflowError or TypeError."""
    with pytest.raises(ValidationError):
        harness.run(harness.service.cleanup_inactive_sessions(timeout))


@pytest.mark.parametrize("session_id", ["\ud800", ["a list"], {"a": "dict"}], ids=repr)
def test_session_calls_with_an_id_no_session_can_have_are_not_found(
    harness: Harness, session_id: Any
) -> None:
    """Found by the machine above: a lone surrogate raised UnicodeEncodeError from the driver,
    and a list or dict raised sqlalchemy's ProgrammingError or TypeError (unhashable)."""
    for call in (
        harness.service.get_session,
        harness.service.update_session_activity,
        harness.service.close_session,
    ):
        with pytest.raises(NotFoundError):
            harness.run(call(session_id))
    with pytest.raises(NotFoundError):
        harness.run(harness.service.create_session(session_id))
