"""Erasure in the running worker (what and why: streams/erasure.py).

- `ErasureFollower` reads the `erasures` topic from its start into a `DenyList` and keeps
  following it; the ingest, apply and deliver agents wait for its first complete read
  (`ready`), so a worker or a replay never ingests before it knows who was erased.
- `request_erasure` (the admin endpoint, any worker): finds the person's keys and links in
  the global identity table, writes the erasure record (the deny list entry) and then an
  `Erase` command per customer key to `events.by-customer`, on the key's partition, so the
  worker owning it removes the state in order with the customer's events.
- `tombstone` removes keys of a Faust table: a null-valued record on its changelog (what
  compaction on Apache Kafka and Faust's recovery take for a deletion) and out of the
  local store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiokafka import TopicPartition

from contracts.partitioner import partition_for
from contracts.records import Erase, encode_erase
from streams.erasure import DenyList, ErasureRecord, deny_keys, is_identifier_key, linked_keys
from streams.runtime import kafka
from streams.runtime.endoffsets import probe_end_offsets
from streams.runtime.tablewriter import delete_from_store

log = logging.getLogger(__name__)


class ErasureFollower:
    """The deny list of one worker: every erasure record, as they are written."""

    def __init__(self, topic: str, partitions: int) -> None:
        self.topic = topic
        self.partitions = partitions
        self.deny = DenyList()
        self.ready = asyncio.Event()
        #: the latest record per customer key (a later erasure of the same key keeps the
        #: earlier one's deny keys: compaction keeps only the latest record per key)
        self.records: dict[str, ErasureRecord] = {}

    def add(self, record: ErasureRecord) -> None:
        self.deny.add(record)
        known = self.records.get(record.customer_key)
        if known is None or record.erased_at >= known.erased_at:
            self.records[record.customer_key] = record

    async def run(self, bootstrap_servers: str, *, follow: bool = True) -> None:
        """Read the topic to its end (then `ready`), and follow it until cancelled (or,
        with `follow=False`, return)."""
        tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
        ends = await probe_end_offsets(bootstrap_servers.split(","), tps)
        consumer = kafka.consumer(
            bootstrap_servers, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=200,
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            behind = {tp for tp in tps if ends.get(tp, 0) > 0}
            if not behind:
                self.ready.set()
            while follow or not self.ready.is_set():
                batches = await consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for message in records:
                        if message.value is None:
                            continue
                        try:
                            self.add(ErasureRecord.from_json(message.value))
                        except (ValueError, KeyError, TypeError):
                            log.warning("unreadable erasure record at %s:%s", tp, message.offset)
                if not self.ready.is_set():
                    for tp in list(behind):
                        if await consumer.position(tp) >= ends[tp]:
                            behind.discard(tp)
                    if not behind:
                        log.info("deny list loaded: %d erased key(s)", len(self.deny.erased))
                        self.ready.set()
        finally:
            await consumer.stop()


async def load_deny_list(bootstrap_servers: str, topic: str, partitions: int) -> DenyList:
    """Every erasure recorded so far (for the CLI's commands)."""
    follower = ErasureFollower(topic, partitions)
    await follower.run(bootstrap_servers, follow=False)
    return follower.deny


async def tombstone(
    producer: Any, table: Any, keys: Iterable[str], partitions: Iterable[int]
) -> list[Any]:
    """Delete `keys` from a Faust table: the local store now, and a null-valued changelog
    record on each of `partitions`; the futures of those records (to await)."""
    topic = table.changelog_topic.get_topic_name()
    store = table.data
    futures = []
    for key in keys:
        raw = key.encode()
        delete_from_store(store, raw)
        for p in partitions:
            futures.append(await producer.send(topic, key=raw, value=None, partition=p))
    return futures


async def request_erasure(
    customer_key: str,
    *,
    identity_entries: Iterable[tuple[bytes, bytes]],
    topics: dict[str, Any],
    partitions: int,
    follower: ErasureFollower,
    delivered: Iterable[tuple[str, str]] = (),
    clock: Any = time.time,
) -> ErasureRecord:
    """Record the erasure of `customer_key` (deny list first: from here on nothing older is
    ingested) and ask the owner of each of its keys to remove them. `delivered`: (customer
    key, action id) of what was delivered for them (from the audit trail)."""
    entries = [(k.decode(), v.decode()) for k, v in identity_entries]
    customers, links = linked_keys(customer_key, entries)
    erased_at = float(clock())
    deny = set(deny_keys(customers, [k for k in links if is_identifier_key(k)]))
    for customer in customers:  # erased before: their record's keys are kept in this one
        earlier = follower.records.get(customer)
        if earlier is not None:
            deny.update(earlier.deny)
    record = ErasureRecord(
        customer_key=customer_key, erased_at=erased_at, deny=tuple(sorted(deny)),
        links=len(links),
    )
    sent = await topics["erasures"].send(
        key=customer_key.encode(), value=record.to_json(),
        partition=partition_for(customer_key, partitions),
    )
    await sent
    follower.add(record)
    delivered_ids: dict[str, list[str]] = {}
    for customer, action_id in delivered:
        delivered_ids.setdefault(customer, []).append(action_id)
    for customer in customers:
        command = Erase(
            customer, erased_at, tuple(links) if customer == customer_key else (),
            tuple(sorted(set(delivered_ids.get(customer, ())))),
        )
        sent = await topics["events.by-customer"].send(
            key=customer.encode(), value=encode_erase(command),
            partition=partition_for(customer, partitions),
        )
        await sent
    log.info("erasure of %s requested (%d identity entries)", customer_key, len(links))
    return record
