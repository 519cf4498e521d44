"""Poison input through a real worker and broker: one bad message costs only itself."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from app.testing import WorkerProcess
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import post, state_of, wait_for

pytestmark = pytest.mark.broker

WRITE_KEY = "poison-write-key"


async def read_topic(
    bootstrap: str, topic: str, done: Callable[[list[bytes]], bool], wait_s: float = 30.0
) -> list[bytes]:
    """Every record value on `topic` from the start, until `done(values)` (or `wait_s`)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and not done(values):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                values.extend(r.value for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return values


def event_ids(values: list[bytes]) -> set[str]:
    ids: set[str] = set()
    for value in values:
        doc = orjson.loads(value)
        ids.update(item["e"]["event_id"] for item in doc.get("items", []))
    return ids


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker) -> Iterator[WorkerProcess]:
    env = {"SUPPORTSYNC_PIPELINES_WRITE_KEY": WRITE_KEY, "SUPPORTSYNC_SINKS": ""}
    with WorkerProcess(broker.bootstrap_servers, env=env) as proc:
        proc.wait_healthy(timeout=60)
        yield proc


def _auth() -> dict[str, str]:
    token = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


class TestPoisonInBatch:
    """A /v1/batch with one out-of-range time: every valid message is processed, one dlq entry."""

    def test_one_poison_among_many(self, worker: WorkerProcess, broker: EmbeddedBroker) -> None:
        messages: list[dict[str, Any]] = [
            {"type": "identify", "userId": f"u{i}", "messageId": f"ok-{i}",
             "traits": {"email": f"p{i}@example.com"}, "timestamp": "2026-11-01T10:00:00Z"}
            for i in range(200)
        ]
        # All on one person's partition too: the poison shares records with valid messages.
        messages.insert(100, {"type": "identify", "userId": "u7", "messageId": "poison",
                              "timestamp": "9999-12-31T23:59:59-14:00"})
        status, answer = post(worker.url("/v1/batch"), orjson.dumps({"batch": messages}), _auth())
        assert (status, answer) == (200, {"success": True})
        events_topic = f"{worker.prefix}events.by-customer.v1"
        wanted = {f"ok-{i}" for i in range(200)}
        seen = asyncio.run(read_topic(
            broker.bootstrap_servers, events_topic, lambda v: wanted <= event_ids(v)
        ))
        assert event_ids(seen) >= wanted and "poison" not in event_ids(seen)
        letters = asyncio.run(read_topic(
            broker.bootstrap_servers, f"{worker.prefix}dlq", lambda v: len(v) >= 1
        ))
        [letter] = [orjson.loads(v) for v in letters]
        assert letter["reason"] == "malformed_payload" and "TimeOutOfRange" in letter["detail"]
        # Applied too: every valid person has a state, and the worker is still up.
        for i in range(200):
            wait_for(lambda i=i: state_of(worker.admin_port, f"p{i}@example.com"), what=f"p{i}")
        assert worker.process is not None and worker.process.poll() is None
        assert worker.health() == 200
