"""Writes backfill envelopes to a raw topic, one Kafka record per partition per page (more
when a page's envelopes would not fit in one record), and finds what a crashed run already
wrote (see the package docstring)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from app.ingress.batcher import record_budget
from app.replay import offsets
from contracts.partitioner import partition_for
from contracts.records import RawEnvelope, decode_raw_batch, encode_raw_batch, raw_size
from streams.runtime import kafka
from streams.runtime.kafka import TopicPartition

MARKER = "x-supportsync-backfill-page"
ITEM = "x-supportsync-backfill-id"
MAX_PER_RECORD = 256


def split_records(items: list[RawEnvelope], max_record_bytes: int) -> list[list[RawEnvelope]]:
    """`items` in order, as records of at most MAX_PER_RECORD envelopes that fit the record
    limit (a ticket's JSON runs to kilobytes: 256 of them may not)."""
    records: list[list[RawEnvelope]] = []
    chunk: list[RawEnvelope] = []
    size = 0
    for envelope in items:
        grows = raw_size(envelope)
        room = record_budget(max_record_bytes, chunk[0] if chunk else envelope)
        if chunk and (len(chunk) >= MAX_PER_RECORD or size + grows > room):
            records.append(chunk)
            chunk, size = [], 0
        chunk.append(envelope)
        size += grows
    if chunk:
        records.append(chunk)
    return records


class RawWriter:
    def __init__(
        self, bootstrap: str, topic: str, partitions: int, max_record_bytes: int = 1024 * 1024
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.max_record_bytes = max_record_bytes
        self.producer = kafka.producer(
            bootstrap, acks="all", linger_ms=5, max_batch_size=max_record_bytes,
            max_request_size=max_record_bytes,
        )
        self.reader = offsets.consumer(bootstrap)

    async def __aenter__(self) -> RawWriter:
        await self.producer.start()
        await self.reader.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()
        await self.reader.stop()

    def _tps(self) -> list[TopicPartition]:
        return [TopicPartition(self.topic, p) for p in range(self.partitions)]

    async def end_offsets(self) -> dict[str, int]:
        ends = await offsets.true_end_offsets(self.reader, self._tps())
        return {f"{tp.topic}:{tp.partition}": at for tp, at in ends.items()}

    async def write(self, envelopes: list[RawEnvelope]) -> None:
        """Returns once the broker acknowledged every record."""
        by_partition: dict[int, list[RawEnvelope]] = defaultdict(list)
        for envelope in envelopes:
            by_partition[partition_for(envelope.key, self.partitions)].append(envelope)
        acks = []
        for partition, items in by_partition.items():
            for chunk in split_records(items, self.max_record_bytes):
                acks.append(await self.producer.send(
                    self.topic, value=encode_raw_batch(chunk), key=chunk[0].key.encode(),
                    partition=partition,
                ))
        await asyncio.gather(*acks)

    async def written_ids(self, marker: str, from_offsets: dict[str, int]) -> set[str]:
        """Ids of the envelopes of page `marker` already on the topic after `from_offsets`."""
        tps = self._tps()
        ends = await offsets.true_end_offsets(self.reader, tps)
        found: set[str] = set()
        todo = {
            tp: from_offsets.get(f"{tp.topic}:{tp.partition}", 0)
            for tp in tps
            if ends[tp] > from_offsets.get(f"{tp.topic}:{tp.partition}", 0)
        }
        if not todo:
            return found
        self.reader.assign(list(todo))
        for tp, start in todo.items():
            self.reader.seek(tp, start)
        empty = 0
        while todo and empty < 5:  # an empty fetch is not the end: Tansu may answer late
            got = await self.reader.getmany(*todo, timeout_ms=1000)
            empty = 0 if any(got.values()) else empty + 1
            for tp, records in got.items():
                for record in records:
                    for envelope in decode_raw_batch(record.value or b""):
                        if envelope.headers.get(MARKER) == marker:
                            found.add(envelope.headers.get(ITEM, ""))
                    if record.offset + 1 >= ends[tp]:
                        todo.pop(tp, None)
        return found
