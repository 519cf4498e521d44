"""Write-behind for a Faust table: changelog *batches*, written once the effects are acked.

`table[key] = value` makes Faust send one changelog message through its producer buffer per
update (~200 µs each, STACK-NOTES) — with one state update per event that is more than the
whole state machine costs. Here an agent's updates are kept in `pending`, visible to reads
at once. `take()` hands over what one record set (still visible to reads, as *unflushed*),
and `persist()` later — once the record's effects are acknowledged, off the stream
iteration — appends them to the changelog partition as aiokafka batches
(`create_batch`/`send_batch`), waits for the broker, then files the values in the local
store under an explicit partition. `checkpoint(partition_of)` does the same for a writer
whose keys belong to several partitions (the deliver agents' dispatchers), each key to the
partition it names. The changelog records are the same key → value records Faust writes, so
Faust's own recovery (and compaction on Apache Kafka) work unchanged; decoded objects are
cached (LRU) so a hot customer is not re-parsed on every event.
`delete()` goes the same way: a tombstone (a null value) on the changelog, then the key leaves
the local store (erasure, streams/erasure.py).
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition

V = TypeVar("V")


class _Deleted:
    """The pending value of a deleted key (a tombstone once persisted)."""

    __slots__ = ()


DELETED: Any = _Deleted()


class BatchedTable(Generic[V]):
    def __init__(
        self,
        table: Any,
        producer: Callable[[], AIOKafkaProducer],
        *,
        decode: Callable[[bytes], V],
        encode: Callable[[V], bytes],
        cache_size: int = 100_000,
    ) -> None:
        self._table = table
        self._producer = producer
        self._decode = decode
        self._encode = encode
        self._cache: OrderedDict[str, V] = OrderedDict()
        self._cache_size = cache_size
        # One writer (agent or dispatcher) per BatchedTable: what it set since its last
        # take() or checkpoint().
        self._pending: dict[str, V] = {}
        # Taken by the pipelined agents, not yet in the local store: reads still see them.
        self._unflushed: dict[str, V] = {}

    def get(self, key: str) -> V | None:
        if key in self._pending:
            value = self._pending[key]
            return None if value is DELETED else value
        if key in self._unflushed:
            value = self._unflushed[key]
            return None if value is DELETED else value
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        raw = self._table.data.get(key.encode())
        if raw is None:
            return None
        value = self._decode(raw)
        self._remember(key, value)
        return value

    def set(self, key: str, value: V) -> None:
        self._pending[key] = value

    def delete(self, key: str) -> None:
        """Remove `key`: reads see None at once; `persist()` writes a tombstone."""
        self._pending[key] = DELETED
        self._cache.pop(key, None)

    def discard(self, key: str) -> None:
        """Forget the decoded copy of `key` (another writer removed it from the store)."""
        self._cache.pop(key, None)

    def _remember(self, key: str, value: V) -> None:
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def forget(self) -> None:
        """Drop the decoded cache (after a rebalance the store is the truth)."""
        self._cache.clear()

    def take(self) -> dict[str, V]:
        """What was set since the last take; it stays visible to reads until
        `persist()` has stored it."""
        pending, self._pending = self._pending, {}
        self._unflushed.update(pending)
        return pending

    async def persist(self, partition: int, items: dict[str, V]) -> None:
        """Write taken values to the changelog, wait for the broker, then to the local store
        under `partition` (no stream iteration needed)."""
        if not items:
            return
        topic = self._table.changelog_topic.get_topic_name()
        encoded = [
            (key.encode(), None if value is DELETED else self._encode(value))
            for key, value in items.items()
        ]
        metadata = await self._send_changelog(topic, partition, encoded)
        store = self._table.data
        for (key, value), (raw_key, raw_value) in zip(items.items(), encoded, strict=True):
            if raw_value is None:
                delete_from_store(store, raw_key)
                self._cache.pop(key, None)
            else:
                put_in_store(store, partition, raw_key, raw_value)
                self._remember(key, value)
            if self._unflushed.get(key) is value:  # not set again by a later record
                del self._unflushed[key]
        if metadata is not None and hasattr(store, "set_persisted_offset"):
            store.set_persisted_offset(TopicPartition(topic, partition), metadata.offset)

    async def checkpoint(self, partition_of: Callable[[str], int]) -> None:
        """`persist()` everything set since the last checkpoint, each key to the partition
        `partition_of(key)` names (a writer whose keys come from records of several
        partitions: the deliver agents' dispatchers); partitions are written concurrently."""
        taken = self.take()
        by_partition: dict[int, dict[str, V]] = {}
        for key, value in taken.items():
            by_partition.setdefault(partition_of(key), {})[key] = value
        await asyncio.gather(*(self.persist(p, items) for p, items in by_partition.items()))

    async def _send_changelog(
        self, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]
    ) -> Any:
        """Append the records as aiokafka batches; the last record goes alone (Tansu reports
        a partition's end as its last batch's base offset + 1, and recovery reads up to
        it). Returns the last record's metadata once every batch is acknowledged."""
        producer = self._producer()
        futures = []
        batch = producer.create_batch()
        for index, (raw_key, raw_value) in enumerate(records):
            if index == len(records) - 1 and batch.record_count():
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
            if batch.append(key=raw_key, value=raw_value, timestamp=None) is None:
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=raw_key, value=raw_value, timestamp=None)
        futures.append(await producer.send_batch(batch, topic, partition=partition))
        metadata = None
        for fut in futures:
            metadata = await fut
        return metadata


def put_in_store(store: Any, partition: int, key: bytes, value: bytes) -> None:
    """`store[key] = value` for a Faust store, filed under `partition` explicitly (Faust's own
    `__setitem__` reads the partition from the current stream event)."""
    if hasattr(store, "_db_for_partition"):  # RocksDB
        store._key_index[key] = partition
        store._db_for_partition(partition).put(key, value)
    else:  # memory: it drops keys of partitions lost in a rebalance using this map
        store.data[key] = value
        store._key_partition[key] = partition


def delete_from_store(store: Any, key: bytes) -> None:
    """Remove `key` from a Faust store (memory or RocksDB) without a stream event."""
    if hasattr(store, "_db_for_partition"):  # RocksDB
        store._del(key)  # every partition's database that may hold it
        store._key_index.pop(key, None)
    else:
        store.data.pop(key, None)
        store._key_partition.pop(key, None)
