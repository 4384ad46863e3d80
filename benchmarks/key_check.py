"""Cost of an API-key check: warm (cached HMAC) and cold (salted PBKDF2), against raw HMAC.

Target: a warm check under 1 ms. The baseline is one HMAC-SHA256 of the key,
the cheapest possible keyed check, timed in the same run.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import statistics
import time

from _common import header, row

from mcp_service.security import ApiKeyHasher, generate_api_key


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


async def measure(n_warm: int = 20_000, n_cold: int = 30) -> None:
    hasher = ApiKeyHasher()
    key = generate_api_key().key
    stored = hasher.hash(key)
    pepper = b"p" * 32

    base = []
    for _ in range(n_warm):
        t = time.perf_counter()
        hmac.compare_digest(hmac.new(pepper, key.encode(), hashlib.sha256).digest(), b"x" * 32)
        base.append(time.perf_counter() - t)

    cold = []
    for _ in range(n_cold):
        fresh = ApiKeyHasher()
        t = time.perf_counter()
        assert await fresh.verify(key, stored)
        cold.append(time.perf_counter() - t)

    assert await hasher.verify(key, stored)
    warm = []
    for _ in range(n_warm):
        t = time.perf_counter()
        assert await hasher.verify(key, stored)
        warm.append(time.perf_counter() - t)

    b50, _ = percentiles(base)
    w50, w99 = percentiles(warm)
    c50, _ = percentiles(cold)
    row(
        "warm key check p50",
        f"{w50 * 1e3:.4f} ms",
        "< 1 ms",
        f"HMAC {b50 * 1e3:.4f} ms",
        f"{w50 / b50:.1f}x",
    )
    row(
        "warm key check p99",
        f"{w99 * 1e3:.4f} ms",
        "< 1 ms",
        f"HMAC {b50 * 1e3:.4f} ms",
        f"{w99 / b50:.1f}x",
    )
    row(
        "cold key check p50 (pbkdf2)",
        f"{c50 * 1e3:.2f} ms",
        "-",
        f"warm {w50 * 1e3:.4f} ms",
        f"{c50 / w50:.0f}x",
    )


if __name__ == "__main__":
    header()
    asyncio.run(measure())
