"""API keys: generated once, stored only as a salted hash, checked in well under 1 ms when warm.

A key looks like ``mcp_<key id>_<secret>``: the key id (64 random bits) finds the
client row in one indexed lookup, the secret (256 random bits) is what proves
possession. The database keeps only a salted PBKDF2-SHA256 hash made through
passlib's CryptContext; nothing else about the key is stored anywhere.

Cost: a salted slow hash costs milliseconds per verify (bcrypt ~190 ms, argon2
~73 ms, pbkdf2 ~5 ms here), which would dominate every request. So after a key
verifies once, the process remembers HMAC-SHA256(process pepper, key) -> stored
hash. A later request with the same key recomputes that HMAC (microseconds),
and is accepted only if it is remembered *and* the row still carries the same
hash, compared in constant time. The pepper is random per process and never
leaves memory, so the cache holds nothing that could be replayed or reversed.
A wrong key is never in the cache, so every wrong key pays the full slow
verify, against a dummy hash when the key id is unknown: rejection time does
not reveal whether a key id exists. Revocation is read from the row on every
request, so it takes effect on the very next one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from passlib.context import CryptContext

KEY_PREFIX = "mcp"
_KEY_RE = re.compile(r"^mcp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_WARM_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    key: str


def generate_api_key() -> ParsedKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return ParsedKey(key_id=key_id, key=f"{KEY_PREFIX}_{key_id}_{secret}")


def parse_api_key(presented: object) -> ParsedKey | None:
    """The key id of a well-formed key, or None; never echoes the input."""
    if not isinstance(presented, str):
        return None
    match = _KEY_RE.fullmatch(presented)
    return ParsedKey(key_id=match.group(1), key=presented) if match else None


def hash_preview(stored_hash: str) -> str:
    """A short label for a stored hash: its scheme and the start of its (public) salt."""
    parts = stored_hash.split("$")
    if len(parts) < 5:
        return "unknown-hash"
    return f"{parts[1]}:{parts[3][:6]}…"


class ApiKeyHasher:
    """Salted hashing plus the warm-verify cache described in the module docstring."""

    def __init__(self, schemes: tuple[str, ...] = ("pbkdf2_sha256",)) -> None:
        self._context = CryptContext(schemes=list(schemes), deprecated="auto")
        self._pepper = secrets.token_bytes(32)
        self._warm: OrderedDict[bytes, str] = OrderedDict()

    def hash(self, key: str) -> str:
        return str(self._context.hash(key))

    async def hash_async(self, key: str) -> str:
        # hashlib's PBKDF2 releases the GIL: hashing in a thread keeps the loop responsive.
        return await asyncio.to_thread(self._context.hash, key)

    def _digest(self, key: str) -> bytes:
        return hmac.new(self._pepper, key.encode(), hashlib.sha256).digest()

    def is_warm(self, key: str) -> bool:
        """Whether this process has verified `key` before (one HMAC): such a key skips the
        per-address limit on wrong keys (protocol/http_guard.py). Wrong keys are never warm."""
        return self._digest(key) in self._warm

    def verify_warm(self, key: str, stored_hash: str) -> bool:
        remembered = self._warm.get(self._digest(key))
        return remembered is not None and hmac.compare_digest(remembered, stored_hash)

    async def verify(self, key: str, stored_hash: str | None) -> bool:
        """Constant-time verification; `stored_hash` None means the key id is unknown."""
        if stored_hash is not None and self.verify_warm(key, stored_hash):
            return True
        if stored_hash is None:
            await asyncio.to_thread(self._context.dummy_verify)
            return False
        ok = bool(await asyncio.to_thread(self._context.verify, key, stored_hash))
        if ok:
            self._remember(key, stored_hash)
        return ok

    def _remember(self, key: str, stored_hash: str) -> None:
        digest = self._digest(key)
        self._warm[digest] = stored_hash
        self._warm.move_to_end(digest)
        while len(self._warm) > _WARM_CACHE_SIZE:
            self._warm.popitem(last=False)

    def forget(self, stored_hash: str) -> None:
        """Drop warm entries for a hash (on revocation; the row check already refuses)."""
        for digest in [d for d, h in self._warm.items() if h == stored_hash]:
            del self._warm[digest]
