"""API key generation, parsing and the salted hash with its warm-verify cache."""

from __future__ import annotations

import pytest

from mcp_service.security import ApiKeyHasher, generate_api_key, hash_preview, parse_api_key
from mcp_service.snapshots import ClientInfo, RegisteredClient


def test_generated_keys_are_unique_and_parse_back() -> None:
    keys = [generate_api_key() for _ in range(1000)]
    assert len({k.key for k in keys}) == 1000
    assert len({k.key_id for k in keys}) == 1000
    for key in keys[:50]:
        parsed = parse_api_key(key.key)
        assert parsed == key
        assert len(key.key.split("_", 2)[2]) == 43  # 32 random bytes, base64url


@pytest.mark.parametrize(
    "presented",
    [
        None,
        42,
        b"mcp_0123456789abcdef_" + b"a" * 43,
        "",
        "mcp_0123456789abcdef_" + "a" * 42,
        "mcp_0123456789abcdef_" + "a" * 44,
        "mcp_0123456789ABCDEF_" + "a" * 43,
        "key_0123456789abcdef_" + "a" * 43,
        "mcp_0123456789abcde_" + "a" * 44,
        " mcp_0123456789abcdef_" + "a" * 43,
        "mcp_0123456789abcdef_" + "a" * 42 + "\n",
    ],
)
def test_malformed_keys_do_not_parse(presented: object) -> None:
    assert parse_api_key(presented) is None


async def test_hash_is_salted_and_verifies_only_the_right_key() -> None:
    hasher = ApiKeyHasher()
    key = generate_api_key().key
    first, second = hasher.hash(key), hasher.hash(key)
    assert first != second
    assert first.startswith("$pbkdf2-sha256$") and key not in first
    assert await hasher.verify(key, first)
    assert await ApiKeyHasher().verify(key, second)
    assert not await hasher.verify(generate_api_key().key, first)
    assert not await hasher.verify(key, None)


async def test_warm_cache_accepts_only_a_verified_key_with_the_same_stored_hash() -> None:
    hasher = ApiKeyHasher()
    key = generate_api_key().key
    stored = hasher.hash(key)
    assert not hasher.verify_warm(key, stored)  # cold until one full verify succeeds
    assert await hasher.verify(key, stored)
    assert hasher.verify_warm(key, stored)
    assert not hasher.verify_warm(key, hasher.hash(key))  # a rotated hash is not warm
    assert not hasher.verify_warm(generate_api_key().key, stored)
    assert not await hasher.verify(key[:-1] + ("A" if key[-1] != "A" else "B"), stored)
    hasher.forget(stored)
    assert not hasher.verify_warm(key, stored)


async def test_a_failed_verify_never_warms_the_cache() -> None:
    hasher = ApiKeyHasher()
    key, wrong = generate_api_key().key, generate_api_key().key
    stored = hasher.hash(key)
    assert not await hasher.verify(wrong, stored)
    assert not hasher.verify_warm(wrong, stored)


def test_hash_preview_shows_scheme_and_never_the_hash() -> None:
    stored = ApiKeyHasher().hash(generate_api_key().key)
    _, scheme, _rounds, salt, checksum = stored.split("$")
    assert hash_preview(stored) == f"{scheme}:{salt[:6]}…"
    assert checksum[:6] not in hash_preview(stored)
    assert hash_preview("plain") == "unknown-hash"


def test_registered_client_repr_hides_the_key() -> None:
    from datetime import UTC, datetime

    key = generate_api_key().key
    info = ClientInfo("id", "n", "t", "basic", ("read",), {}, datetime.now(UTC), None, None)
    assert key not in repr(RegisteredClient(client=info, api_key=key))
