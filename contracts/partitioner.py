"""The partition of a customer key: Kafka's default partitioner (murmur2 of the key bytes).

Every stage picks partitions itself, so a customer's records land on one partition of every
topic; using Kafka's own hash keeps that true for records other producers key the same way.
"""

from __future__ import annotations

from functools import lru_cache

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as an unsigned int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length % 4
    if tail:
        h ^= int.from_bytes(data[whole:], "little")
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


@lru_cache(maxsize=1 << 16)
def partition_for(key: str, partitions: int) -> int:
    """Remembered: the hash is pure Python (~10 µs a key) and hot keys repeat."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
