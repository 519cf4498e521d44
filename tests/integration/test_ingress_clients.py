"""The official Segment-spec clients and signed webhooks through a real worker and broker."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from customerio.analytics import Client as CioClient
from segment.analytics import Client as SegmentClient

from app.testing import WorkerProcess
from contracts.records import RawEnvelope
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import post
from tests.integration.test_ingress_support import read_raw

pytestmark = pytest.mark.broker

WRITE_KEY = "pipelines-write-key"
INTERCOM_SECRET = "intercom-client-secret"
CIO_SIGNING_KEY = "cio-signing-key"


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker) -> Iterator[WorkerProcess]:
    env = {
        "SUPPORTSYNC_PIPELINES_WRITE_KEY": WRITE_KEY,
        "SUPPORTSYNC_INTERCOM_CLIENT_SECRET": INTERCOM_SECRET,
        "SUPPORTSYNC_CUSTOMERIO_WEBHOOK_SIGNING_KEY": CIO_SIGNING_KEY,
    }
    with WorkerProcess(broker.bootstrap_servers, env=env) as proc:
        proc.wait_healthy(timeout=60)
        yield proc


def _drive(client: Any, tag: str) -> list[Any]:
    errors: list[Any] = []
    client.on_error = lambda error, batch: errors.append(error)
    client.identify(f"{tag}-u1", {"email": f"{tag}@example.com", "plan": "pro"})
    client.track(f"{tag}-u1", "Ticket Created", {"subject": "Help"})
    client.group(f"{tag}-u1", f"{tag}-org", {"name": "Acme"})
    client.track(anonymous_id=f"{tag}-anon", event="Viewed Pricing")
    client.flush()
    client.join()
    return errors


def _pipelines(worker: WorkerProcess, broker: EmbeddedBroker, tag: str) -> list[dict[str, Any]]:
    def mine(envelope: RawEnvelope) -> bool:
        doc = orjson.loads(envelope.body)
        return str(doc.get("userId") or doc.get("anonymousId")).startswith(tag)

    topic = f"{worker.prefix}raw.pipelines"
    found = asyncio.run(read_raw(broker.bootstrap_servers, topic, expect=4, matching=mine))
    return [orjson.loads(e.body) for e in found]


class TestOfficialClients:
    """Unmodified clients, pointed at our host, land their batches on raw.pipelines."""

    @pytest.mark.parametrize("gzip", [False, True])
    def test_segment_client(
        self, worker: WorkerProcess, broker: EmbeddedBroker, gzip: bool
    ) -> None:
        tag = f"seg{int(gzip)}"
        client = SegmentClient(WRITE_KEY, host=worker.url(""), gzip=gzip, max_retries=1)
        assert _drive(client, tag) == []
        docs = _pipelines(worker, broker, tag)
        assert sorted(d["type"] for d in docs) == ["group", "identify", "track", "track"]
        assert all("writeKey" not in d and d["messageId"] for d in docs)
        track = next(d for d in docs if d.get("event") == "Ticket Created")
        assert track["properties"] == {"subject": "Help"}

    def test_customerio_cdp_client(self, worker: WorkerProcess, broker: EmbeddedBroker) -> None:
        client = CioClient(WRITE_KEY, host=worker.url(""), max_retries=1)
        assert _drive(client, "cio") == []
        docs = _pipelines(worker, broker, "cio")
        assert sorted(d["type"] for d in docs) == ["group", "identify", "track", "track"]
        identify = next(d for d in docs if d["type"] == "identify")
        assert identify["traits"]["email"] == "cio@example.com"

    def test_wrong_write_key_is_refused(self, worker: WorkerProcess) -> None:
        errors: list[Any] = []
        client = SegmentClient(
            "wrong",
            host=worker.url(""),
            max_retries=0,
            on_error=lambda error, batch: errors.append(error),
        )
        client.track("x", "E")
        client.flush()
        client.join()
        assert errors and getattr(errors[0], "status", None) == 401


class TestSignedWebhooks:
    """Intercom and Customer.io webhooks are acknowledged onto their raw topics."""

    def test_intercom_and_customerio(self, worker: WorkerProcess, broker: EmbeddedBroker) -> None:
        ic = orjson.dumps(
            {
                "type": "notification_event",
                "id": "notif_it",
                "topic": "contact.user.created",
                "data": {"item": {"type": "contact", "id": "c-it"}},
            }
        )
        sig = hmac.new(INTERCOM_SECRET.encode(), ic, hashlib.sha1).hexdigest()
        status, _ = post(worker.url("/webhooks/intercom"), ic, {"X-Hub-Signature": f"sha1={sig}"})
        assert status == 200
        cio = orjson.dumps(
            {
                "event_id": "e-it",
                "metric": "opened",
                "object_type": "email",
                "data": {"identifiers": {"id": "u-it"}},
            }
        )
        ts = str(int(time.time()))
        mac = hmac.new(CIO_SIGNING_KEY.encode(), f"v0:{ts}:".encode() + cio, hashlib.sha256)
        status, _ = post(
            worker.url("/webhooks/customerio"),
            cio,
            {"X-CIO-Signature": mac.hexdigest(), "X-CIO-Timestamp": ts},
        )
        assert status == 200
        for topic, body in (("raw.intercom", ic), ("raw.customerio", cio)):
            [env] = asyncio.run(
                read_raw(broker.bootstrap_servers, f"{worker.prefix}{topic}", expect=1, wait_s=8)
            )
            assert env.body == body
