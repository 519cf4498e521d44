"""BatchedTable.checkpoint: writes from outside stream iteration land in the store and the
changelog of the partition each key belongs to."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from streams.runtime.tablewriter import BatchedTable


class Batch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []

    def record_count(self) -> int:
        return len(self.records)

    def append(self, *, key: bytes, value: bytes, timestamp: Any) -> object:
        self.records.append((key, value))
        return object()


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[int, list[tuple[bytes, bytes]]]] = []

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> Any:
        self.sent.append((partition, batch.records))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(SimpleNamespace(offset=len(self.sent)))
        return done


class MemoryStore:
    """The parts of Faust's memory store the writer touches."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self._key_partition: dict[bytes, int] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)


class RocksStore:
    """The parts of Faust's RocksDB store the writer touches."""

    def __init__(self) -> None:
        self._key_index: dict[bytes, int] = {}
        self.dbs: dict[int, dict[bytes, bytes]] = {}
        self.persisted: dict[int, int] = {}

    def _db_for_partition(self, partition: int) -> Any:
        db = self.dbs.setdefault(partition, {})
        return SimpleNamespace(put=db.__setitem__)

    def get(self, key: bytes) -> bytes | None:
        return None

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted[tp.partition] = offset


def _writer(store: Any, producer: Producer) -> BatchedTable[bytes]:
    table = SimpleNamespace(
        data=store, changelog_topic=SimpleNamespace(get_topic_name=lambda: "delivered-changelog")
    )
    return BatchedTable(table, lambda: producer, decode=bytes, encode=bytes)  # type: ignore[arg-type,return-value]


class TestCheckpoint:
    """Each key goes to its own partition's store and changelog."""

    async def test_memory_store_and_changelog_by_partition(self) -> None:
        store, producer = MemoryStore(), Producer()
        writer = _writer(store, producer)
        writer.set("a1", b"1")
        writer.set("b1", b"2")
        writer.set("a2", b"3")
        await writer.checkpoint(lambda key: 0 if key.startswith("a") else 5)
        assert store.data == {b"a1": b"1", b"b1": b"2", b"a2": b"3"}
        assert store._key_partition == {b"a1": 0, b"b1": 5, b"a2": 0}
        by_partition: dict[int, list[bytes]] = {}
        for partition, records in producer.sent:
            by_partition.setdefault(partition, []).extend(k for k, _ in records)
        assert by_partition == {0: [b"a1", b"a2"], 5: [b"b1"]}
        assert writer.take() == {}  # nothing left to write

    async def test_rocksdb_store_written_for_the_explicit_partition(self) -> None:
        store, producer = RocksStore(), Producer()
        writer = _writer(store, producer)
        writer.set("x", b"1")
        writer.set("y", b"2")
        await writer.checkpoint(lambda key: {"x": 2, "y": 3}[key])
        assert store.dbs == {2: {b"x": b"1"}, 3: {b"y": b"2"}}
        assert store._key_index == {b"x": 2, b"y": 3}
        assert set(store.persisted) == {2, 3}
        assert writer.get("x") == b"1"  # readable after the write
