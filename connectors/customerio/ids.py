"""Deterministic Customer.io event ids (SPEC S6 idempotency, S7 replays).

Customer.io deduplicates Track events by their `id`, which must be a ULID: 26 characters of
Crockford base32 encoding 48 bits of milliseconds since the epoch and 80 further bits.
`event_ulid(action_id, timestamp)` derives one from the action id alone (plus the event's
own timestamp, itself fixed by the causing transition), so a redelivery after a crash, a
rebalance or a replay carries the same id and Customer.io stores the event once.

    time part   = timestamp * 1000 (ms), or the first 48 bits of sha256(action_id) when the
                  event has no timestamp
    random part = 80 bits of sha256("cio-event\\x1f" + action_id)
"""

from __future__ import annotations

import hashlib

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TIME_BITS, _RANDOM_BITS = 48, 80


def encode_ulid(value: int) -> str:
    """128-bit integer -> 26-character ULID text."""
    if not 0 <= value < 1 << 128:
        raise ValueError("a ULID is a 128-bit unsigned integer")
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_ulid(text: str) -> bool:
    return len(text) == 26 and text[0] in "01234567" and all(c in CROCKFORD for c in text)


def event_ulid(action_id: str, timestamp: int | None = None) -> str:
    digest = hashlib.sha256(b"cio-event\x1f" + action_id.encode()).digest()
    random_part = int.from_bytes(digest[: _RANDOM_BITS // 8], "big")
    if timestamp is not None and 0 <= timestamp * 1000 < 1 << _TIME_BITS:
        millis = timestamp * 1000
    else:
        millis = int.from_bytes(hashlib.sha256(action_id.encode()).digest()[:6], "big")
    return encode_ulid((millis << _RANDOM_BITS) | random_part)
