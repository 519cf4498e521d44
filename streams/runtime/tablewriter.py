"""Write-behind for a Faust table: one changelog *batch* per agent iteration.

`table[key] = value` makes Faust send one changelog message through its producer buffer per
update (~200 µs each, STACK-NOTES) — with one state update per event that is more than the
whole state machine costs. Here updates made while processing one record are kept in
`pending`, visible to reads at once, and on `flush()`:
- written to the table's local store (inside stream iteration, so a RocksDB store files them
  under the current partition), and
- appended to the changelog partition as one aiokafka batch (`create_batch`/`send_batch`),
  whose acknowledgement is awaited before the agent moves on — so the state is durable
  before Faust can commit the offset of the record that caused it.
The changelog records are the same key → value records Faust writes, so Faust's own recovery
(and compaction on Apache Kafka) work unchanged; decoded objects are cached (LRU) so a hot
customer is not re-parsed on every event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition

V = TypeVar("V")


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
        # One writer (agent) per BatchedTable: what it sets while processing a record is
        # flushed, to that record's partition, before it takes the next record.
        self._pending: dict[str, V] = {}

    def get(self, key: str) -> V | None:
        if key in self._pending:
            return self._pending[key]
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

    def _remember(self, key: str, value: V) -> None:
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def forget(self) -> None:
        """Drop the decoded cache (after a rebalance the store is the truth)."""
        self._cache.clear()

    async def flush(self, partition: int) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        producer = self._producer()
        topic = self._table.changelog_topic.get_topic_name()
        store = self._table.data
        items = list(pending.items())
        # The memory store drops keys of partitions this worker lost after a rebalance, using
        # a key → partition map that its own changelog path fills in; fill it in too.
        key_partition = getattr(store, "_key_partition", None)
        futures = []
        batch = producer.create_batch()
        for index, (key, value) in enumerate(items):
            raw_key, raw_value = key.encode(), self._encode(value)
            store[raw_key] = raw_value
            if key_partition is not None:
                key_partition[raw_key] = partition
            self._remember(key, value)
            last = index == len(items) - 1
            if last and batch.record_count():
                # The last record goes alone: Tansu reports a partition's end offset as the
                # base offset of its last batch + 1, so a lone last record keeps that right
                # (Faust's recovery reads up to it and checks persisted offsets against it).
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
        if metadata is not None and hasattr(store, "set_persisted_offset"):
            # Lets a RocksDB store resume recovery after this point on restart.
            store.set_persisted_offset(TopicPartition(topic, partition), metadata.offset)
