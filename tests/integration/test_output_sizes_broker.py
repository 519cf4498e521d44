"""Record sizes downstream of ingest through a real worker and broker: a stage whose output
for one input record would exceed the record limit writes it as several records."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.ingress.batcher import RawBatcher
from app.testing import WorkerProcess
from contracts.records import RawEnvelope
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import ZENDESK_SECRET, trigger_body

pytestmark = pytest.mark.broker

LIMIT = 64 * 1024  # the smallest record limit the settings allow
CUSTOMERS = 400
#: every destination configured (none delivers: SUPPORTSYNC_SINKS is empty), so one ticket
#: event makes several actions and an input record's output outweighs the input
EVERY_DESTINATION = {
    "SUPPORTSYNC_CUSTOMERIO_SITE_ID": "s", "SUPPORTSYNC_CUSTOMERIO_API_KEY": "k",
    "SUPPORTSYNC_ZENDESK_BASE_URL": "http://127.0.0.1:9", "SUPPORTSYNC_ZENDESK_EMAIL": "z",
    "SUPPORTSYNC_ZENDESK_API_TOKEN": "t", "SUPPORTSYNC_INTERCOM_ACCESS_TOKEN": "i",
    "SUPPORTSYNC_WEBHOOK_SINK_URL": "http://127.0.0.1:9/hook",
    "SUPPORTSYNC_WEBHOOK_SINK_SECRET": "w",
}


async def _write_raw(bootstrap: str, topic: str, tag: str) -> None:
    """Every customer's ticket, packed into as few raw records as the limit allows."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=LIMIT)
    await producer.start()
    try:
        batcher = RawBatcher(producer, lambda _s: topic, 4, linger_s=0.05, max_batch=10_000,
                             max_record_bytes=LIMIT, min_interval_s=0.0)
        opened = datetime.now(UTC) - timedelta(minutes=5)
        await asyncio.gather(*(
            batcher.submit(RawEnvelope(
                source="zendesk", received_at=time.time(), key=f"email:{tag}-{i}@example.com",
                body=trigger_body(str(i + 1), "Open", opened, f"{tag}-{i}@example.com"),
            ))
            for i in range(CUSTOMERS)
        ))
    finally:
        await producer.stop()


async def _read_actions(bootstrap: str, topic: str, until: float) -> tuple[set[str], int]:
    """(customer keys with a Customer.io action, largest record) once every customer has one."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"sizes-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", fetch_max_wait_ms=10,
    )
    await consumer.start()
    keys: set[str] = set()
    largest = 0
    try:
        while len(keys) < CUSTOMERS and time.monotonic() < until:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    largest = max(largest, len(record.value))
                    items = orjson.loads(record.value)["items"]
                    keys.update(item["customer_key"] for item in items)
    finally:
        await consumer.stop()
    return keys, largest


class TestOutputRecordSizes:
    """Big input records: every action arrives, in records under the limit, nothing crashes."""

    def test_actions_of_a_full_record_are_split_to_fit(self, broker: EmbeddedBroker) -> None:
        tag = uuid.uuid4().hex[:6]
        env = {
            "SUPPORTSYNC_SINKS": "", "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET,
            "SUPPORTSYNC_KAFKA_MAX_REQUEST_BYTES": str(LIMIT),
            "SUPPORTSYNC_MAX_BODY_BYTES": str(LIMIT - 16 * 1024), **EVERY_DESTINATION,
        }
        with WorkerProcess(broker.bootstrap_servers, env=env) as worker:
            worker.wait_healthy(timeout=60)
            asyncio.run(_write_raw(broker.bootstrap_servers, f"{worker.prefix}raw.zendesk", tag))
            keys, largest = asyncio.run(_read_actions(
                broker.bootstrap_servers, f"{worker.prefix}out.customerio",
                time.monotonic() + 60,
            ))
            log = worker.log_path.read_text()
        assert len(keys) == CUSTOMERS
        assert largest <= LIMIT
        assert "Crashed" not in log and "MessageSizeTooLarge" not in log
