from __future__ import annotations

import gzip
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from streams.runtime import metrics
from tests.unit.app.ingress.helpers import (
    FakeBatcher,
    basic,
    build_app,
    customerio_headers,
    intercom_headers,
    zendesk_headers,
)

CONVERSATION = orjson.dumps(
    {
        "type": "notification_event",
        "id": "notif_9",
        "topic": "conversation.user.created",
        "data": {
            "item": {
                "type": "conversation",
                "id": "5",
                "contacts": {
                    "type": "contact.list",
                    "contacts": [{"type": "contact", "id": "c-1"}],
                },
            }
        },
    }
)
REPORTING = orjson.dumps(
    {
        "event_id": "e-1",
        "object_type": "email",
        "metric": "opened",
        "timestamp": 1,
        "data": {"identifiers": {"id": "u-1", "cio_id": "c-1"}},
    }
)


@pytest.fixture
def batcher() -> FakeBatcher:
    return FakeBatcher()


@pytest.fixture
async def client(batcher: FakeBatcher) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(build_app(batcher, max_body_bytes=64 * 1024))) as c:
        yield c


def _rejected(source: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "supportsync_events_rejected_total", {"source": source, "reason": reason}
    )
    return value or 0.0


class TestWebhooks:
    """Signed webhooks: 200 after the ack, 401/400/413/503 otherwise, counted by reason."""

    async def test_intercom_accepted(self, client: TestClient, batcher: FakeBatcher) -> None:  # type: ignore[type-arg]
        resp = await client.post(
            "/webhooks/intercom", data=CONVERSATION, headers=intercom_headers(CONVERSATION)
        )
        assert resp.status == 200
        [env] = batcher.envelopes
        assert env.source == "intercom" and env.key == "intercom_contact_id:c-1"
        assert env.body == CONVERSATION and env.path == "/webhooks/intercom"

    async def test_customerio_accepted(self, client: TestClient, batcher: FakeBatcher) -> None:  # type: ignore[type-arg]
        headers = customerio_headers(REPORTING, int(time.time()))
        resp = await client.post("/webhooks/customerio", data=REPORTING, headers=headers)
        assert resp.status == 200
        assert batcher.envelopes[0].key == "cio_id:c-1"

    async def test_bad_signature_401_and_counted(self, client: TestClient) -> None:  # type: ignore[type-arg]
        before = _rejected("intercom", "bad_signature")
        resp = await client.post(
            "/webhooks/intercom", data=CONVERSATION, headers={"X-Hub-Signature": "sha1=00"}
        )
        assert resp.status == 401
        assert _rejected("intercom", "bad_signature") == before + 1

    async def test_stale_customerio_401(self, client: TestClient) -> None:  # type: ignore[type-arg]
        headers = customerio_headers(REPORTING, int(time.time()) - 600)
        resp = await client.post("/webhooks/customerio", data=REPORTING, headers=headers)
        assert resp.status == 401 and (await resp.json())["error"] == "stale_timestamp"

    async def test_signed_non_json_400(self, client: TestClient) -> None:  # type: ignore[type-arg]
        resp = await client.post(
            "/webhooks/intercom", data=b"[1]", headers=intercom_headers(b"[1]")
        )
        assert resp.status == 400

    async def test_too_large_413(self, client: TestClient) -> None:  # type: ignore[type-arg]
        body = b"{" + b" " * (64 * 1024) + b"}"
        resp = await client.post("/webhooks/intercom", data=body, headers=intercom_headers(body))
        assert resp.status == 413

    async def test_broker_down_503(self, client: TestClient, batcher: FakeBatcher) -> None:  # type: ignore[type-arg]
        batcher.down = True
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = orjson.dumps(
            {"type": "zen:event-type:user.created", "id": "x", "detail": {"id": "7"}}
        )
        resp = await client.post("/webhooks/zendesk", data=body, headers=zendesk_headers(body, ts))
        assert resp.status == 503

    async def test_ping_is_put_on_the_topic(self, client: TestClient, batcher: FakeBatcher) -> None:  # type: ignore[type-arg]
        body = orjson.dumps(
            {
                "type": "notification_event",
                "topic": "ping",
                "app_id": "a",
                "data": {"item": {"type": "ping"}},
            }
        )
        resp = await client.post("/webhooks/intercom", data=body, headers=intercom_headers(body))
        assert resp.status == 200 and batcher.envelopes[0].key == "intercom_app:a"


