"""Partition end offsets that are right on Tansu too.

Tansu reports a partition's end offset as the base offset of its last *batch* + 1
(STACK-NOTES). Fetching from the reported end - 1 brings the last batch back whole, and the
last offset seen + 1 is the true end. On Apache Kafka the fetch returns nothing new and the
reported end stands.

Why it matters beyond lag gauges: Faust recovers a table by reading its changelog up to
the end offset. A changelog flush cut short by a crash leaves a multi-record batch last, and
a worker recovering from that reads only to its first record.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.runtime import kafka

Offsets = dict[TopicPartition, int]

log = logging.getLogger(__name__)


async def true_end_offsets(
    c: AIOKafkaConsumer, tps: list[TopicPartition], *, timeout_s: float = 30.0
) -> Offsets:
    """End offsets of `tps`; `c` must be a consumer this call may assign and seek."""
    reported: Offsets = await c.end_offsets(tps)
    ends = dict(reported)
    todo = [tp for tp in tps if reported[tp] > 0]
    if not todo:
        return ends
    c.assign(todo)
    for tp in todo:
        c.seek(tp, reported[tp] - 1)
    # The record at reported - 1 exists, so every partition answers with at least one record;
    # a fresh consumer's first fetches may come back empty, so wait for each (bounded).
    pending = set(todo)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        got = await c.getmany(*pending, timeout_ms=500)
        for tp, records in got.items():
            if records:
                ends[tp] = max(ends[tp], records[-1].offset + 1)
                pending.discard(tp)
    if pending:
        # On Apache Kafka the reported end is right (a transaction marker can be the last
        # offset there); on Tansu this leaves the end short, so say so.
        log.warning("no record at the reported end - 1 of %s within %.0fs: keeping the "
                    "reported end", sorted(map(str, pending)), timeout_s)
    return ends


async def probe_end_offsets(bootstrap_servers: list[str], tps: list[TopicPartition]) -> Offsets:
    """`true_end_offsets` through a short-lived consumer of its own (never joins a group)."""
    probe = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False,
        **kafka.client_options,
        fetch_max_wait_ms=50, request_timeout_ms=10000,
    )
    await probe.start()
    try:
        return await true_end_offsets(probe, tps)
    finally:
        await probe.stop()
