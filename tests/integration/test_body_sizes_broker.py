"""Body sizes through a real worker and broker: what is accepted is written, the rest is 413."""

from __future__ import annotations

import asyncio
import base64
import http.client
from collections.abc import Iterator

import orjson
import pytest

from app.testing import WorkerProcess
from contracts.records import RawEnvelope
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import ZENDESK_SECRET, post, zendesk_headers
from tests.integration.test_ingress_support import read_raw

pytestmark = pytest.mark.broker

WRITE_KEY = "sizes-write-key"
MAX_BODY = 1024 * 1024 - 16 * 1024  # the default cap (SUPPORTSYNC_MAX_BODY_BYTES)


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker) -> Iterator[WorkerProcess]:
    env = {
        "SUPPORTSYNC_PIPELINES_WRITE_KEY": WRITE_KEY,
        "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET,
        "SUPPORTSYNC_SINKS": "",
    }
    with WorkerProcess(broker.bootstrap_servers, env=env) as proc:
        proc.wait_healthy(timeout=60)
        yield proc


def quote_heavy(tag: str, size: int) -> bytes:
    """A Zendesk-shaped body of exactly `size` bytes, nearly all of it escaped quotes."""
    head = {"supportsync": "zendesk-trigger/v1", "event_id": tag,
            "requester": {"email": f"{tag}@example.com"}, "ticket": {"id": tag, "subject": ""}}
    empty = len(orjson.dumps(head))
    head["ticket"]["subject"] = '"' * ((size - empty) // 2)  # each quote is written \\"
    body = orjson.dumps(head)
    return body + b" " * (size - len(body))


def _auth() -> dict[str, str]:
    token = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


class TestWebhookBodySizes:
    """Every body up to the cap is written verbatim; one past it is 413 up front."""

    @pytest.mark.parametrize("size", [800 * 1024, MAX_BODY])
    def test_quote_heavy_body_at_the_cap(
        self, worker: WorkerProcess, broker: EmbeddedBroker, size: int
    ) -> None:
        tag = f"quotes{size}"
        body = quote_heavy(tag, size)
        status, answer = post(worker.url("/webhooks/zendesk"), body, zendesk_headers(body))
        assert (status, answer) == (200, {"status": "accepted"})
        [envelope] = asyncio.run(read_raw(
            broker.bootstrap_servers, f"{worker.prefix}raw.zendesk", expect=1,
            matching=lambda e: e.key == f"email:{tag}@example.com",
        ))
        assert envelope.body == body

    def test_one_mib_is_413_not_503(self, worker: WorkerProcess) -> None:
        body = quote_heavy("mib", 1024 * 1024)
        # Headers first, then the answer: the server refuses by Content-Length and closes
        # the connection rather than read a body it will not use.
        conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=20)
        conn.putrequest("POST", "/webhooks/zendesk")
        for name, value in {**zendesk_headers(body), "Content-Length": str(len(body))}.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413 and orjson.loads(response.read())["error"] == "too_large"
        conn.close()


class TestBatchSizes:
    """A /v1/batch is written whole however its context and escaping weigh."""

    def test_large_context_is_not_copied_per_message(
        self, worker: WorkerProcess, broker: EmbeddedBroker
    ) -> None:
        context = {"blob": "x" * 30_000}
        # One person: every message goes to the same partition, so into the same records.
        batch = [{"type": "track", "event": "E", "userId": "ctx-user", "messageId": f"ctx-{i}"}
                 for i in range(60)]
        body = orjson.dumps({"batch": batch, "context": context})
        status, answer = post(worker.url("/v1/batch"), body, _auth())
        assert (status, answer) == (200, {"success": True})
        found = asyncio.run(read_raw(
            broker.bootstrap_servers, f"{worker.prefix}raw.pipelines", expect=60,
            matching=lambda e: e.key == "external_id:ctx-user",
        ))
        assert len(found) == 60
        assert all(orjson.loads(e.defaults)["context"] == context for e in found)

    def test_quote_heavy_batch_at_the_cap(
        self, worker: WorkerProcess, broker: EmbeddedBroker
    ) -> None:
        text = '"' * 14_000  # ~28 KB escaped per message, 17 messages: ~480 KB
        batch = [{"type": "track", "event": "Q", "userId": f"q-{i}", "messageId": f"q-{i}",
                  "properties": {"text": text}} for i in range(17)]
        body = orjson.dumps({"batch": batch})
        assert 450_000 < len(body) < 500 * 1024
        status, answer = post(worker.url("/v1/batch"), body, _auth())
        assert (status, answer) == (200, {"success": True})

        def mine(e: RawEnvelope) -> bool:
            return e.key.startswith("external_id:q-")

        found = asyncio.run(read_raw(
            broker.bootstrap_servers, f"{worker.prefix}raw.pipelines", expect=17, matching=mine
        ))
        assert sorted(orjson.loads(e.body)["messageId"] for e in found) == sorted(
            f"q-{i}" for i in range(17)
        )
