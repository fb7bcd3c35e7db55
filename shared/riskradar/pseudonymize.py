"""Keyed pseudonyms for reporter and subject ids.

Downstream stores need to group reports by reporter and by subject without ever holding the raw
ids. A keyed HMAC (not a plain hash) keeps pseudonyms from being reversed by hashing a list of
known ids; whoever holds the key can still recompute a pseudonym to answer a lookup or an
erasure request.

The key is passed in, never read from module state, so each caller decides where it comes from
and tests can use their own.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = ["MIN_KEY_BYTES", "IdHasher"]

#: 128 bits: the HMAC-SHA256 security level for a key-recovery or guessing attack.
MIN_KEY_BYTES: Final = 16

# Stored pseudonyms are joined on across releases: changing a tag or the encoding re-keys
# everything, so a change must come with a new version suffix and a migration.
_REPORTER_DOMAIN: Final = "riskradar/reporter/v1"
_SUBJECT_DOMAIN: Final = "riskradar/subject/v1"

# 128 bits of the 256-bit tag: pseudonyms are join keys, not authenticators, so what matters is
# that distinct ids never collide, and at 2**64 ids before a birthday collision is even likely
# that holds for any marketplace; half the length keeps keys and logs readable.
_PSEUDONYM_HEX_CHARS: Final = 32


def _encode(*parts: str) -> bytes:
    # Length-prefixing each part makes the encoding injective: ("a:b", "c") and ("a", "b:c")
    # cannot produce the same bytes, whatever characters the ids contain.
    encoded = bytearray()
    for part in parts:
        data = part.encode("utf-8")
        encoded += len(data).to_bytes(4, "big")
        encoded += data
    return bytes(encoded)


class IdHasher:
    """Turns reporter and subject ids into stable, domain-separated 32-char hex pseudonyms."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(
                f"pseudonymisation key must be at least {MIN_KEY_BYTES} bytes, got {len(key)}; "
                "use a random secret such as secrets.token_bytes(32)"
            )
        self._key = bytes(key)

    def __repr__(self) -> str:
        return "IdHasher(key=<hidden>)"

    def reporter(self, reporter_id: str) -> str:
        return self._pseudonym(_REPORTER_DOMAIN, reporter_id)

    def subject(self, subject_type: str, subject_id: str) -> str:
        # The type is hashed in: listing 42 and seller 42 are different subjects.
        return self._pseudonym(_SUBJECT_DOMAIN, subject_type, subject_id)

    def _pseudonym(self, *parts: str) -> str:
        tag = hmac.new(self._key, _encode(*parts), hashlib.sha256).hexdigest()
        return tag[:_PSEUDONYM_HEX_CHARS]
