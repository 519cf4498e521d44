"""Broker down → 503; broker back on the same port → 2xx, and the record is there once.

Uses its own EmbeddedBroker (not the session one) so it can be stopped and restarted. Tansu's
in-memory storage starts empty after a restart, so the topic is created again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaProducer

from app.ingress.batcher import RawBatcher
from app.ingress.server import WebhookEndpoint, build_web_app
from connectors.intercom.webhook import IntercomWebhooks
from streams.runtime.broker import EmbeddedBroker, ensure_topics, free_port
from tests.integration.test_ingress_support import read_raw

pytestmark = pytest.mark.broker

SECRET = "intercom-secret"
TOPIC = "down.raw.intercom"


def _notification(notif_id: str) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(
        {
            "type": "notification_event",
            "id": notif_id,
            "topic": "contact.user.updated",
            "data": {"item": {"type": "contact", "id": "c-down"}},
        }
    )
    sig = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    return body, {"X-Hub-Signature": f"sha1={sig}"}


@pytest.fixture
async def setup() -> AsyncIterator[tuple[EmbeddedBroker, Any]]:
    broker = await asyncio.to_thread(EmbeddedBroker(port=free_port()).start)
    await ensure_topics(broker.bootstrap_servers, [TOPIC], 1)
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        acks="all",
        request_timeout_ms=3000,
        linger_ms=0,
    )
    await producer.start()
    batcher = RawBatcher(producer, lambda source: TOPIC, 1, linger_s=0.0, ack_timeout_s=10)
    endpoint = WebhookEndpoint(IntercomWebhooks(SECRET), batcher, 1024 * 1024)

    async def healthy() -> tuple[bool, dict[str, Any]]:
        return True, {}

    app = build_web_app({"/webhooks/intercom": endpoint}, healthy)
    try:
        async with TestClient(TestServer(app)) as client:
            yield broker, client
    finally:
        await producer.stop()
        broker.stop()


class TestBrokerDown:
    """503 while the broker is down, 200 once it is back, the record stored exactly once."""

    async def test_down_then_up(self, setup: tuple[EmbeddedBroker, Any]) -> None:
        broker, client = setup
        body, headers = _notification("notif_before")
        assert (await client.post("/webhooks/intercom", data=body, headers=headers)).status == 200

        broker.stop()
        body, headers = _notification("notif_down")
        resp = await client.post("/webhooks/intercom", data=body, headers=headers)
        assert resp.status == 503
        assert (await resp.json())["error"] == "broker_unavailable"

        await asyncio.to_thread(broker.start)  # same port: broker.port is kept
        await ensure_topics(broker.bootstrap_servers, [TOPIC], 1)
        status = 0
        for _ in range(20):  # what the platform does: retry until acknowledged
            status = (await client.post("/webhooks/intercom", data=body, headers=headers)).status
            if status == 200:
                break
            assert status == 503
            await asyncio.sleep(0.5)
        assert status == 200

        found = await read_raw(broker.bootstrap_servers, TOPIC, expect=1, wait_s=15)
        ids = [orjson.loads(e.body)["id"] for e in found]
        assert ids == ["notif_down"], ids
