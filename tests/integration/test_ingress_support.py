"""Helpers for the ingress integration tests (no tests here): reading raw topics back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from contracts.records import RawEnvelope, decode_raw_batch


async def read_raw(
    bootstrap: str,
    topic: str,
    *,
    expect: int,
    wait_s: float = 20.0,
    matching: Callable[[RawEnvelope], bool] = lambda envelope: True,
) -> list[RawEnvelope]:
    """Every envelope on `topic` from the start; waits until `expect` arrived (or `wait_s`)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[RawEnvelope] = []
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    assert record.value is not None
                    found.extend(decode_raw_batch(record.value))
            if sum(1 for e in found if matching(e)) >= expect:
                # Keep polling a little: more than expected would be a bug (duplicates).
                await asyncio.sleep(0.5)
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    for record in records:
                        assert record.value is not None
                        found.extend(decode_raw_batch(record.value))
                break
    finally:
        await consumer.stop()
    return [e for e in found if matching(e)]