class TestPipelinesEndpoints:
    """The /v1 API answers in its own shape, accepts gzip and splits batches."""

    async def test_identify(self, client: TestClient, batcher: FakeBatcher) -> None:  # type: ignore[type-arg]
        resp = await client.post(
            "/v1/identify", data=orjson.dumps({"userId": "u"}), headers=basic()
        )
        assert resp.status == 200 and await resp.json() == {"success": True}
        assert batcher.envelopes[0].source == "pipelines"

    async def test_gzip_batch(self, client: TestClient, batcher: FakeBatcher) -> None:  # type: ignore[type-arg]
        doc = {"batch": [{"type": "track", "userId": str(i), "event": "E"} for i in range(50)]}
        resp = await client.post(
            "/v1/batch",
            data=gzip.compress(orjson.dumps(doc)),
            headers={**basic(), "Content-Encoding": "gzip"},
        )
        assert resp.status == 200
        assert sorted(int(e.key.split(":")[1]) for e in batcher.envelopes) == list(range(50))

    async def test_bad_gzip_400(self, client: TestClient) -> None:  # type: ignore[type-arg]
        resp = await client.post(
            "/v1/batch",
            data=b"not gzip",
            headers={**basic(), "Content-Encoding": "gzip", "Connection": "close"},
        )
        assert resp.status == 400
        assert (await resp.json())["code"] == "bad_encoding"

    async def test_bad_write_key_401(self, client: TestClient) -> None:  # type: ignore[type-arg]
        resp = await client.post("/v1/track", data=b"{}", headers=basic("nope"))
        assert resp.status == 401
        doc = await resp.json()
        assert doc["success"] is False and doc["code"] == "unauthorized" and doc["message"]

    async def test_oversized_call_is_400(self, client: TestClient) -> None:  # type: ignore[type-arg]
        body = orjson.dumps({"userId": "u", "traits": {"x": "y" * 40_000}})
        resp = await client.post("/v1/identify", data=body, headers=basic())
        assert resp.status == 400 and (await resp.json())["code"] == "too_large"

    async def test_broker_down_503(self, client: TestClient, batcher: FakeBatcher) -> None:  # type: ignore[type-arg]
        batcher.down = True
        resp = await client.post("/v1/identify", data=b'{"userId":"u"}', headers=basic())
        assert resp.status == 503 and (await resp.json())["success"] is False


class TestRecordLimit:
    """A body that passed the cap but whose envelope would not fit a record is a 413, not 503."""

    async def test_webhook_envelope_over_record_limit(self) -> None:
        small = FakeBatcher(max_record_bytes=64 * 1024)
        async with TestClient(TestServer(build_app(small, max_body_bytes=256 * 1024))) as c:
            body = orjson.dumps({"event_id": "big", "requester": {"email": "big@example.com"},
                                 "ticket": {"id": "1", "subject": "s" * 100_000}})
            ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            resp = await c.post(
                "/webhooks/zendesk", data=body, headers=zendesk_headers(body, ts)
            )
            assert resp.status == 413 and (await resp.json())["error"] == "too_large"
        assert small.envelopes == []

    async def test_batch_is_all_or_nothing(self) -> None:
        small = FakeBatcher(max_record_bytes=64 * 1024)
        async with TestClient(TestServer(build_app(small))) as c:
            batch = [{"type": "track", "event": "E", "userId": "u1"}] * 3
            batch.append({"type": "identify", "userId": "x" * 70_000})
            resp = await c.post("/v1/batch", data=orjson.dumps({"batch": batch}),
                                headers=basic())
            assert resp.status == 400 and (await resp.json())["code"] == "too_large"
        assert small.envelopes == []
