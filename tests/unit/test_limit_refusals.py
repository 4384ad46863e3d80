"""What a refused call is told: one rule for this process's limiter and Redis's
(`limits.rate_refusal`, `limits.in_flight_refusal`), in words that fit the number.

Both limiters are driven for real elsewhere (tests/adversarial/test_call_flood.py,
tests/integration/test_shared_limits.py) and assert these words."""

from __future__ import annotations

import pytest

from mcp_service.limits import TierLimits, in_flight_refusal, rate_refusal


@pytest.mark.parametrize(
    ("rate", "places", "said"),
    [
        (1.0, 1, ("has 1 call in flight;", "is over 1 call per second")),
        (2.0, 2, ("has 2 calls in flight;", "is over 2 calls per second")),
        (0.5, 3, ("has 3 calls in flight;", "is over 0.5 calls per second")),
    ],
)
def test_a_refusal_says_the_limit_in_words_that_fit_its_number(
    rate: float, places: int, said: tuple[str, str]
) -> None:
    tier = TierLimits(calls_per_second=rate, burst=4, in_flight=places, sessions=1)
    full = in_flight_refusal("c1", "basic", tier, places)
    assert full.message == f"client c1 {said[0]} the limit of its tier (basic) is {places}"
    assert full.retry_after == 1.0
    fast = rate_refusal("c1", "basic", tier, 0.25)
    assert fast.message == f"client c1 {said[1]} (burst 4), the limit of its tier (basic)"
    assert fast.retry_after == 0.25
