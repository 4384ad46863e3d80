"""Input strategies: what a careless or hostile caller can hand the service.

Text includes every Unicode category, lone surrogates and control characters
among them (bytes that are not UTF-8 reach Python as lone surrogates, e.g. from
argv). Values include JSON that is not plain (NaN, infinity, huge integers,
non-string keys) and Python objects JSON cannot hold at all.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Every category, with the troublemakers drawn often instead of once in a million:
# lone surrogates, NUL, newlines, quotes, backslash, and characters outside the BMP.
NASTY = ["\ud800", "\udcff", "\x00", "\n", "\r", "\u2028", "'", '"', "\\", "%", "\U0001f600"]
ANY_CHAR = st.one_of(st.characters(exclude_categories=()), st.sampled_from(NASTY))


def any_text(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Text of ANY_CHAR. Joined from a list: st.text() drops the lone surrogates."""
    return st.lists(ANY_CHAR, min_size=min_size, max_size=max_size).map("".join)


ANY_TEXT = any_text()
SQL_LOOKING = st.sampled_from(
    ["'); DROP TABLE clients; --", '" OR 1=1 --', "' OR '1'='1", "%", "_", "\\", "NEAR(a b)"]
)
TEXT = st.one_of(ANY_TEXT, SQL_LOOKING, st.text(max_size=300))

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: 10**400 is a valid JSON number no float holds
    st.floats(),  # NaN and infinities included
    TEXT,
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(TEXT, inner, max_size=4),
    ),
    max_leaves=12,
)
NOT_JSON = st.one_of(
    st.binary(max_size=8),
    st.sets(st.integers(), max_size=3),
    st.complex_numbers(),
    st.builds(object),
    st.dictionaries(st.tuples(st.integers()), st.integers(), min_size=1, max_size=2),
)
ANYTHING = st.one_of(JSON_LIKE, NOT_JSON)


def nested(depth: int) -> dict[str, Any]:
    """{"a": {"a": …}} `depth` levels deep: deeper than json.dumps can walk for large depths."""
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value
